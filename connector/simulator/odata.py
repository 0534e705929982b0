"""The small part of OData the simulated endpoints accept: ``and``-joined comparisons, ``$top`` and
skiptokens.

A filter the real service would accept but the connector never sends is refused with 400 on purpose: the
simulator
pins the exact grammar the connector relies on.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

__all__ = ["Clause", "FilterError", "odata_datetime", "parse_datetime", "parse_filter", "parse_top"]

_CLAUSE = re.compile(
    r"^\s*(?P<field>[A-Za-z][A-Za-z0-9/]*)\s+(?P<op>eq|ne|ge|le|gt|lt)\s+(?P<value>'(?:[^']|'')*'|[^\s']+)\s*$"
)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class FilterError(ValueError):
    """The $filter (or $top) is not one the endpoint supports; the message is the Graph error message."""


@dataclass(frozen=True, slots=True)
class Clause:
    field: str
    op: str
    #: the literal: a str for quoted strings (quotes removed, '' unescaped), else the raw token
    value: str
    quoted: bool


def parse_filter(text: str) -> list[Clause]:
    if not text.strip():
        raise FilterError("The $filter is empty.")
    if re.search(r"\s(or|not)\s|[()]", text, re.IGNORECASE):
        raise FilterError(f"Invalid filter clause: only 'and' of simple comparisons is supported: {text}")
    out = []
    for part in _AND.split(text.strip()):
        m = _CLAUSE.match(part)
        if not m:
            raise FilterError(f"Invalid filter clause: {part}")
        raw = m["value"]
        quoted = raw.startswith("'")
        value = raw[1:-1].replace("''", "'") if quoted else raw
        out.append(Clause(m["field"], m["op"], value, quoted))
    return out


def parse_datetime(clause: Clause) -> datetime:
    """An unquoted ISO 8601 DateTimeOffset literal (``2026-11-01T00:00:00Z``)."""
    if clause.quoted:
        raise FilterError(f"A DateTimeOffset literal must not be quoted: {clause.field} {clause.op} '{clause.value}'")
    try:
        value = datetime.fromisoformat(clause.value)
    except ValueError:
        raise FilterError(f"Invalid DateTimeOffset literal '{clause.value}' for {clause.field}.") from None
    if value.tzinfo is None:
        raise FilterError(f"The DateTimeOffset literal '{clause.value}' needs a time zone (e.g. Z).")
    return value.astimezone(UTC)


def parse_top(raw: str | None, *, default: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        top = int(raw)
    except ValueError:
        raise FilterError(f"Invalid $top value '{raw}': an integer is required.") from None
    if not 1 <= top <= maximum:
        raise FilterError(f"Invalid $top value {top}: it must be between 1 and {maximum}.")
    return top


def odata_datetime(value: datetime) -> str:
    """Graph's rendering: UTC with a Z, fractional seconds only when present."""
    text = value.astimezone(UTC).isoformat(timespec="milliseconds" if value.microsecond else "seconds")
    return text.replace("+00:00", "Z")
