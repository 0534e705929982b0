"""``smtpauth check``: get a token per tenant and probe each source with the cheapest request that proves it works.

Each probe ends in a :class:`ProbeResult`: the source works; or it does not exist in the tenant's cloud (Microsoft
refused an API its documentation lists for the global service only: nothing to fix); or why not and what to do
(missing permission, missing Entra P1 licence, message-trace service principal missing). Probes are read-only and
light: one page of the beta user detail, the two small count reports, the report settings, one sign-in, one
message-trace row and, for tenants with ``exchange_admin``, ``Get-TransportConfig`` (which proves
Exchange.ManageAsApp, the role and the anchor mailbox) and ``Get-HistoricalSearch`` (the searches of the last ten
days).
"""

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from connector.auth import MsalTokenProvider, graph_scope
from connector.clock import Clock
from connector.config import TenantSettings
from connector.errors import CloudUnavailable, SmtpAuthError
from connector.http.client import GraphClient
from connector.http.families import MESSAGE_TRACE, REPORT_SETTINGS, REPORTS_JSON, SIGNINS, reports_csv_family
from connector.sync.engine import classify_error
from connector.sync.sources import SOURCES
from connector.sync.sources.base import odata_datetime
from connector.sync.sources.cloud import cloud_refusals
from connector.sync.sources.exchange_admin import exchange_errors
from connector.sync.sources.message_trace import TRACE_HEADERS, TRACE_PATH

__all__ = ["CONSENT_MISSING", "ProbeResult", "TenantCheck", "check_tenant"]

#: AADSTS codes of a client-credentials request in a tenant where the app has no service principal (not consented):
#: 7000229 for a multi-tenant app registered elsewhere, 700016 when the app id is not found at all
CONSENT_MISSING = ("7000229", "700016")

#: ProbeResult.state values; a warning works but limits what the data can say (concealed user names)
OK, WARNING, MISSING, NOT_IN_CLOUD = "ok", "warning", "missing", "not_in_cloud"

#: what to do about concealed user names in usage reports (smtpauth never changes the setting)
CONCEALED_FIX = (
    "to join usage rows to sign-ins and message trace, turn off 'Display concealed user, group, and site names in "
    "all reports' (Microsoft 365 admin center > Settings > Org settings > Reports)"
)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    source: str
    state: str
    detail: str
    fix: str | None = None

    @property
    def ok(self) -> bool:
        """The source works (maybe with a warning), or the tenant's cloud does not offer it."""
        return self.state != MISSING


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


def _probes(
    tenant: TenantSettings, client: GraphClient, clock: Clock
) -> dict[str, Callable[[], str | tuple[str, str]]]:
    def report_settings() -> str | tuple[str, str]:
        with cloud_refusals(tenant, "report_settings"):
            body = client.get_json("v1.0/admin/reportSettings", family=REPORT_SETTINGS).json
        if isinstance(body, dict) and isinstance(body.get("value"), dict):
            body = body["value"]
        concealed = bool(body.get("displayConcealedNames")) if isinstance(body, dict) else False
        if concealed:  # readable, but the usage rows cannot be joined: a warning with the fix
            return "user names are concealed in usage reports", CONCEALED_FIX
        return "user names are shown"

    def user_detail() -> str:
        # one beta page (listed in every cloud) instead of the whole CSV of a large tenant
        body = client.get_json(
            "beta/reports/getEmailAppUsageUserDetail(period='D7')",
            params={"$format": "application/json"},
            family=REPORTS_JSON,
        ).json
        rows = len(body.get("value") or []) if isinstance(body, dict) else 0
        return f"usage detail readable ({rows} row(s) on the first page)"

    def counts(source: str, api: str) -> Callable[[], str]:
        def probe() -> str:
            with cloud_refusals(tenant, source):
                result = client.download_report(
                    f"v1.0/reports/{api}(period='D7')", family=reports_csv_family(api), dest=io.BytesIO()
                )
            return f"usage report downloaded ({result.size:,} bytes)"

        return probe

    def signins() -> str:
        since = _iso(clock, timedelta(hours=1))
        params = {"$filter": f"clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge {since}", "$top": "1"}
        client.get_json("v1.0/auditLogs/signIns", params=params, family=SIGNINS)
        return "sign-in logs readable"

    def message_trace() -> str:
        flt = (
            f"receivedDateTime ge {_iso(clock, timedelta(hours=1))} and receivedDateTime le {_iso(clock, timedelta(0))}"
        )
        with cloud_refusals(tenant, "message_trace"):
            client.get_json(
                TRACE_PATH, params={"$filter": flt, "$top": "1"}, family=MESSAGE_TRACE, headers=TRACE_HEADERS
            )
        return "message trace readable"

    def exchange_posture() -> str:
        with exchange_errors():
            config = list(client.invoke_command("Get-TransportConfig"))
        disabled = config[0].get("SmtpClientAuthenticationDisabled") if config else None
        state = "off" if disabled is True else "on" if disabled is False else "unknown"
        return f"Exchange admin API readable (SMTP AUTH is {state} for the organization)"

    def smtp_cs_report() -> str:
        with exchange_errors():
            searches = list(client.invoke_command("Get-HistoricalSearch"))
        return f"historical searches readable ({len(searches)} in the last ten days)"

    probes: dict[str, Callable[[], str | tuple[str, str]]] = {
        "report_settings": report_settings,
        "usage_user_detail": user_detail,
        "usage_user_counts": counts("usage_user_counts", "getEmailAppUsageUserCounts"),
        "usage_apps_kpi": counts("usage_apps_kpi", "getEmailAppUsageAppsUserCounts"),
        "signins": signins,
        "message_trace": message_trace,
    }
    if tenant.exchange_admin:
        probes["exchange_posture"] = exchange_posture
        probes["smtp_cs_report"] = smtp_cs_report
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
            outcome = probe()
            if isinstance(outcome, tuple):
                results.append(ProbeResult(name, WARNING, outcome[0], outcome[1]))
            else:
                results.append(ProbeResult(name, OK, outcome))
        except CloudUnavailable as exc:
            results.append(ProbeResult(name, NOT_IN_CLOUD, str(exc), exc.fix))
        except Exception as exc:  # noqa: BLE001 (a probe's failure is its result)
            _status, _cov, reason, fix = classify_error(exc, name, by_name[name].permission)
            results.append(ProbeResult(name, MISSING, reason, fix))
    return TenantCheck(tenant.name, True, "token acquired: the app is consented in this tenant", results)
