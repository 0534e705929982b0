"""The FastAPI application of ``smtpauth serve``, built by :func:`create_app` (nothing happens at import time).

Every ``/api`` route, the OpenAPI document included, needs a bearer token. The dashboard's page and its assets
(no data in them) are public: the page asks for the token and sends it as a bearer header. Responses carry a
Content-Security-Policy that allows only this origin's own scripts and styles.
"""

from importlib import resources
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.config import Settings
from connector.service.auth import Authorized, TokenVerifier
from connector.service.executor import Executor
from connector.service.inputs import TenantDirectory
from connector.service.readcache import ReadCache
from connector.service.routes_data import router as data_router
from connector.service.routes_ops import router as ops_router
from connector.service.routes_reports import router as reports_router
from connector.service.routes_searches import UPLOAD_PREFIX
from connector.service.routes_searches import router as searches_router
from connector.service.routes_tenants import router as tenants_router
from connector.service.warm import CacheWarmer
from connector.store.store import Store

__all__ = ["CSP", "create_app"]

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: dashboard assets: URL name → (package folder, file, content type); nothing else is served
ASSETS = {
    "dashboard.js": ("connector.service", "web/dashboard.js", "text/javascript; charset=utf-8"),
    "dashboard.css": ("connector.service", "web/dashboard.css", "text/css; charset=utf-8"),
    "searches.js": ("connector.service", "web/searches.js", "text/javascript; charset=utf-8"),
    "chart.umd.min.js": ("connector.artifacts", "vendor/chart.umd.min.js", "text/javascript; charset=utf-8"),
}


class BodyLimit:
    """413 for a request body above ``max_bytes``, declared by Content-Length or streamed (chunked): the body is
    read here, at most ``max_bytes`` + 1 bytes, before the application parses any of it. Paths under
    ``exempt_prefix`` (file uploads) enforce their own, larger limit while they stream."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt_prefix: str | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt_prefix = exempt_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.exempt_prefix and scope["path"].startswith(self.exempt_prefix)):
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)  # the client went away
                return
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(chunks, None, receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": {"error": f"request body larger than service.max_body_bytes = {self.max_bytes}"}},
            status_code=413,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(chunks: list[bytes], last: Message | None, receive: Receive) -> Receive:
    """A receive that hands the application the body read already, then the real receive (disconnects)."""
    pending: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
    if last is not None:
        pending = [last]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


class TokenGate:
    """401 for an ``/api/`` request without an accepted bearer token, before anything reads its body (a garbage
    body without a token is a 401, never a 400). The routes check the token too."""

    def __init__(self, app: ASGIApp, verifier: TokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/"):
            header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip() or not self.verifier.verify(token.strip()):
                response = JSONResponse(
                    {"detail": "missing or invalid API token: send Authorization: Bearer <token>"},
                    status_code=status.HTTP_401_UNAUTHORIZED,
                    headers={"WWW-Authenticate": "Bearer"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                if scope["path"].startswith("/api/") and not any(k == b"cache-control" for k, _ in headers):
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _asset(package: str, name: str) -> bytes:
    return resources.files(package).joinpath(name).read_bytes()


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [{"msg": str(exc)}]
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("query", "body", "path")]
    param = ".".join(loc) or None
    return JSONResponse(
        {"detail": {"error": f"{param + ': ' if param else ''}{first.get('msg', 'invalid request')}", "param": param}},
        status_code=status.HTTP_400_BAD_REQUEST,
    )


def create_app(settings: Settings, store: Store, runner: Executor, verifier: TokenVerifier) -> FastAPI:
    """The application; the caller owns ``store`` and ``runner`` (starts and stops them)."""
    app = FastAPI(
        title="smtpauth",
        summary="Microsoft 365 SMTP AUTH usage: sync status, report jobs and report tables",
        version="1",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.tenants = TenantDirectory(settings, store)
    app.state.store = store
    app.state.runner = runner
    app.state.verifier = verifier
    service = settings.service
    app.state.read_cache = ReadCache(store, service.read_cache_mb * 1024 * 1024, service.read_concurrency)
    app.state.cache_warmer = warmer = CacheWarmer(app.state.read_cache, store, app.state.tenants.settings, runner.clock)
    listeners = getattr(runner, "synced_listeners", None)  # syncs of this process (not the queue's workers)
    if isinstance(listeners, list) and warmer.enabled:
        listeners.append(warmer.request)
    app.include_router(ops_router)
    app.include_router(reports_router)
    app.include_router(data_router)
    app.include_router(searches_router)
    app.include_router(tenants_router)
    app.add_exception_handler(RequestValidationError, _validation_error)

    @app.get("/api/v1/openapi.json", include_in_schema=False)
    def openapi(_: Authorized) -> dict[str, Any]:
        return app.openapi()

    @app.get("/", include_in_schema=False)
    def dashboard() -> Response:
        return Response(_asset("connector.service", "web/dashboard.html"), media_type="text/html; charset=utf-8")

    @app.get("/assets/{name}", include_in_schema=False)
    def asset(name: str) -> Response:
        found = ASSETS.get(name)
        if found is None:
            return JSONResponse({"detail": {"error": "not found"}}, status_code=status.HTTP_404_NOT_FOUND)
        package, path, media = found
        return Response(_asset(package, path), media_type=media, headers={"Cache-Control": "no-cache"})

    # outermost last: security headers, then the token, then the body limit, then the routes
    app.add_middleware(BodyLimit, max_bytes=settings.service.max_body_bytes, exempt_prefix=UPLOAD_PREFIX)
    app.add_middleware(TokenGate, verifier=verifier)
    app.add_middleware(SecurityHeaders)
    return app
