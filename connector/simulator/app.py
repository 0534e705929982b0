"""The simulator: routes a :class:`SimRequest` by origin (login, graph, download, exchange) and path.

Order of checks on Graph and Exchange requests, as the real services behave: bearer token (401), scripted
faults,
permission / licence (403), throttling (429), then the endpoint itself.
"""

import logging
import secrets
import threading
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connector.clock import Clock, SystemClock
from connector.simulator.directory import SimDirectory, SimTenant
from connector.simulator.entra import TokenGrant, TokenStore, handle_login
from connector.simulator.faults import Fault, FaultPlan
from connector.simulator.messages import SimRequest, SimResponse, graph_error, json_response
from connector.simulator.population import Population
from connector.simulator.throttle import Limit, Stats, ThrottleConfig, Throttler

__all__ = ["CLOUD_HOSTS", "Call", "Download", "Simulator", "SimulatorEndpoints", "SimulatorSettings"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SimulatorEndpoints:
    """Base URLs (scheme://host[:port], no trailing slash) of the four simulated services."""

    login: str
    graph: str
    download: str
    exchange: str

    @classmethod
    def in_process(cls) -> "SimulatorEndpoints":
        return cls(
            login="https://login.sim.test",
            graph="https://graph.sim.test",
            download="https://reports.sim.test",
            exchange="https://outlook.sim.test",
        )

    @classmethod
    def for_cloud(cls, cloud: str) -> "SimulatorEndpoints":
        """Microsoft's own host names of a cloud (in-process only: nothing resolves them to this machine).

        From Microsoft's national-cloud pages and the public tools that call them (API notes sections 7, 9); the
        download host is the simulator's own.
        """
        login, graph, exchange = CLOUD_HOSTS[cloud]
        return cls(login=login, graph=graph, download=f"https://reports.{cloud}.sim.test", exchange=exchange)

    def role_of(self, origin: str) -> str | None:
        for role in ("login", "graph", "download", "exchange"):
            if getattr(self, role).lower() == origin.lower():
                return role
        return None


#: cloud -> (login, Graph, Exchange admin API) hosts
CLOUD_HOSTS: dict[str, tuple[str, str, str]] = {
    "global": ("https://login.microsoftonline.com", "https://graph.microsoft.com", "https://outlook.office365.com"),
    "usgov": ("https://login.microsoftonline.us", "https://graph.microsoft.us", "https://outlook.office365.us"),
    "usgovdod": (
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
        "https://outlook-dod.office365.us",
    ),
    "china": (
        "https://login.partner.microsoftonline.cn",
        "https://microsoftgraph.chinacloudapi.cn",
        "https://partner.outlook.cn",
    ),
}


@dataclass(slots=True)
class SimulatorSettings:
    """Every tunable of the simulated services. Defaults follow the API notes."""

    #: strict (default): a historical search's FileUrl answers only an admin's browser session, as the real portal
    #: does (API notes section 9); False (permissive, the demo's automatic tenant): a signed link the app can fetch
    strict: bool = True
    #: tenants (by name) served permissively although ``strict`` is on
    permissive_tenants: frozenset[str] = frozenset()
    token_lifetime_seconds: int = 3599
    #: validity of a usage-report download link (the 302 Location)
    download_link_minutes: float = 5.0
    #: validity of a sign-in / message-trace $skiptoken
    skiptoken_minutes: float = 10.0
    #: Report Refresh Date = today - this many days
    usage_lag_days: int = 2
    #: how far back getEmailAppUsageUserDetail(date=...) answers
    usage_date_days: int = 28
    signin_retention_days: int = 30
    trace_retention_days: int = 90
    trace_max_window_days: float = 10.0
    json_page_size: int = 200
    cas_page_size: int = 1000
    #: simulated seconds a historical search spends NotStarted, then InProgress (divided by time_scale)
    history_queue_seconds: float = 60.0
    history_run_seconds: float = 300.0
    history_quota_per_day: int = 250
    history_max_rows: int = 100_000
    history_download_limit: int = 20
    #: SmtpCSReport data appears this long after the message was sent (API notes: 1-4 h)
    history_latency_hours: float = 2.0
    #: days of synthetic history before the simulator's start
    history_days: int = 90
    #: population knobs (see Population)
    smtp_share: float = 0.04
    volume: float = 1.0
    background_rate: float = 0.05
    #: the compromised-account spike and the password spray (False: a quiet tenant)
    attack_scenarios: bool = True


@dataclass(slots=True)
class Download:
    """A pre-authenticated download: the token in its URL is the credential."""

    tenant_id: str
    make_body: Callable[[], bytes]
    expires_at: datetime | None
    remaining: int | None = None
    content_type: str = "application/octet-stream"
    body: bytes | None = None
    fault_flags: frozenset[str] = frozenset()


@dataclass(slots=True)
class Call:
    """One authenticated Graph / Exchange request being served."""

    sim: "Simulator"
    request: SimRequest
    grant: TokenGrant
    tenant: SimTenant
    route: str
    flags: set[str] = field(default_factory=set)

    @property
    def now(self) -> datetime:
        return self.sim.clock.now()

    @property
    def population(self) -> Population:
        return self.sim.population(self.tenant)

    def error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> SimResponse:
        return graph_error(status, code, message, now=self.now, request=self.request, headers=headers)


Handler = Callable[[Call], SimResponse]


class Simulator:
    """A simulated Microsoft 365: Entra ID, Graph (usage reports, sign-ins, message trace), Exchange admin
    API.

    Thread-safe; serve it in-process with :class:`~connector.simulator.transport.SimTransport` or over HTTPS
    with
    :class:`~connector.simulator.server.SimulatorServer`.
    """

    def __init__(
        self,
        directory: SimDirectory | None = None,
        *,
        clock: Clock | None = None,
        settings: SimulatorSettings | None = None,
        throttle: ThrottleConfig | None = None,
        endpoints: SimulatorEndpoints | None = None,
        cloud: str = "global",
    ) -> None:
        if cloud not in CLOUD_HOSTS:
            raise ValueError(f"unknown cloud {cloud!r} (one of {', '.join(CLOUD_HOSTS)})")
        #: the national cloud simulated: its global-only APIs are refused (connector.simulator.routes)
        self.cloud = cloud
        self.directory = directory or SimDirectory.default()
        self.clock: Clock = clock or SystemClock()
        self.settings = settings or SimulatorSettings()
        self.throttle_config = throttle or ThrottleConfig()
        self.endpoints = endpoints or SimulatorEndpoints.in_process()
        self.throttler = Throttler(self.throttle_config, self.clock.monotonic)
        self.faults = FaultPlan()
        self.stats = Stats()
        self.tokens = TokenStore()
        self.started_at = self.clock.now()
        self._lock = threading.Lock()
        self._populations: dict[str, Population] = {}
        self._downloads: dict[str, Download] = {}
        self._skiptokens: dict[str, tuple[datetime, object]] = {}
        #: per-tenant Exchange state (historical searches), owned by connector.simulator.exchange
        self.exchange_state: dict[str, object] = {}

    # ------------------------------------------------------------------ shared state

    def population(self, tenant: SimTenant) -> Population:
        with self._lock:
            pop = self._populations.get(tenant.tenant_id)
            if pop is None:
                s = self.settings
                pop = Population(
                    tenant.seed,
                    users=tenant.users,
                    days=s.history_days,
                    now=self.started_at,
                    domains=(tenant.primary_domain, *tenant.extra_domains),
                    smtp_share=s.smtp_share,
                    volume=s.volume,
                    background_rate=s.background_rate,
                    scenarios=s.attack_scenarios,
                )
                self._populations[tenant.tenant_id] = pop
            return pop

    def add_download(self, download: Download) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._downloads[token] = download
        return token

    def download_tokens(self) -> list[str]:
        """The credentials embedded in every download link handed out so far (tests scan logs for them)."""
        with self._lock:
            return list(self._downloads)

    def take_download(self, token: str) -> Download | None:
        with self._lock:
            return self._downloads.get(token)

    def save_skiptoken(self, state: object) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._skiptokens[token] = (self.clock.now(), state)
        return token

    def load_skiptoken(self, token: str) -> tuple[datetime, object] | None:
        with self._lock:
            return self._skiptokens.get(token)

    def add_fault(self, fault: Fault) -> Fault:
        return self.faults.add(fault)

    def scaled(self, seconds: float) -> timedelta:
        """A simulated duration shortened by the throttling time scale."""
        return timedelta(seconds=seconds / self.throttle_config.time_scale)

    # ------------------------------------------------------------------ dispatch

    def handle(self, request: SimRequest) -> SimResponse:
        """Answer one request. Never raises for bad input: every failure is an HTTP answer."""
        role = self.endpoints.role_of(request.origin)
        self.stats.incr("requests")
        try:
            if role == "login":
                route = "token" if request.method == "POST" else "discovery"
                self.stats.incr(f"requests.{route}")
                fired = self.faults.draw(route, None)
                if fired and fired[0].replaces:
                    return self.fault_response(fired[0], route, None, request)
                return self.alter_response(handle_login(self, request), fired)
            # the endpoint modules import Call and Download from here, so they are loaded on first use
            if role == "download":
                from connector.simulator.downloads import handle_download

                return handle_download(self, request)
            if role == "graph":
                from connector.simulator.routes import graph_route

                return self._serve(request, "graph", graph_route(request, self.clock.now(), self.cloud))
            if role == "exchange":
                from connector.simulator.exchange import exchange_route

                return self._serve(request, "exchange", exchange_route(request, self.clock.now()))
            return json_response(404, {"error": {"code": "NotFound", "message": "Unknown host."}})
        except Exception:
            log.exception("simulator failed on %s %s", request.method, request.path)
            return graph_error(500, "InternalServerError", "The simulator failed.", now=self.clock.now())

    def _serve(
        self, request: SimRequest, audience: str, routed: tuple[str, Handler, str | None] | SimResponse
    ) -> SimResponse:
        now = self.clock.now()
        if isinstance(routed, SimResponse):
            return routed
        route, handler, tenant_ref = routed
        self.stats.incr(f"requests.{route}")
        grant, failure = self._authenticate(request, audience)
        if failure is not None or grant is None:
            return failure or graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", now=now)
        tenant = next(t for t in self.directory.tenants if t.tenant_id == grant.tenant_id)
        if tenant_ref is not None and self.directory.resolve(tenant_ref) is not tenant:
            return graph_error(
                401, "InvalidAuthenticationToken", "The token was issued for a different tenant.", now=now
            )
        fired = self.faults.draw(route, tenant.tenant_id, has_skiptoken="$skiptoken" in request.query)
        if fired and fired[0].replaces:
            return self.fault_response(fired[0], route, tenant.tenant_id, request)
        call = Call(self, request, grant, tenant, route, {f.kind for f in fired})
        return self.alter_response(handler(call), fired)

    def _authenticate(self, request: SimRequest, audience: str) -> tuple[TokenGrant | None, SimResponse | None]:
        now = self.clock.now()
        auth = request.header("Authorization") or ""
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None, graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", now=now)
        grant = self.tokens.get(token.strip())
        if grant is None:
            return None, graph_error(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed.",
                now=now,
                request=request,
            )
        if grant.expires_at <= now:
            return None, graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                now=now,
                request=request,
            )
        if grant.audience != audience:
            return None, graph_error(401, "InvalidAuthenticationToken", "Invalid audience.", now=now, request=request)
        return grant, None

    def fault_response(self, fault: Fault, route: str, tenant_id: str | None, request: SimRequest) -> SimResponse:
        now = self.clock.now()
        self.stats.incr(f"faults.{fault.kind}")
        if fault.kind == "reset":
            return SimResponse(0, reset=True)
        if fault.kind == "expired_token":
            return graph_error(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                now=now,
            )
        headers = {} if fault.retry_after is None else {"Retry-After": f"{fault.retry_after:g}"}
        if fault.kind == "429":
            self.stats.incr(f"throttled.{route}")
            return graph_error(
                429, "TooManyRequests", "Too many requests. Please retry later.", now=now, headers=headers
            )
        if fault.kind == "503":
            return graph_error(
                503, "ServiceUnavailable", "The service is temporarily unavailable.", now=now, headers=headers
            )
        return graph_error(504, "GatewayTimeout", "The operation has timed out.", now=now)

    def alter_response(self, response: SimResponse, fired: list[Fault]) -> SimResponse:
        if any(f.kind == "truncate" for f in fired) and response.status == 200 and len(response.body) > 1:
            self.stats.incr("faults.truncate")
            response.truncate_at = len(response.body) // 2
        return response

    def throttled(self, call: Call, family: str, limits: Sequence[tuple[Hashable, Limit]]) -> SimResponse | None:
        """Apply ``limits``; on refusal answer 429 with Retry-After (sign-ins vary it like the real service)."""
        wait = self.throttler.check(*limits)
        if wait is None:
            return None
        self.stats.incr(f"throttled.{family}")
        n = self.stats[f"throttled.{family}"]
        retry = {"Retry-After": f"{max(wait, 0.001):.3f}".rstrip("0").rstrip(".")}
        if family == "signins":
            # sign-ins: some 429s carry no Retry-After, some come as code UnknownError (API notes section 2)
            if n % 3 == 0:
                return call.error(429, "TooManyRequests", "Too many requests.")
            if n % 3 == 1:
                return call.error(429, "UnknownError", "", retry)
        return call.error(429, "TooManyRequests", "Too many requests. Please retry later.", retry)
