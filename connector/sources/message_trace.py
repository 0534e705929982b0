"""Graph message trace (``/admin/exchange/tracing/messageTraces``): one row per sender/recipient pair.

Sender addresses and statuses are lower-cased (Graph's status casing varies: compare case-insensitively);
unknown statuses are kept. Volume is counted by distinct ``message_id``, not rows (see
``models.message_trace``).
"""

from collections.abc import Iterator, Mapping
from typing import Any

from connector.http.families import MESSAGE_TRACE as MESSAGE_TRACE_FAMILY
from connector.sources._base import (
    InvalidRecordError,
    Normalized,
    SourceSpec,
    guarded,
    json_items,
    parse_datetime,
    parse_field,
    parse_int,
    text_or_none,
)
from connector.sources.drift import DriftRecorder
from models import MessageTrace

__all__ = ["MESSAGE_TRACE", "TRACE_FIELDS", "TRACE_STATUSES", "normalize_message_trace", "normalize_message_trace_page"]

#: exchangeMessageTrace properties and status values (``recalled`` comes only with the Prefer header, section 9)
TRACE_FIELDS = (
    "id", "messageId", "senderAddress", "recipientAddress", "receivedDateTime", "status", "size", "subject",
    "fromIP", "toIP",
)  # fmt: skip
TRACE_STATUSES = (
    "gettingStatus", "pending", "failed", "delivered", "expanded", "quarantined", "filteredAsSpam",
    "unknownFutureValue", "recalled",
)  # fmt: skip

MESSAGE_TRACE = SourceSpec(
    name="message_trace",
    family=MESSAGE_TRACE_FAMILY,
    permission="ExchangeMessageTrace.Read.All",
    path="/v1.0/admin/exchange/tracing/messageTraces",
    model=MessageTrace,
    key=("tenant", "trace_id"),
    clouds=("global",),
)


def _lower(value: Any) -> str | None:
    text = text_or_none(value)
    return text.lower() if text else None


def normalize_message_trace(location: str, item: Any, *, tenant: str) -> dict[str, Any]:
    """One ``message_trace`` row. Raises InvalidRecordError without id, sender or a valid receivedDateTime."""
    if not isinstance(item, Mapping):
        raise InvalidRecordError("not a JSON object", location=location, sample=item)
    trace_id = text_or_none(item.get("id"))
    if trace_id is None:
        raise InvalidRecordError("no 'id'", location=location, sample=item)
    sender = _lower(item.get("senderAddress"))
    if sender is None:
        raise InvalidRecordError("no 'senderAddress'", location=location, sample=trace_id)
    received = parse_field(location, "receivedDateTime", item.get("receivedDateTime"), parse_datetime, "timestamp")
    if received is None:
        raise InvalidRecordError("no 'receivedDateTime'", location=location, sample=trace_id)
    return {
        "tenant": tenant,
        "trace_id": trace_id,
        "message_id": text_or_none(item.get("messageId")),
        "sender_address": sender,
        "recipient_address": _lower(item.get("recipientAddress")),
        "received_at": received,
        "status": _lower(item.get("status")),
        "size": parse_field(location, "size", item.get("size"), parse_int, "number"),
        "subject": item.get("subject") if isinstance(item.get("subject"), str) else None,
        "from_ip": text_or_none(item.get("fromIP")),
        "to_ip": text_or_none(item.get("toIP")),
    }


def normalize_message_trace_page(
    page: Mapping[str, Any], *, tenant: str, drift: DriftRecorder | None = None
) -> Iterator[Normalized]:
    """``message_trace`` rows of one page; bad items come as InvalidRecordError. Raises DownloadError."""

    def one(location: str, item: Any) -> dict[str, Any]:
        if drift is not None and isinstance(item, Mapping):
            drift.keys("exchangeMessageTrace", item.keys(), TRACE_FIELDS, required=("id", "senderAddress"))
            drift.value("exchangeMessageTrace", "status", item.get("status"), TRACE_STATUSES)
        return normalize_message_trace(location, item, tenant=tenant)

    return guarded(json_items(page), one)
