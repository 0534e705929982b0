"""``SmtpCSReport`` files: the EAC "Request report" for SMTP AUTH client submission, one line per message.

The file is reported as UTF-16 CSV with the columns ``date, senderName, senderDomain, authMethod,
original_client_ip, tls_version, tls_cipher, message_count, message_id`` [3p, unverified]: headers are matched
loosely (case, ``_``, spaces) with a few spellings each; the encoding follows the BOM or the NUL bytes of UTF-16
(else UTF-8); dates may be ISO 8601 or US ``M/D/YYYY h:mm:ss AM`` as Exchange renders them.
"""

from collections.abc import Iterator
from typing import Any

from connector.http.families import EXCHANGE
from connector.sources._base import (
    BytesSource,
    InvalidRecordError,
    Normalized,
    SourceSpec,
    exchange_us_datetime,
    guarded,
    iter_csv,
    parse_datetime,
    parse_field,
    parse_int,
)
from connector.sources.drift import DriftRecorder
from models import SmtpCsReportRow

__all__ = ["SMTP_CS_COLUMNS", "SMTP_CS_REPORT", "normalize_smtp_cs_report"]

#: the columns the file is reported to carry [3p]
SMTP_CS_COLUMNS = (
    "date",
    "senderName",
    "senderDomain",
    "authMethod",
    "original_client_ip",
    "tls_version",
    "tls_cipher",
    "message_count",
    "message_id",
)

SMTP_CS_REPORT = SourceSpec(
    name="smtp_cs_report",
    family=EXCHANGE,
    permission="Exchange.ManageAsApp + View-Only Organization Management (or Global Reader)",
    path="Start-HistoricalSearch -ReportType SmtpCSReport",
    model=SmtpCsReportRow,
    key=("tenant", "occurred_at", "sender_address", "message_id"),
    clouds=("global", "usgov", "usgovdod", "china"),
    opt_in=True,
)

_REQUIRED = {
    "occurred_at": ("date", "datetime", "timestamp", "date (UTC)", "time"),
    "sender_address": ("senderName", "sender_address", "senderAddress", "sender", "sender name"),
    "message_id": ("message_id", "messageId", "internet_message_id", "internetMessageId"),
}
_OPTIONAL = {
    "sender_domain": ("senderDomain", "sender_domain", "domain"),
    "auth_method": ("authMethod", "auth_method", "authenticationMethod", "authProtocol"),
    "client_ip": ("original_client_ip", "originalClientIp", "client_ip", "clientIp", "clientIpAddress"),
    "tls_version": ("tls_version", "tlsVersion", "tls"),
    "tls_cipher": ("tls_cipher", "tlsCipher", "cipher"),
    "message_count": ("message_count", "messageCount", "messages", "count"),
}


#: digits of a count read by ``int`` directly (well inside the 64-bit range ``parse_int`` checks)
_PLAIN_COUNT_DIGITS = 18


def _us_datetime(value: Any) -> Any:
    return parse_datetime(value, us_formats=True)


def normalize_smtp_cs_report(
    source: BytesSource, *, tenant: str, job_id: str | None = None, drift: DriftRecorder | None = None
) -> Iterator[Normalized]:
    """``smtp_cs_report_row`` rows of a downloaded report file (streamed; UTF-16 or UTF-8).

    Raises DownloadError when the file does not decode or lacks the date, sender or message id column.
    """

    def mapper(location: str, cells: dict[str, str | None]) -> dict[str, Any]:
        # the cells are text or None (iter_csv); the fast paths below give what the general parsers would
        raw_date = cells["occurred_at"]
        # Exchange's own "M/D/YYYY h:mm:ss AM" read directly; anything else (or a blank) goes the general way
        occurred = exchange_us_datetime(raw_date) if raw_date and "/" in raw_date else None
        if occurred is None:
            occurred = parse_field(location, "date", raw_date, _us_datetime, "timestamp")
            if occurred is None:
                raise InvalidRecordError("no date", location=location)
        raw = cells["sender_address"]
        sender = (raw.strip() or None) if raw else None
        if sender is None:
            raise InvalidRecordError("no sender address", location=location)
        raw = cells["message_id"]
        message_id = (raw.strip() or None) if raw else None
        if message_id is None:
            raise InvalidRecordError("no message id", location=location, sample=sender)
        sender = sender.lower()
        raw = cells.get("sender_domain")
        domain = (raw.strip() or None) if raw else None
        raw = cells.get("message_count")
        if raw and len(raw) <= _PLAIN_COUNT_DIGITS and raw.isascii() and raw.isdigit():
            count: int | None = int(raw)
        else:
            count = parse_field(location, "message_count", raw, parse_int, "number")
        auth, ip, tls, cipher = (
            cells.get("auth_method"),
            cells.get("client_ip"),
            cells.get("tls_version"),
            cells.get("tls_cipher"),
        )
        return {
            "tenant": tenant,
            "occurred_at": occurred,
            "sender_address": sender,
            "sender_domain": (domain or sender.rpartition("@")[2] or None) if "@" in sender or domain else None,
            "auth_method": (auth.strip() or None) if auth else None,
            "client_ip": (ip.strip() or None) if ip else None,
            "tls_version": (tls.strip() or None) if tls else None,
            "tls_cipher": (cipher.strip() or None) if cipher else None,
            "message_count": 1 if count is None else count,
            "message_id": message_id,
            "job_id": job_id,
        }

    on_header = (lambda h: drift.header("SmtpCSReport", h, SMTP_CS_COLUMNS)) if drift is not None else None
    yield from guarded(iter_csv(source, required=_REQUIRED, optional=_OPTIONAL, on_header=on_header), mapper)
