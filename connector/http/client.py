"""The one way to call Microsoft Graph and the Exchange admin API.

:func:`build_http_client` makes the ``httpx.Client`` (timeouts, TLS, no automatic redirects);
:class:`GraphClient` adds, on every call, the bearer token (renewed once on 401), pacing per API family,
retries with ``Retry-After``, error mapping and redacted logging.
"""

import logging
import random
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar

import certifi
import httpx

import connector.auth
from connector import jsonio
from connector.clock import Clock
from connector.config import HttpSettings, TenantSettings
from connector.errors import (
    ConfigError,
    DownloadError,
    ExpiredLinkError,
    GraphError,
    RetryableError,
    ThrottledError,
    TransportError,
)
from connector.http.download import DownloadResult, fetch_download, reset_dest
from connector.http.families import EXCHANGE
from connector.http.paging import NextLinkPaginator, Page
from connector.http.ratelimit import RateLimiter
from connector.http.redact import origin_of, redact_text, redact_url, register_api_origin
from connector.http.responses import body_size_mismatch, error_for_response, request_id_of
from connector.http.retry import ClientStats, RetryPolicy

if TYPE_CHECKING:
    # connector.auth imports the redaction module of this package: keep the import one-way at run time
    from connector.auth import TokenProvider

__all__ = ["GraphClient", "GraphResponse", "build_http_client", "exchange_anchor_mailbox", "user_agent"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: headers the ExchangeOnlineManagement module sends to InvokeCommand (API notes section 9)
EXCHANGE_HEADERS = {"Prefer": "odata.maxpagesize=1000", "X-ResponseFormat": "json"}
#: the system mailbox app-only Exchange admin calls are anchored to (API notes section 4)
_EXCHANGE_SYSTEM_MAILBOX = "SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}"


def user_agent() -> str:
    try:
        return f"smtpauth/{version('smtpauth')}"
    except PackageNotFoundError:
        return "smtpauth"


def _ssl_context(tenant: TenantSettings) -> ssl.SSLContext:
    bundle: Path | None = tenant.ca_bundle
    try:
        if bundle is not None:
            # the bundle replaces the default trust store: a TLS-inspecting proxy or the simulator, nothing
            # else
            return ssl.create_default_context(cafile=str(bundle.expanduser()))
        return ssl.create_default_context(cafile=certifi.where())
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot load the CA bundle {bundle} ({exc.__class__.__name__}): point it at a PEM file of CA certificates",
            key=f"tenants.{tenant.name}.ca_bundle",
        ) from None


def build_http_client(
    tenant: TenantSettings, settings: HttpSettings, *, transport: httpx.BaseTransport | None = None
) -> httpx.Client:
    """The ``httpx.Client`` for one tenant (Graph, Exchange, MSAL and downloads all use it).

    TLS is always verified, against ``tenant.ca_bundle`` when set, else certifi's store. Redirects are never
    followed automatically: a report's 302 goes to a download host that must not see the token. ``transport``
    is for the in-process simulator and tests. Raises ConfigError when the CA bundle cannot be loaded.
    """
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout_seconds),
        verify=_ssl_context(tenant) if transport is None else True,
        follow_redirects=False,
        headers={"User-Agent": user_agent()},
        transport=transport,
    )


def exchange_anchor_mailbox(tenant: TenantSettings) -> str:
    """``APP:SystemMailbox{...}@<primary_domain>`` for app-only Exchange admin calls; without a domain the tenant
    id (a domain or the directory GUID), as production tools send it (API notes section 9)."""
    return f"APP:{_EXCHANGE_SYSTEM_MAILBOX}@{tenant.primary_domain or tenant.tenant_id}"


@dataclass(frozen=True, slots=True)
class GraphResponse:
    """A successful JSON response."""

    json: Any
    request_id: str | None
    headers: httpx.Headers
    status: int
    #: the request URL, redacted (safe to log)
    url: str


def _join(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}"


class GraphClient:
    """Graph and Exchange admin calls for one tenant.

    ``graph_base`` is the Graph endpoint (``https://graph.microsoft.com``); relative paths carry the version
    (``v1.0/auditLogs/signIns``). Tokens go only to the Graph origin (and, with the Exchange scope, to the
    Exchange origin). Every method raises the :mod:`connector.errors` tree: AuthError when no token can be
    had, a GraphError subclass otherwise (see :func:`connector.http.responses.error_for_response`).
    """

    def __init__(
        self,
        tenant_name: str,
        graph_base: str,
        tokens: "TokenProvider",
        scope: str,
        http: httpx.Client,
        *,
        limiter: RateLimiter,
        policy: RetryPolicy,
        clock: Clock,
        exchange_base: str | None = None,
        exchange_scope: str | None = None,
        anchor_mailbox: str | None = None,
        tenant_id: str | None = None,
        stats: ClientStats | None = None,
        max_link_requests: int = 3,
        chunk_size: int = 64 * 1024,
    ) -> None:
        self.tenant_name = tenant_name
        self.stats = stats or ClientStats()
        self._graph_base = graph_base.rstrip("/")
        self._graph_origin = origin_of(graph_base)
        if not self._graph_origin:
            raise ConfigError(f"graph endpoint {graph_base!r} is not an absolute URL", key="graph_endpoint")
        self._tokens = tokens
        self._scope = scope
        self._http = http
        self._limiter = limiter
        self._policy = policy
        self._clock = clock
        self._exchange_base = exchange_base.rstrip("/") if exchange_base else None
        self._exchange_scope = exchange_scope
        self._anchor = anchor_mailbox
        self._tenant_id = tenant_id
        self._max_link_requests = max_link_requests
        self._chunk_size = chunk_size
        register_api_origin(graph_base)
        if exchange_base:
            register_api_origin(exchange_base)

    @classmethod
    def for_tenant(
        cls,
        tenant: TenantSettings,
        tokens: "TokenProvider",
        http: httpx.Client,
        *,
        settings: HttpSettings,
        limiter: RateLimiter,
        clock: Clock,
        rng: random.Random | None = None,
    ) -> "GraphClient":
        """A client wired from the tenant's settings (its cloud's hosts, or their overrides)."""
        graph = tenant.effective_graph_endpoint
        exchange = tenant.effective_exchange_endpoint
        return cls(
            tenant.name,
            graph,
            tokens,
            connector.auth.graph_scope(graph),
            http,
            limiter=limiter,
            policy=RetryPolicy.from_settings(settings, rng=rng),
            clock=clock,
            exchange_base=exchange,
            exchange_scope=connector.auth.exchange_scope(exchange),
            anchor_mailbox=exchange_anchor_mailbox(tenant),
            tenant_id=tenant.tenant_id,
        )

    # ---- public calls
    # -------------------------------------------------------------------------------------------

    def get_json(
        self,
        url_or_path: str,
        *,
        params: Mapping[str, str] | None = None,
        family: str,
        headers: Mapping[str, str] | None = None,
    ) -> GraphResponse:
        """GET one JSON document. Raises GraphError (and subclasses), AuthError."""
        url = self._resolve(url_or_path)
        return self._call("GET", url, params=params, family=family, headers=headers, handle=self._json_response)

    def iter_pages(
        self,
        url_or_path: str,
        *,
        params: Mapping[str, str] | None = None,
        family: str,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[Page]:
        """Every page of an OData collection, following ``@odata.nextLink`` exactly as given (with the same
        ``headers`` on every page).

        Raises ExpiredLinkError when a skiptoken expired mid-way (restart the time slice), PagingLoopError,
        GraphError for a nextLink to another origin, and the errors of :meth:`get_json`.
        """
        url = self._resolve(url_or_path)
        yield from self._pages("GET", url, params=params, family=family, headers=headers)

    def invoke_command(
        self, cmdlet: str, parameters: Mapping[str, Any] | None = None, *, idempotent: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Run an Exchange Online cmdlet through the admin REST endpoint and yield its result objects.

        Pages are followed with the same POST body, as the ExchangeOnlineManagement module does. A cmdlet that
        changes state (``Start-HistoricalSearch``) must pass ``idempotent=False``: it is then retried only on
        429, when the request is known not to have run. Raises ConfigError when the Exchange endpoint is not
        set up, and the errors of :meth:`get_json`.
        """
        if not (self._exchange_base and self._exchange_scope and self._tenant_id):
            raise ConfigError(
                "the Exchange admin API needs exchange_base, exchange_scope and tenant_id",
                key="exchange_admin",
            )
        url = f"{self._exchange_base}/adminapi/beta/{self._tenant_id}/InvokeCommand"
        body = {"CmdletInput": {"CmdletName": cmdlet, "Parameters": dict(parameters or {})}}
        headers = {"X-AnchorMailbox": self._anchor, **EXCHANGE_HEADERS} if self._anchor else dict(EXCHANGE_HEADERS)
        for page in self._pages(
            "POST",
            url,
            family=EXCHANGE,
            json_body=body,
            headers=headers,
            scope=self._exchange_scope,
            origin=origin_of(self._exchange_base),
            idempotent=idempotent,
        ):
            yield from page.value

    def download_report(
        self, url_or_path: str, *, family: str, dest: BinaryIO, etag: str | None = None
    ) -> DownloadResult:
        """Request a usage report (expects 302), then stream the pre-authenticated download into ``dest``.

        ``dest`` must be seekable; the body is written from its current position, and on any error it is
        truncated back to that position. With ``etag`` a 304 returns ``not_modified=True`` and leaves ``dest``
        alone. A stale download link (403/404 on the download host) makes the report be requested again, up to
        ``max_link_requests`` times. Raises ExpiredLinkError when every link was stale, DownloadError for a
        missing or unusable ``Location``, TransportError when the body stayed incomplete, and the errors of
        :meth:`get_json`.
        """
        url = self._resolve(url_or_path)
        start = dest.tell()
        try:
            return self._download(url, family=family, dest=dest, start=start, etag=etag)
        except BaseException:
            # never leave a partial body behind, whatever went wrong
            reset_dest(dest, start)
            raise

    def download_file(self, url: str, *, family: str, dest: BinaryIO) -> int:
        """Stream a file URL (a historical search's ``FileUrl``) into ``dest``; return its size.

        The URL is fetched without any token or cookie, never logged unredacted, and must be https (or the scheme
        of the API it came from, for the simulator). ``dest`` is written from its current position and truncated
        back to it on any error. Pacing uses ``family``; transport errors, truncated bodies and 429/503/504 are
        retried, except a 503 "server busy". Raises BrowserSessionRequired when the host wants a signed-in admin
        (401, a redirect, an HTML page: API notes section 9), FileBusyError for a 503 "server busy" (the file was
        downloaded too often), ExpiredLinkError when the host refuses the link (403/404/410), TransportError when
        the body stayed incomplete, DownloadError otherwise.
        """
        scheme = httpx.URL(url).scheme
        allowed = {"https", httpx.URL(self._exchange_base or self._graph_base).scheme}
        if scheme not in allowed:
            raise DownloadError("the file link is not https", url=redact_url(url))
        start = dest.tell()

        def fetch() -> tuple[int, httpx.Headers]:
            paced = self._limiter.acquire(self.tenant_name, family)
            self.stats.add(requests=1, paced_seconds=paced)
            return fetch_download(
                self._http, url, dest, start, clock=self._clock, chunk_size=self._chunk_size, file_host=True
            )

        try:
            size, _headers = self._policy.call(
                fetch, clock=self._clock, stats=self.stats, what=f"download {redact_url(url)}"
            )
        except BaseException:
            reset_dest(dest, start)
            raise
        return size

    def _download(self, url: str, *, family: str, dest: BinaryIO, start: int, etag: str | None) -> DownloadResult:
        headers = {"If-None-Match": etag} if etag else {}
        for attempt in range(1, self._max_link_requests + 1):
            response = self._call(
                "GET", url, family=family, headers=headers, accept=(200, 302, 304), handle=lambda r: r
            )
            request_id = request_id_of(response)
            if response.status_code == 304:
                return DownloadResult(True, 0, etag, request_id, None, attempt)
            if response.status_code == 200:
                # some endpoints answer with the body directly instead of a redirect
                reset_dest(dest, start)
                dest.write(response.content)
                dest.flush()
                return DownloadResult(
                    False,
                    len(response.content),
                    response.headers.get("etag"),
                    request_id,
                    response.headers.get("content-type"),
                    attempt,
                )
            location = self._download_location(response)

            def fetch(loc: str = location) -> tuple[int, httpx.Headers]:
                return fetch_download(self._http, loc, dest, start, clock=self._clock, chunk_size=self._chunk_size)

            try:
                size, dl_headers = self._policy.call(
                    fetch, clock=self._clock, stats=self.stats, what=f"download {redact_url(location)}"
                )
            except ExpiredLinkError:
                log.warning(
                    "tenant %s: report download link expired (request %d of %d); requesting it again",
                    self.tenant_name,
                    attempt,
                    self._max_link_requests,
                )
                continue
            tag = dl_headers.get("etag") or response.headers.get("etag")
            return DownloadResult(False, size, tag, request_id, dl_headers.get("content-type"), attempt)
        raise ExpiredLinkError(
            f"the report download link expired {self._max_link_requests} times in a row", url=redact_url(url)
        )

    # ---- plumbing
    # -----------------------------------------------------------------------------------------------

    def _resolve(self, url_or_path: str) -> str:
        if "://" not in url_or_path:
            return _join(self._graph_base, url_or_path)
        if origin_of(url_or_path) != self._graph_origin:
            raise GraphError(
                "refusing to send the Graph token to another origin "
                f"({origin_of(url_or_path) or 'not an absolute URL'})",
                url=redact_url(url_or_path),
            )
        return url_or_path

    def _download_location(self, response: httpx.Response) -> str:
        location = response.headers.get("location")
        if not location:
            raise DownloadError(
                "the report request answered 302 without a Location header",
                status=response.status_code,
                request_id=request_id_of(response),
                url=redact_url(str(response.url)),
            )
        absolute = str(response.url.join(location))
        if httpx.URL(absolute).scheme != "https" and httpx.URL(absolute).scheme != response.url.scheme:
            raise DownloadError("the report download link is not https", url=redact_url(absolute))
        return absolute

    def _json_response(self, response: httpx.Response) -> GraphResponse:
        try:
            body = jsonio.loads(response.content) if response.content else None
        except (ValueError, UnicodeDecodeError):
            # a 200 whose JSON does not parse was almost always cut short on the way: worth another attempt
            raise TransportError(
                "the response body is not valid JSON (cut short?)",
                status=response.status_code,
                request_id=request_id_of(response),
                url=redact_url(str(response.url)),
            ) from None
        return GraphResponse(
            body,
            request_id_of(response),
            response.headers,
            response.status_code,
            redact_url(str(response.url)),
        )

    def _pages(
        self,
        method: str,
        url: str,
        *,
        family: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        scope: str | None = None,
        origin: str | None = None,
        idempotent: bool = True,
    ) -> Iterator[Page]:
        pager = NextLinkPaginator(origin or self._graph_origin)
        pager.start(str(httpx.URL(url).copy_merge_params(params)) if params else url)
        current, current_params, index = url, params, 0
        while True:
            response = self._call(
                method,
                current,
                params=current_params,
                family=family,
                json_body=json_body,
                headers=headers,
                scope=scope,
                idempotent=idempotent,
                handle=self._json_response,
            )
            shown = response.url
            rows = pager.update(response.json, url=shown)
            yield Page(rows, index, response.request_id, shown, response.json)
            if not pager.has_next:
                return
            # the nextLink is used whole: its query already holds the filter and the skiptoken
            current, current_params, index = pager.next_url, None, index + 1

    def _call(
        self,
        method: str,
        url: str,
        *,
        family: str,
        handle: Callable[[httpx.Response], T],
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        scope: str | None = None,
        accept: tuple[int, ...] = (200, 201, 202, 204),
        idempotent: bool = True,
    ) -> T:
        """One logical request: pacing, token, one renewal on 401, retries, error mapping."""
        scope = scope or self._scope
        renewed = False

        def attempt() -> T:
            nonlocal renewed
            response = self._send(
                method, url, family=family, scope=scope, params=params, json_body=json_body, headers=headers
            )
            if response.status_code == 401 and not renewed:
                # the token expired or was revoked mid-run: drop it, get a new one, resend once (section 6)
                renewed = True
                self.stats.add(token_renewals=1)
                log.info("tenant %s: 401 from %s; renewing the token", self.tenant_name, redact_url(url))
                self._tokens.invalidate(scope)
                response = self._send(
                    method,
                    url,
                    family=family,
                    scope=scope,
                    params=params,
                    json_body=json_body,
                    headers=headers,
                )
            if response.status_code in accept:
                return handle(response)
            raise error_for_response(response, family=family, url=redact_url(str(response.url)), now=self._clock.now())

        def retryable(exc: BaseException) -> bool:
            if idempotent:
                return isinstance(exc, RetryableError)
            return isinstance(exc, ThrottledError) and exc.status == 429

        return self._policy.call(
            attempt,
            clock=self._clock,
            stats=self.stats,
            what=f"tenant {self.tenant_name}: {method} {redact_url(url)}",
            retryable=retryable,
        )

    def _send(
        self,
        method: str,
        url: str,
        *,
        family: str,
        scope: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        slot = self._limiter.reserve(self.tenant_name, family)
        self.stats.add(requests=1, paced_seconds=slot.waited)
        try:
            return self._send_paced(method, url, scope=scope, params=params, json_body=json_body, headers=headers)
        finally:
            slot.complete()

    def _send_paced(
        self,
        method: str,
        url: str,
        *,
        scope: str,
        params: Mapping[str, str] | None,
        json_body: Any,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        token = self._tokens.token(scope)
        request = self._http.build_request(
            method,
            url,
            params=params,
            json=json_body,
            headers={"Accept": "application/json", **(headers or {}), "Authorization": f"Bearer {token}"},
        )
        shown = redact_url(str(request.url))
        began = self._clock.monotonic()
        try:
            response = self._http.send(request, auth=None)
        except httpx.RequestError as exc:
            log.info("%s %s -> %s after %.2f s", method, shown, type(exc).__name__, self._clock.monotonic() - began)
            raise TransportError(f"{type(exc).__name__}: {redact_text(str(exc))}", url=shown) from None
        elapsed = self._clock.monotonic() - began
        log.debug(
            "%s %s -> %d request-id=%s %.2f s",
            method,
            shown,
            response.status_code,
            request_id_of(response),
            elapsed,
        )
        mismatch = body_size_mismatch(response, len(response.content))
        if 200 <= response.status_code < 300 and mismatch is not None:
            raise TransportError(
                f"the response was cut short: {mismatch[0]} of {mismatch[1]} bytes",
                status=response.status_code,
                request_id=request_id_of(response),
                url=shown,
            )
        return response
