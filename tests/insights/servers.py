"""A tiny SMTP server and a webhook receiver on 127.0.0.1, each in a thread, recording what they received."""

import http.server
import json
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Inbox:
    messages: list[str] = field(default_factory=list)
    posts: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Enough of RFC 5321 for smtplib: EHLO, MAIL, RCPT, DATA, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        inbox: Inbox = self.server.inbox  # type: ignore[attr-defined]
        self._say("220 test ESMTP")
        while raw := self.rfile.readline():
            cmd = raw.decode().strip().upper()
            if cmd.startswith(("EHLO", "HELO")):
                self._say("250 test")
            elif cmd.startswith(("MAIL", "RCPT", "RSET", "NOOP")):
                self._say("250 ok")
            elif cmd == "DATA":
                self._say("354 go ahead")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line.decode())
                inbox.messages.append("".join(lines))
                self._say("250 queued")
            elif cmd == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextmanager
def smtp_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    server = _Server(("127.0.0.1", 0), _SmtpHandler)
    server.inbox = inbox  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], inbox
    finally:
        server.shutdown()
        server.server_close()


class _HookHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        inbox: Inbox = self.server.inbox  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(inbox.delay)
        inbox.posts.append(json.loads(body))
        self.send_response(inbox.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def webhook_server() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HookHandler)
    server.daemon_threads = True
    server.inbox = inbox  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], inbox
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port
