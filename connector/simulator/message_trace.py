"""Graph message trace (API notes section 3): ``admin/exchange/tracing/messageTraces``.

Accepted ``$filter``: ``receivedDateTime ge X and receivedDateTime le Y`` (both required, window <= 10 days,
start
no older than 90 days) optionally ``and senderAddress eq 'a@b'``; no filter means the last 48 hours. One row
per
(message, recipient), newest first; ``$top`` 1-5000 (default 1000). Needs ExchangeMessageTrace.Read.All and
the
tenant's service principal for app 8bd644d1-64a1-4d4b-ae52-2e0cbf64e373 (401 until it exists).
"""

from datetime import date, datetime, timedelta
from typing import Any

from connector.simulator.app import Call
from connector.simulator.directory import MESSAGE_TRACE_APP_ID
from connector.simulator.messages import SimResponse, json_response
from connector.simulator.odata import FilterError, odata_datetime, parse_datetime, parse_filter, parse_top
from connector.simulator.paging import Cursor, next_link, next_page, resume
from connector.simulator.population import Message, Population

__all__ = ["STATUSES", "handle_message_trace", "trace_rows"]

STATUSES = {
    "Delivered": "delivered",
    "Failed": "failed",
    "Pending": "pending",
    "Expanded": "expanded",
    "Quarantined": "quarantined",
    "FilteredAsSpam": "filteredAsSpam",
    "GettingStatus": "gettingStatus",
    "Recalled": "recalled",
}


def _window(call: Call, text: str | None) -> tuple[datetime, datetime, str | None]:
    now = call.now
    settings = call.sim.settings
    if text is None:
        return now - timedelta(hours=48), now, None
    lower = upper = None
    sender = None
    for c in parse_filter(text):
        if c.field == "receivedDateTime" and c.op == "ge" and lower is None:
            lower = parse_datetime(c)
        elif c.field == "receivedDateTime" and c.op == "le" and upper is None:
            upper = parse_datetime(c)
        elif c.field == "senderAddress" and c.op == "eq" and c.quoted and sender is None:
            sender = c.value.lower()
        else:
            raise FilterError(f"Unsupported filter clause: {c.field} {c.op} {c.value}")
    if lower is None or upper is None:
        raise FilterError("Both receivedDateTime ge and receivedDateTime le are required.")
    if upper < lower:
        raise FilterError("The end of the receivedDateTime window is before its start.")
    if upper - lower > timedelta(days=settings.trace_max_window_days):
        raise FilterError(f"The receivedDateTime window can't exceed {settings.trace_max_window_days:g} days.")
    if lower < now - timedelta(days=settings.trace_retention_days):
        raise FilterError(f"The start date can't be older than {settings.trace_retention_days} days.")
    return lower, min(upper, now), sender


def trace_rows(pop: Population, day: date, sender: str | None) -> list[tuple[Message, str]]:
    """The (message, recipient) rows of ``day``, newest first; ``sender`` narrows to one sender."""
    account = pop.find(sender) if sender else None
    messages = pop.account_day(account.index, day)[0] if account else pop.day_messages(day)
    if sender and account is None:
        messages = [m for m in messages if m.sender == sender]
    rows = [(m, r) for m in messages for r in m.recipients]
    rows.sort(key=lambda row: (row[0].received, row[0].message_id, row[1]), reverse=True)
    return rows


def handle_message_trace(call: Call) -> SimResponse:
    if "ExchangeMessageTrace.Read.All" not in call.grant.roles:
        return call.error(
            403,
            "Forbidden",
            "Access denied: the application permission ExchangeMessageTrace.Read.All is required.",
        )
    if not call.tenant.message_trace_sp:
        return call.error(
            401,
            "Unauthorized",
            f"The tenant has no service principal for the message trace application {MESSAGE_TRACE_APP_ID}: "
            "create it (New-MgServicePrincipal -AppId) before calling message trace.",
        )
    blocked = call.sim.throttled(
        call,
        "message_trace",
        [(("trace", call.tenant.tenant_id), call.sim.throttle_config.message_trace_per_tenant)],
    )
    if blocked is not None:
        return blocked
    resumed = resume(call, "message_trace")
    if isinstance(resumed, SimResponse):
        return resumed
    if resumed is None:
        try:
            lower, upper, sender = _window(call, call.request.query.get("$filter"))
            top = parse_top(call.request.query.get("$top"), default=1000, maximum=5000)
        except FilterError as exc:
            return call.error(400, "BadRequest", str(exc))
        cursor = Cursor("message_trace", (sender,), lower, upper, top, upper.date(), 0)
    else:
        cursor = resumed
    pop = call.population
    sender = cursor.key[0]

    def rows_of_day(day: date) -> list[tuple[Message, str]]:
        return [r for r in trace_rows(pop, day, sender) if cursor.lower <= r[0].received <= cursor.upper]

    rows, following = next_page(call, cursor, rows_of_day)
    mixed = "mixed_case" in call.flags
    # an evolvable enum: members added after unknownFutureValue come only to clients that ask (API notes §9)
    evolvable = "include-unknown-enum-members" in (call.request.header("Prefer") or "").lower()
    payload: dict[str, Any] = {
        "@odata.context": f"{call.sim.endpoints.graph}/v1.0/$metadata#admin/exchange/tracing/messageTraces",
        "value": [_row_json(m, r, mixed, evolvable) for m, r in rows],
    }
    if following is not None:
        payload["@odata.nextLink"] = next_link(call, following, {})
    return json_response(200, payload)


#: exchangeMessageTraceStatus members after unknownFutureValue
EVOLVED_STATUSES = frozenset({"Recalled"})


def _row_json(m: Message, recipient: str, mixed_case: bool, evolvable: bool) -> dict[str, Any]:
    internal = not recipient.endswith("@example.net")
    status = m.status if mixed_case else STATUSES[m.status]
    if m.status in EVOLVED_STATUSES and not evolvable:
        status = "unknownFutureValue"
    return {
        "id": m.trace_id(recipient),
        "messageId": m.message_id,
        "senderAddress": m.sender,
        "recipientAddress": recipient,
        "receivedDateTime": odata_datetime(m.received),
        "status": status,
        "size": m.size,
        "subject": m.subject,
        "fromIP": m.client_ip,
        "toIP": None if internal else "192.0.2.254",
    }
