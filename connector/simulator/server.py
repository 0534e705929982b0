"""The simulator over real HTTPS on loopback: one listening socket per role, a generated CA.

``SimulatorServer`` writes ``ca.pem`` (what a client puts in ``ca_bundle``), every app's secret (mode 600) or
certificate and key (key mode 600) into ``state_dir`` and offers a ready ``[[tenants]]`` TOML snippet. Request
lines are never logged: download URLs carry credentials.
"""

import contextlib
import logging
import os
import signal
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from connector.simulator.app import Simulator, SimulatorEndpoints, SimulatorSettings
from connector.simulator.certs import new_ca
from connector.simulator.directory import SimDirectory, SimTenant
from connector.simulator.messages import SimRequest

__all__ = ["SimulatorServer", "serve_forever"]

log = logging.getLogger(__name__)
_ROLES = ("login", "graph", "download", "exchange")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def setup(self) -> None:
        super().setup()
        conn = self.connection
        if isinstance(conn, ssl.SSLSocket):
            conn.settimeout(30)
            conn.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        request = SimRequest(
            method=self.command,
            url=self.server.base_url + self.path,
            headers=dict(self.headers.items()),
            body=body,
        )
        response = self.server.simulator.handle(request)
        if response.reset:
            # SO_LINGER 0: close sends a TCP RST, which clients see as "connection reset by peer"
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.close()
            return
        self.send_response(response.status)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(response.body)))
        if response.truncate_at is not None:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            end = response.truncate_at if response.truncate_at is not None else len(response.body)
            self.wfile.write(response.body[:end])
        if response.truncate_at is not None:
            self.close_connection = True

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = do_PATCH = _serve  # noqa: N815


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: Simulator, context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.simulator = simulator
        self.context = context
        self.base_url = ""

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        # headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm holds the last
        # segment back until the client's delayed ACK (tens of milliseconds per response)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the TLS handshake runs in the handler thread (see _Handler.setup), not in the accept loop
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("simulator connection from %s ended with an error", client_address, exc_info=True)


def _write(path: Path, text: str, *, private: bool) -> Path:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    if private:
        path.chmod(0o600)
    return path


class SimulatorServer:
    """Serves ``simulator`` over HTTPS on ``host`` (ports ``port_base``..``port_base+3``, or free ports with
    0).

    Use as a context manager; ``endpoints`` is valid once entered. The download role is served under the name
    ``localhost`` so its origin differs from Graph's even on the same address.
    """

    def __init__(self, simulator: Simulator, state_dir: Path, *, host: str = "127.0.0.1", port_base: int = 0):
        self.simulator = simulator
        self.state_dir = Path(state_dir)
        self.host = host
        self.port_base = port_base
        self._servers: list[_Server] = []
        self._threads: list[threading.Thread] = []
        self.endpoints: SimulatorEndpoints | None = None
        self.ca_path = self.state_dir / "ca.pem"
        self.credential_files: dict[tuple[str, str], dict[str, Path]] = {}

    def start(self) -> SimulatorEndpoints:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ca = new_ca()
        server_pair = ca.issue_server(("localhost", self.host, "127.0.0.1"))
        _write(self.ca_path, ca.pair.cert_pem, private=False)
        cert_file = _write(self.state_dir / "server.pem", server_pair.cert_pem, private=False)
        key_file = _write(self.state_dir / "server.key", server_pair.key_pem, private=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_file, key_file)
        urls: dict[str, str] = {}
        for offset, role in enumerate(_ROLES):
            port = self.port_base + offset if self.port_base else 0
            server = _Server((self.host, port), self.simulator, context)
            name = "localhost" if role == "download" else self.host
            server.base_url = f"https://{name}:{server.server_address[1]}"
            urls[role] = server.base_url
            self._servers.append(server)
        self.endpoints = SimulatorEndpoints(**urls)
        self.simulator.endpoints = self.endpoints
        for server in self._servers:
            t = threading.Thread(target=server.serve_forever, name=f"sim-{server.base_url}", daemon=True)
            t.start()
            self._threads.append(t)
        self._write_credentials()
        return self.endpoints

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for t in self._threads:
            t.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> "SimulatorServer":
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _write_credentials(self) -> None:
        for tenant in self.simulator.directory.tenants:
            for app in tenant.apps:
                files: dict[str, Path] = {}
                if app.secret is not None:
                    files["secret"] = _write(
                        self.state_dir / f"{tenant.name}-{app.name}.secret", app.secret + "\n", private=True
                    )
                if app.certificate is not None:
                    files["certificate"] = _write(
                        self.state_dir / f"{tenant.name}-{app.name}.pem",
                        app.certificate.cert_pem,
                        private=False,
                    )
                    files["private_key"] = _write(
                        self.state_dir / f"{tenant.name}-{app.name}.key",
                        app.certificate.key_pem,
                        private=True,
                    )
                self.credential_files[(tenant.name, app.name)] = files

    def config_snippet(self, apps: dict[str, str] | None = None) -> str:
        """``[[tenants]]`` tables for every simulated tenant. ``apps`` maps tenant name to the app to use
        (default: the first app that has every permission)."""
        if self.endpoints is None:
            raise RuntimeError("the server is not started")
        out = []
        for tenant in self.simulator.directory.tenants:
            app = tenant.app(apps[tenant.name]) if apps and tenant.name in apps else tenant.apps[0]
            out.append(self._tenant_toml(tenant, app.name))
        return "\n".join(out)

    def _tenant_toml(self, tenant: SimTenant, app_name: str) -> str:
        assert self.endpoints is not None  # noqa: S101 (checked by the caller)
        app = tenant.app(app_name)
        files = self.credential_files[(tenant.name, app_name)]
        lines = [
            "[[tenants]]",
            f'name = "{tenant.name}"',
            f'tenant_id = "{tenant.tenant_id}"',
            f'client_id = "{app.client_id}"',
            f'primary_domain = "{tenant.initial_domain}"',
            f'authority_host = "{self.endpoints.login}"',
            f'graph_endpoint = "{self.endpoints.graph}"',
            f'exchange_endpoint = "{self.endpoints.exchange}"',
            f'ca_bundle = "{self.ca_path.resolve()}"',
        ]
        if self.simulator.cloud != "global":
            lines.insert(4, f'cloud = "{self.simulator.cloud}"')
        if "secret" in files:
            lines.append(f'client_secret_file = "{files["secret"].resolve()}"')
        else:
            lines.append(f'certificate_path = "{files["certificate"].resolve()}"')
            lines.append(f'private_key_path = "{files["private_key"].resolve()}"')
        lines.append(f"exchange_admin = {'true' if app.exchange_role else 'false'}")
        return "\n".join(lines) + "\n"


def serve_forever(
    *,
    state_dir: Path,
    seed: int = 0,
    users: int = 200,
    port_base: int = 0,
    host: str = "127.0.0.1",
    settings: SimulatorSettings | None = None,
    out: Callable[[str], None] = print,
    stop: threading.Event | None = None,
) -> None:
    """Run the default simulated tenants over HTTPS until SIGINT/SIGTERM (or ``stop`` is set); print the
    configuration snippet to use them. Entry point of ``smtpauth simulate``."""
    simulator = Simulator(SimDirectory.default(seed=seed, users=users), settings=settings)
    stop = stop or threading.Event()

    def _signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, _signal)
    try:
        with SimulatorServer(simulator, state_dir, host=host, port_base=port_base) as server:
            out(f"# smtpauth simulator: {users} users per tenant, seed {seed}; state in {state_dir}")
            out(server.config_snippet())
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
