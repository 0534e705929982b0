"""``smtpauth check``: get a token per tenant and probe each source with the cheapest request that proves it works.

Each probe ends in a :class:`ProbeResult`: the source works, or why not and what to do (missing permission,
missing Entra P1 licence, cloud not supported, message-trace service principal missing). Probes are read-only and
light: one small report download (the 7-day app counts), one sign-in, one message-trace row and, for tenants
with ``exchange_admin``, ``Get-TransportConfig`` (which proves Exchange.ManageAsApp, the role and the anchor mailbox).
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from connector.auth import MsalTokenProvider, graph_scope
from connector.clock import Clock
from connector.clouds import CLOUDS
from connector.config import TenantSettings
from connector.errors import SmtpAuthError, SourceUnavailable
from connector.http.client import GraphClient
from connector.http.families import MESSAGE_TRACE, REPORT_SETTINGS, SIGNINS, reports_csv_family
from connector.sync.engine import classify_error
from connector.sync.sources import SOURCES
from connector.sync.sources.base import odata_datetime
from connector.sync.sources.exchange_admin import exchange_errors, require_anchor

__all__ = ["CONSENT_MISSING", "ProbeResult", "TenantCheck", "check_tenant"]

#: AADSTS codes of a client-credentials request in a tenant where the app has no service principal (not consented):
#: 7000229 for a multi-tenant app registered elsewhere, 700016 when the app id is not found at all
CONSENT_MISSING = ("7000229", "700016")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    source: str
    ok: bool
    detail: str
    fix: str | None = None


@dataclass
class TenantCheck:
    tenant: str
    token_ok: bool
    token_detail: str
    probes: list[ProbeResult]
    #: the AADSTS code of a failed token request (7000229: no service principal, i.e. no admin consent)
    aadsts: str | None = None

    @property
    def consent_missing(self) -> bool:
        return self.aadsts in CONSENT_MISSING

    @property
    def ok(self) -> bool:
        return self.token_ok and all(p.ok for p in self.probes)


def _iso(clock: Clock, delta: timedelta) -> str:
    return odata_datetime(clock.now() - delta)


def _probes(tenant: TenantSettings, client: GraphClient, clock: Clock) -> dict[str, Callable[[], str]]:
    def report_settings() -> str:
        body = client.get_json("v1.0/admin/reportSettings", family=REPORT_SETTINGS).json
        concealed = bool(body.get("displayConcealedNames")) if isinstance(body, dict) else False
        return "user names are concealed in usage reports" if concealed else "user names are shown"

    def usage() -> str:
        api = "getEmailAppUsageAppsUserCounts"
        result = client.download_report(
            f"v1.0/reports/{api}(period='D7')", family=reports_csv_family(api), dest=io.BytesIO()
        )
        return f"usage report downloaded ({result.size:,} bytes)"

    def signins() -> str:
        since = _iso(clock, timedelta(hours=1))
        params = {"$filter": f"clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge {since}", "$top": "1"}
        client.get_json("v1.0/auditLogs/signIns", params=params, family=SIGNINS)
        return "sign-in logs readable"

    def message_trace() -> str:
        if not CLOUDS[tenant.cloud].message_trace:
            raise SourceUnavailable(
                f"unavailable: Graph message trace is not offered in the {tenant.cloud.value} cloud",
                fix="sending volume comes from the SmtpCSReport (exchange_admin = true) or imported files",
            )
        flt = (
            f"receivedDateTime ge {_iso(clock, timedelta(hours=1))} and receivedDateTime le {_iso(clock, timedelta(0))}"
        )
        client.get_json(
            "v1.0/admin/exchange/tracing/messageTraces",
            params={"$filter": flt, "$top": "1"},
            family=MESSAGE_TRACE,
        )
        return "message trace readable"

    def exchange_posture() -> str:
        require_anchor(tenant)
        with exchange_errors():
            config = list(client.invoke_command("Get-TransportConfig"))
        disabled = config[0].get("SmtpClientAuthenticationDisabled") if config else None
        state = "off" if disabled is True else "on" if disabled is False else "unknown"
        return f"Exchange admin API readable (SMTP AUTH is {state} for the organization)"

    probes: dict[str, Callable[[], str]] = {
        "report_settings": report_settings,
        "usage_user_detail": usage,
        "signins": signins,
        "message_trace": message_trace,
    }
    if tenant.exchange_admin:
        probes["exchange_posture"] = exchange_posture
    return probes


def check_tenant(tenant: TenantSettings, tokens: MsalTokenProvider, client: GraphClient, clock: Clock) -> TenantCheck:
    """Token first (nothing else can work without it), then every probe; never raises SmtpAuthError."""
    try:
        tokens.reset()  # a permission granted a minute ago only shows in a new token (reliability, sharp edge 6)
        tokens.token(graph_scope(tenant.effective_graph_endpoint))
    except SmtpAuthError as exc:
        return TenantCheck(tenant.name, False, str(exc), [], aadsts=getattr(exc, "aadsts", None))
    results: list[ProbeResult] = []
    by_name = {s.name: s for s in SOURCES}
    for name, probe in _probes(tenant, client, clock).items():
        try:
            results.append(ProbeResult(name, True, probe()))
        except Exception as exc:  # noqa: BLE001 (a probe's failure is its result)
            _status, _cov, reason, fix = classify_error(exc, name, by_name[name].permission)
            results.append(ProbeResult(name, False, reason, fix))
    return TenantCheck(tenant.name, True, "token acquired: the app is consented in this tenant", results)
