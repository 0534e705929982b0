"""The Exchange admin center "SMTP AUTH clients" **Export** CSV, handed over by an admin (API notes section 5).

One line per sender: address, domain, the share of messages over TLS 1.0 / 1.1 / 1.2, messages sent and (since
October 2024) the authentication protocol. The header text is not documented, so headers are matched loosely:
case, spaces and punctuation do not matter, and a percent sign or the words "percent"/"percentage" around a
TLS column are ignored (``TLS 1.0 %``, ``tls1.0 (percentage)`` and ``TLS1.0`` are one column). Percentages are
kept as written (``12.5%`` → 12.5). The file covers a period the file itself does not state: the caller says
which.
"""

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from connector.sources._base import (
    BytesSource,
    InvalidRecordError,
    Normalized,
    SourceSpec,
    guarded,
    iter_csv,
    parse_field,
    parse_int,
    text_or_none,
)
from models import ImportedTlsAggregate

__all__ = ["EAC_EXPORT", "EXPORT_OPTIONAL", "EXPORT_REQUIRED", "normalize_eac_export", "parse_percent"]

EAC_EXPORT = SourceSpec(
    name="eac_export",
    family="file",
    permission="none (a file exported from the Exchange admin center)",
    path="Exchange admin center > Reports > Mail flow > SMTP AUTH clients > Export",
    model=ImportedTlsAggregate,
    key=("tenant", "period_start", "period_end", "sender_address"),
)


def _tls(version: str) -> tuple[str, ...]:
    base = f"TLS {version}"
    spellings = (base, f"{base} %", f"{base} percentage", f"{base} percent", f"{base} pct", f"{base} usage %")
    return (*spellings, f"% {base}", f"Percentage {base}", f"Percent {base}")


EXPORT_REQUIRED: dict[str, tuple[str, ...]] = {
    "sender_address": ("Sender address", "Sender", "Sender email", "Sender email address", "Email address", "User"),
    "tls10_pct": _tls("1.0"),
    "tls11_pct": _tls("1.1"),
    "tls12_pct": _tls("1.2"),
    "messages": ("Messages sent", "Messages", "Message count", "Sent messages", "Total messages", "Messages (count)"),
}
EXPORT_OPTIONAL: dict[str, tuple[str, ...]] = {
    "domain": ("Domain", "Sender domain"),
    "auth_protocol": ("Authentication protocol", "Auth protocol", "Authentication method", "Auth method"),
}

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def parse_percent(value: Any) -> float | None:
    """``12.5``, ``12.5%`` or ``12,5 %`` to 12.5. Blank or ``-`` → None. Raises ValueError otherwise."""
    text = text_or_none(value)
    if text is None or text in ("-", "—"):
        return None
    text = text.rstrip("%").strip().replace(",", ".")
    if not _NUMBER.match(text):
        raise ValueError(f"not a percentage: {value!r}")
    number = float(text)
    if not 0 <= number <= 100:
        raise ValueError(f"percentage out of range: {value!r}")
    return number


def normalize_eac_export(
    source: BytesSource, *, tenant: str, period_start: date, period_end: date, sha256: str
) -> Iterator[Normalized]:
    """``imported_tls_aggregate`` rows of an Export file (UTF-8 with or without BOM, or UTF-16).

    Raises DownloadError naming every missing required column, or when the bytes do not decode.
    """

    def mapper(location: str, cells: dict[str, str | None]) -> dict[str, Any]:
        sender = text_or_none(cells["sender_address"])
        if sender is None:
            raise InvalidRecordError("no sender address", location=location)
        sender = sender.lower()
        pcts = {k: parse_field(location, k, cells[k], parse_percent, "percentage") for k in _PCTS}
        domain = text_or_none(cells.get("domain"))
        return {
            "tenant": tenant,
            "period_start": period_start,
            "period_end": period_end,
            "sender_address": sender,
            "domain": domain.lower() if domain else (sender.rpartition("@")[2] or None),
            **pcts,
            "messages": parse_field(location, "messages", cells["messages"], parse_int, "number"),
            "auth_protocol": text_or_none(cells.get("auth_protocol")),
            "source_file_sha256": sha256,
        }

    yield from guarded(iter_csv(source, required=EXPORT_REQUIRED, optional=EXPORT_OPTIONAL), mapper)


_PCTS = ("tls10_pct", "tls11_pct", "tls12_pct")
