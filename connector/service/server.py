"""uvicorn for ``smtpauth serve``: SIGTERM/SIGINT stop the server and return, so the jobs can be shut down.

uvicorn re-raises a captured signal after its own shutdown, which would end the process before the running jobs
were given their grace time or marked interrupted; this server only records it. Once its socket is bound it hands
the URL it listens on (the real port, also for port 0) to ``on_listening``.
"""

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator

import uvicorn

__all__ = ["ServiceServer", "listening_url"]


def listening_url(host: str, port: int) -> str:
    """The URL a browser opens for ``host:port`` (a wildcard address is reached on loopback)."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - naming the wildcard, not binding it
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


class ServiceServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_listening: Callable[[str], None] | None = None) -> None:
        super().__init__(config)
        self._on_listening = on_listening
        self.url: str | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        port = self.config.port
        for server in getattr(self, "servers", []):
            for sock in server.sockets or ():
                port = sock.getsockname()[1]
                break
        self.url = listening_url(self.config.host, port)
        if self._on_listening is not None:
            self._on_listening(self.url)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)
