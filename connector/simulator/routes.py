"""Graph URL routing: maps a path to (fault/throttle route name, handler).

In a national cloud, the APIs Microsoft documents for the global service only (the v1.0 user-count reports and
report settings, message trace) are not routed: Graph answers as for any segment it does not serve.
"""

from datetime import datetime
from urllib.parse import unquote

from connector.simulator.app import Call, Handler
from connector.simulator.graph_reports import handle_report, handle_report_settings
from connector.simulator.message_trace import handle_message_trace
from connector.simulator.messages import SimRequest, SimResponse, graph_error
from connector.simulator.signins import handle_signins

__all__ = ["graph_route"]


#: v1.0 report functions the documentation lists for the global service only
_GLOBAL_ONLY_REPORTS = (
    "getEmailAppUsageUserCounts",
    "getEmailAppUsageAppsUserCounts",
    "getEmailAppUsageVersionsUserCounts",
)


def _global_only(version: str, rest: list[str]) -> bool:
    if rest[:4] == ["admin", "exchange", "tracing", "messageTraces"]:
        return True
    if version != "v1.0":
        return False
    if rest == ["admin", "reportSettings"]:
        return True
    return len(rest) == 2 and rest[0] == "reports" and rest[1].startswith(_GLOBAL_ONLY_REPORTS)


def graph_route(
    request: SimRequest, now: datetime, cloud: str = "global"
) -> tuple[str, Handler, str | None] | SimResponse:
    parts = [unquote(p) for p in request.path.split("/") if p]
    if request.method != "GET":
        return graph_error(405, "Request_BadRequest", "Method not allowed.", now=now)
    if len(parts) >= 2 and parts[0] in ("v1.0", "beta"):
        version, rest = parts[0], parts[1:]
        if cloud != "global" and _global_only(version, rest):
            segment = rest[-1].split("(", 1)[0]
            return graph_error(
                400, "BadRequest", f"Resource not found for the segment '{segment}'.", now=now, request=request
            )
        if len(rest) == 2 and rest[0] == "reports":
            segment = rest[1]
            json_fmt = request.query.get("$format", "").lower() == "application/json"

            def report(call: Call) -> SimResponse:
                return handle_report(call, version, segment)

            return ("reports_json" if json_fmt else "reports"), report, None
        if rest == ["admin", "reportSettings"]:
            return "report_settings", handle_report_settings, None
        if rest == ["auditLogs", "signIns"]:

            def signins(call: Call) -> SimResponse:
                return handle_signins(call, version)

            return "signins", signins, None
        if rest == ["admin", "exchange", "tracing", "messageTraces"]:
            return "message_trace", handle_message_trace, None
    return graph_error(
        400,
        "BadRequest",
        f"Resource not found for the segment '{parts[-1] if parts else ''}'.",
        now=now,
        request=request,
    )
