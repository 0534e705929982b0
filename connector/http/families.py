"""API families: the unit of rate limiting and the key to the permission an error names.

A family is a short string passed with every request. ``reports_csv`` is further split per report API
(``reports_csv:getEmailAppUsageUserDetail``) because Microsoft counts that limit per report API (API notes
section 1); :func:`base_family` strips the suffix.
"""

__all__ = [
    "EXCHANGE",
    "FAMILIES",
    "GRAPH",
    "MESSAGE_TRACE",
    "PERMISSIONS",
    "REPORTS_CSV",
    "REPORTS_JSON",
    "REPORT_SETTINGS",
    "SIGNINS",
    "base_family",
    "permission_for",
    "reports_csv_family",
]

#: Graph usage report CSV downloads (``GET /v1.0/reports/getEmailAppUsage...``), one sub-family per report API
REPORTS_CSV = "reports_csv"
#: Graph usage reports as beta JSON pages (``?$format=application/json``)
REPORTS_JSON = "reports_json"
#: ``GET /v1.0/admin/reportSettings`` (concealed names)
REPORT_SETTINGS = "report_settings"
#: Entra sign-in logs (``/auditLogs/signIns``)
SIGNINS = "signins"
#: Graph message trace (``/admin/exchange/tracing/messageTraces``)
MESSAGE_TRACE = "message_trace"
#: Exchange Online admin REST (``/adminapi/beta/{tenant}/InvokeCommand``)
EXCHANGE = "exchange"
#: any other Graph call
GRAPH = "graph"

FAMILIES = frozenset({REPORTS_CSV, REPORTS_JSON, REPORT_SETTINGS, SIGNINS, MESSAGE_TRACE, EXCHANGE, GRAPH})

#: what a 403 in each family most likely lacks, worded as what to grant
PERMISSIONS: dict[str, str] = {
    REPORTS_CSV: "Reports.Read.All",
    REPORTS_JSON: "Reports.Read.All",
    REPORT_SETTINGS: "ReportSettings.Read.All",
    SIGNINS: "AuditLog.Read.All",
    MESSAGE_TRACE: "ExchangeMessageTrace.Read.All",
    EXCHANGE: "Exchange.ManageAsApp (plus an Exchange role such as View-Only Organization Management)",
}


def base_family(family: str) -> str:
    """``reports_csv:getEmailAppUsageUserDetail`` -> ``reports_csv``."""
    return family.partition(":")[0]


def reports_csv_family(report_api: str) -> str:
    """The family of one CSV report API, e.g. ``reports_csv_family("getEmailAppUsageUserDetail")``."""
    return f"{REPORTS_CSV}:{report_api}"


def permission_for(family: str) -> str | None:
    return PERMISSIONS.get(base_family(family))
