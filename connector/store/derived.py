"""Columns derived from a raw row once, when it is written: the UTC day, the sender domain, TLS and auth buckets.

:func:`derive` is applied by the store's upsert to every row of ``message_trace``, ``smtp_cs_report_row`` and
``signin`` (whatever wrote it: a sync source, an import, a test), so no reader applies string or date functions
to raw rows. The rules are those of the report since its first version (``tests/store/test_derived.py`` checks
them against the SQL spelling the migration used to fill the rows stored before):

- the UTC day of a timestamp;
- the domain: the lower-cased part after the last ``@``, None for a value without ``@`` (a concealed name);
- the TLS bucket: ``TLS1.0`` … ``TLS1.3`` for any spelling (``TLS 1.2``, ``Tls12``, ``1.2``), else ``unknown``;
- the auth bucket: ``OAuth`` when the method mentions oauth, else ``Basic`` when it mentions basic, else
  ``unknown``.
"""

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

__all__ = ["AUTH_KEYS", "DERIVED_COLUMNS", "TLS_KEYS", "auth_bucket", "derive", "domain_of", "tls_bucket", "utc_day"]

#: TLS buckets of the report, in column order (then ``unknown``)
TLS_KEYS = ("TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3")
AUTH_KEYS = ("Basic", "OAuth", "unknown")

_TLS_BY_SQUASHED = {s: key for key in TLS_KEYS for s in (f"tls{key[3]}{key[5]}", f"{key[3]}{key[5]}")}


def utc_day(moment: Any) -> date | None:
    """The UTC date of an aware datetime (None for anything else: the column type refuses it on write)."""
    if moment.__class__ is datetime and moment.tzinfo is UTC:
        return moment.date()  # already UTC (what every parser of ours returns)
    if isinstance(moment, datetime) and moment.utcoffset() is not None:
        return moment.astimezone(UTC).date()
    return None


def domain_of(address: str | None) -> str | None:
    """The lower-cased part after the last '@', None without '@'."""
    if address is None or "@" not in address:
        return None
    return address.rpartition("@")[2].lower()


#: buckets of the spellings seen (a report has a handful): a row's bucket is one look-up
_TLS_SEEN: dict[str | None, str] = {}
_AUTH_SEEN: dict[str | None, str] = {}
#: spellings remembered at most (a file of odd values must not grow them without bound)
_SEEN_MAX = 1024


def tls_bucket(version: str | None) -> str:
    found = _TLS_SEEN.get(version)
    if found is not None:
        return found
    squashed = (version or "").lower()
    for ch in (" ", ".", "_", "v"):
        squashed = squashed.replace(ch, "")
    bucket = _TLS_BY_SQUASHED.get(squashed, "unknown")
    if len(_TLS_SEEN) < _SEEN_MAX and (version is None or version.__class__ is str):
        _TLS_SEEN[version] = bucket
    return bucket


def auth_bucket(method: str | None) -> str:
    found = _AUTH_SEEN.get(method)
    if found is not None:
        return found
    low = (method or "").lower()
    bucket = "OAuth" if "oauth" in low else "Basic" if "basic" in low else "unknown"
    if len(_AUTH_SEEN) < _SEEN_MAX and (method is None or method.__class__ is str):
        _AUTH_SEEN[method] = bucket
    return bucket


def _trace(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if "received_at" in row:
        out["utc_day"] = utc_day(row["received_at"])
    if "sender_address" in row:
        out["sender_domain"] = domain_of(row["sender_address"])
    return out


def _smtp_cs(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if "occurred_at" in row:
        out["utc_day"] = utc_day(row["occurred_at"])
    if "tls_version" in row:
        out["tls_bucket"] = tls_bucket(row["tls_version"])
    if "auth_method" in row:
        out["auth_bucket"] = auth_bucket(row["auth_method"])
    return out


def _signin(row: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if "created_at" in row:
        out["utc_day"] = utc_day(row["created_at"])
    return out


_DERIVERS: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
    "message_trace": _trace,
    "smtp_cs_report_row": _smtp_cs,
    "signin": _signin,
}

#: the derived columns of each table
DERIVED_COLUMNS: dict[str, tuple[str, ...]] = {
    "message_trace": ("utc_day", "sender_domain"),
    "smtp_cs_report_row": ("utc_day", "tls_bucket", "auth_bucket"),
    "signin": ("utc_day",),
}


def derive(table: str, row: Mapping[str, Any]) -> Mapping[str, Any]:
    """``row`` with the derived columns of ``table`` set from the columns it carries (as is for other tables).
    A derived column given by the caller is recomputed: it can never disagree with its source."""
    fn = _DERIVERS.get(table)
    return row if fn is None else fn(row)
