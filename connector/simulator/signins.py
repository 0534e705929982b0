"""Entra sign-in logs (API notes section 2): ``auditLogs/signIns`` filtered to Authenticated SMTP.

Accepted ``$filter``: ``clientAppUsed eq 'Authenticated SMTP'`` and-joined with ``createdDateTime
ge|le|eq|gt|lt
<DateTimeOffset>`` clauses; anything else is a 400. Newest first; ``$top`` 1-1000 (default 1000); retention 30
days; needs AuditLog.Read.All and an Entra ID P1/P2 licence.
"""

from datetime import date, datetime, timedelta
from typing import Any

from connector.simulator.app import Call
from connector.simulator.messages import SimResponse, json_response
from connector.simulator.odata import FilterError, odata_datetime, parse_datetime, parse_filter, parse_top
from connector.simulator.paging import Cursor, next_link, next_page, resume
from connector.simulator.population import SignIn

__all__ = ["EXCHANGE_ONLINE_APP_ID", "handle_signins", "signin_json"]

EXCHANGE_ONLINE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"


def _bounds(call: Call, text: str) -> tuple[datetime, datetime]:
    now = call.now
    lower = now - timedelta(days=call.sim.settings.signin_retention_days)
    upper = now
    smtp = False
    for c in parse_filter(text):
        if c.field == "clientAppUsed":
            if c.op != "eq" or not c.quoted or c.value != "Authenticated SMTP":
                raise FilterError(f"Unsupported filter on clientAppUsed: only eq 'Authenticated SMTP' ({c.value}).")
            smtp = True
        elif c.field == "createdDateTime":
            at = parse_datetime(c)
            if c.op in ("ge", "gt", "eq"):
                lower = max(lower, at + timedelta(microseconds=1) if c.op == "gt" else at)
            if c.op in ("le", "lt", "eq"):
                upper = min(upper, at - timedelta(microseconds=1) if c.op == "lt" else at)
            if c.op == "ne":
                raise FilterError("Unsupported operator 'ne' on createdDateTime.")
        else:
            raise FilterError(f"Unsupported filter property '{c.field}' (the simulator serves SMTP sign-ins).")
    if not smtp:
        raise FilterError("The filter must include clientAppUsed eq 'Authenticated SMTP'.")
    return lower, upper


def handle_signins(call: Call, version: str) -> SimResponse:
    if "AuditLog.Read.All" not in call.grant.roles:
        return call.error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation. Reading sign-in logs requires the application "
            "permission AuditLog.Read.All (and Directory.Read.All).",
        )
    if not call.tenant.entra_p1:
        return call.error(
            403,
            "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
            "Neither tenant is B2C or tenant doesn't have premium license",
        )
    limits = call.sim.throttle_config
    blocked = call.sim.throttled(
        call, "signins", [(("signins", call.tenant.tenant_id, call.grant.client_id), limits.signins_per_app)]
    )
    if blocked is not None:
        return blocked
    resumed = resume(call, "signins")
    if isinstance(resumed, SimResponse):
        return resumed
    query = call.request.query
    if resumed is None:
        try:
            lower, upper = _bounds(call, query.get("$filter", "clientAppUsed eq 'Authenticated SMTP'"))
            top = parse_top(query.get("$top"), default=1000, maximum=1000)
        except FilterError as exc:
            return call.error(400, "Request_UnsupportedQuery", str(exc))
        cursor = Cursor("signins", (), lower, upper, top, upper.date(), 0)
    else:
        cursor = resumed
    pop = call.population

    def rows_of_day(day: date) -> list[SignIn]:
        return [s for s in pop.day_signins(day) if cursor.lower <= s.created <= cursor.upper]

    rows, following = next_page(call, cursor, rows_of_day) if cursor.lower <= cursor.upper else ([], None)
    beta = version == "beta"
    mixed = "mixed_case" in call.flags
    payload: dict[str, Any] = {
        "@odata.context": f"{call.sim.endpoints.graph}/{version}/$metadata#auditLogs/signIns",
        "value": [signin_json(s, beta=beta, mixed_case=mixed) for s in rows],
    }
    if "schema_drift" in call.flags:
        # Microsoft adds a field and a new value of an evolvable enum
        for item in payload["value"]:
            item["tokenProtectionStatusDetails"] = {"signInSessionStatus": "unbound"}
            item["conditionalAccessStatus"] = "reportOnlyNotApplied"
    if following is not None:
        payload["@odata.nextLink"] = next_link(call, following, {})
    return json_response(200, payload)


def signin_json(s: SignIn, *, beta: bool = False, mixed_case: bool = False) -> dict[str, Any]:
    a = s.account
    none = "None" if mixed_case else "none"
    out: dict[str, Any] = {
        "id": s.id,
        "createdDateTime": odata_datetime(s.created),
        "userDisplayName": a.display_name,
        "userPrincipalName": a.upn,
        "userId": a.user_id,
        "appId": EXCHANGE_ONLINE_APP_ID,
        "appDisplayName": "Office 365 Exchange Online",
        "ipAddress": s.site.ip,
        "clientAppUsed": "Authenticated SMTP",
        "correlationId": s.correlation_id,
        "conditionalAccessStatus": "NotApplied" if mixed_case else "notApplied",
        "isInteractive": False,
        "riskDetail": none,
        "riskLevelAggregated": none,
        "riskLevelDuringSignIn": none,
        "riskState": none,
        "riskEventTypes": [],
        "riskEventTypes_v2": [],
        "resourceDisplayName": "Office 365 Exchange Online",
        "resourceId": EXCHANGE_ONLINE_APP_ID,
        "status": {
            "errorCode": s.error_code,
            "failureReason": s.failure_reason or None,
            "additionalDetails": None if s.error_code == 0 else "MFA requirement not applicable to legacy auth.",
        },
        "deviceDetail": {
            "deviceId": "",
            "displayName": None,
            "operatingSystem": None,
            "browser": None,
            "isCompliant": False,
            "isManaged": False,
            "trustType": None,
        },
        "location": {
            "city": s.site.city,
            "state": s.site.state,
            "countryOrRegion": s.site.country,
            "geoCoordinates": {"altitude": None, "latitude": s.site.lat, "longitude": s.site.lon},
        },
        "appliedConditionalAccessPolicies": [],
    }
    if beta:
        out["userAgent"] = "BAV2ROPC"
        out["authenticationProtocol"] = "ropc"
        out["signInEventTypes"] = ["nonInteractiveUser"]
        out["userType"] = "member"
    return out
