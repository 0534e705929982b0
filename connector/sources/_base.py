"""Shared pieces of the source normalizers: declarations, skipped rows, streaming CSV and value parsing.

Normalizers are pure: raw page or file bytes in, model rows (dicts) out. A record that cannot be used is
yielded as an :class:`InvalidRecordError` (a :class:`~connector.errors.RecordError`) instead of a row, so the
caller counts it and carries on; a whole input that is unusable (not UTF-8, required columns missing, no
``value`` array) raises :class:`~connector.errors.DownloadError`, which the caller treats as a failed download
and never half-loads.
"""

import codecs
import csv
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any, BinaryIO, TypeAlias, TypeVar

from connector.errors import DownloadError, RecordError

__all__ = [
    "BytesSource",
    "InvalidRecordError",
    "Normalized",
    "SourceSpec",
    "exchange_us_datetime",
    "guarded",
    "header_key",
    "iter_csv",
    "json_items",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_field",
    "parse_int",
    "read_csv_header",
    "text_or_none",
]

#: longest sample of a bad record kept for the admin
SAMPLE_CHARS = 200

BytesSource: TypeAlias = BinaryIO | Iterable[bytes]


class InvalidRecordError(RecordError):
    """A record that was not loaded: ``reason`` is stable text to count by, ``location`` where it was."""

    def __init__(self, reason: str, *, location: str, sample: object = None) -> None:
        self.reason = reason
        self.location = location
        self.sample = None if sample is None else repr(sample)[:SAMPLE_CHARS]
        super().__init__(f"{location}: {reason}")


Normalized: TypeAlias = dict[str, Any] | InvalidRecordError
R = TypeVar("R")


@dataclass(frozen=True)
class SourceSpec:
    """One input we pull: where from, with which permission, into which table, on which natural key."""

    name: str
    #: API family (connector.http.families), the unit of rate limiting
    family: str
    #: the least-privilege application permission (and role, for Exchange) the source needs
    permission: str
    #: request path relative to the API root, with ``{placeholders}``; for Exchange, the cmdlet
    path: str
    model: type[Any]
    key: tuple[str, ...]
    #: clouds other than "global" where the source exists; Graph message trace is global-only
    clouds: tuple[str, ...] = field(default=("global", "usgov", "usgovdod", "china"))
    #: opt-in sources (the Exchange admin endpoint is undocumented)
    opt_in: bool = False


def header_key(name: str) -> str:
    """Compare headers loosely: case, spaces, underscores and punctuation do not matter."""
    return re.sub(r"[^0-9a-z%]", "", name.lower())


#: longest line of a CSV we read (characters): memory stays bounded whatever the file holds
MAX_LINE_CHARS = 1024 * 1024
#: longest cell (characters): the csv module's own limit, named in our error
MAX_CELL_CHARS = csv.field_size_limit()
#: the largest integer a count may hold (the databases' BIGINT)
MAX_INT = 2**63 - 1


def _lines(chunks: Iterable[str]) -> Iterator[str]:
    # split on "\n" only: str.splitlines would also split inside quoted fields on \x0b, \x1c, \u2028 ...
    pending = ""
    number = 0
    for chunk in chunks:
        pending += chunk
        start = 0
        while (end := pending.find("\n", start)) != -1:
            number += 1
            if end - start > MAX_LINE_CHARS:
                raise _too_long(number)
            yield pending[start : end + 1]
            start = end + 1
        pending = pending[start:]
        if len(pending) > MAX_LINE_CHARS:
            raise _too_long(number + 1)
    if pending:
        yield pending


def _too_long(line: int) -> DownloadError:
    return DownloadError(
        f"line {line} is longer than {MAX_LINE_CHARS:,} characters: not a file smtpauth reads; not loaded"
    )


def _records(reader: Any) -> Iterator[list[str]]:
    """The rows of a ``csv.reader`` (strict quoting), a malformed one raising DownloadError that names its first
    line: an unterminated quote would otherwise swallow every row after it."""
    while True:
        first = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            text = str(exc)
            if "field larger than field limit" in text:
                reason = f"a cell is longer than {MAX_CELL_CHARS:,} characters"
            elif "unexpected end of data" in text or "EOF" in text:
                reason = 'a quoted cell is never closed (a missing ")'
            else:
                reason = f"malformed CSV ({text})"
            raise DownloadError(f"line {first}: {reason}: fix or re-export the file; nothing loaded") from None
        yield row


def _byte_chunks(source: BytesSource) -> Iterator[bytes]:
    read = getattr(source, "read", None)
    if callable(read):
        while chunk := read(64 * 1024):
            yield chunk
    else:
        yield from source


def _sniff_encoding(head: bytes, default: str) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if len(head) >= 4 and head[1] == 0 and head[3] == 0:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0:
        return "utf-16-be"
    return default


def _text(source: BytesSource, default_encoding: str) -> Iterator[str]:
    chunks = _byte_chunks(source)
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 4:
            break
    encoding = _sniff_encoding(head, default_encoding)
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        yield decoder.decode(head)
        for chunk in chunks:
            yield decoder.decode(chunk)
        yield decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise DownloadError(f"the file is not valid {encoding} text ({exc.reason}): not loaded") from None


def iter_csv(
    source: BytesSource,
    *,
    required: Mapping[str, Sequence[str]],
    optional: Mapping[str, Sequence[str]] = {},
    default_encoding: str = "utf-8-sig",
    on_header: Callable[[list[str]], None] | None = None,
) -> Iterator[tuple[str, dict[str, str | None]]]:
    """Stream a CSV, mapping columns by header name; yield (location, {field: cell or None}).

    ``required``/``optional`` map our field names to the accepted header spellings (compared with
    :func:`header_key`). The encoding follows a BOM (UTF-8 or UTF-16), else ``default_encoding``. Memory stays
    flat: one row at a time. ``on_header`` sees the header (the drift guard). Raises DownloadError when a required
    column is missing or the bytes do not decode.
    """
    reader = csv.reader(_lines(_text(source, default_encoding)), strict=True)
    records = _records(reader)
    header = next(records, None)
    if header and header[0].startswith("#TYPE"):
        # Windows PowerShell's Export-Csv writes a type line before the header unless -NoTypeInformation
        header = next(records, None)
    if header is None:
        raise DownloadError("the file is empty (no header line): not loaded")
    if on_header is not None:
        on_header(header)
    positions = {header_key(h): i for i, h in reversed(list(enumerate(header)))}
    columns: dict[str, int] = {}
    missing = []
    for fields, is_required in ((required, True), (optional, False)):
        for name, spellings in fields.items():
            found = next((positions[header_key(s)] for s in spellings if header_key(s) in positions), None)
            if found is not None:
                columns[name] = found
            elif is_required:
                missing.append(spellings[0])
    if missing:
        raise DownloadError(f"the file lacks the required column(s) {', '.join(missing)}: not loaded")
    names = tuple(columns)
    positions_wanted = tuple(columns.values())
    width = max(positions_wanted, default=-1) + 1
    # the cells of a full row in one C call (a tuple even for one column)
    pick: Callable[[list[str]], tuple[str, ...]] = (
        itemgetter(*positions_wanted) if len(names) > 1 else (lambda cells: tuple(cells[i] for i in positions_wanted))
    )
    for cells in records:
        if not cells or (not cells[0].strip() and all(not c.strip() for c in cells)):
            continue
        location = f"line {reader.line_num}"
        if len(cells) >= width:
            yield location, dict(zip(names, pick(cells), strict=True))
        else:
            yield location, {name: (cells[i] if i < len(cells) else None) for name, i in columns.items()}


def json_items(page: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Yield (location, item) of an OData page's ``value``. Raises DownloadError if there is no such array."""
    value = page.get("value") if isinstance(page, Mapping) else None
    # a list, or the items of a page streamed from a file (connector.jsonio)
    if not isinstance(value, list | Iterator):
        raise DownloadError("the response has no 'value' array: not loaded")
    for i, item in enumerate(value):
        yield f"item {i}", item


def text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    # a str is by far the most common value: no str() call for it (this runs for every field of every row)
    text = (value if value.__class__ is str else str(value)).strip()
    return text or None


_US_FORMATS = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%m/%d/%Y")


def exchange_us_datetime(text: str) -> datetime | None:
    """Exchange's ``M/D/YYYY h:mm:ss AM`` (the first of ``_US_FORMATS``), read without ``strptime`` (a tenth of
    its cost); None for anything else, which then goes the general way."""
    parts = text.split(" ")
    if len(parts) != 3:
        return None
    day, clock, half = parts
    ymd = day.split("/")
    hms = clock.split(":")
    if len(ymd) != 3 or len(hms) != 3 or half.upper() not in ("AM", "PM"):
        return None
    month, mday, year = ymd
    hour, minute, second = hms
    if not (
        len(year) == 4
        and 1 <= len(month) <= 2
        and 1 <= len(mday) <= 2
        and 1 <= len(hour) <= 2
        and 1 <= len(minute) <= 2
        and 1 <= len(second) <= 2
        and (year + month + mday + hour + minute + second).isascii()
        and (year + month + mday + hour + minute + second).isdigit()
    ):
        return None
    h = int(hour)
    if not 1 <= h <= 12:  # a 12-hour clock
        return None
    if half.upper() == "PM":
        h = h % 12 + 12
    else:
        h %= 12
    try:
        return datetime(int(year), int(month), int(mday), h, int(minute), int(second), tzinfo=UTC)
    except ValueError:
        return None


def parse_datetime(value: Any, *, us_formats: bool = False) -> datetime | None:
    """ISO 8601 (Graph's ``2026-11-20T08:15:30.1234567Z``) to aware UTC; naive values are UTC. Blank → None.

    Raises ValueError for anything else.
    """
    text = text_or_none(value)
    if text is None:
        return None
    if us_formats and "/" in text:
        fast = exchange_us_datetime(text)
        if fast is not None:
            return fast
    try:
        # Python 3.11 reads Graph's seven fractional digits (keeping six) and the "Z"
        parsed = datetime.fromisoformat(text)
    except ValueError:
        if not us_formats:
            raise
        for fmt in _US_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)  # naive means UTC here
                break
            except ValueError:
                continue
        else:
            raise
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_date(value: Any) -> date | None:
    """``2026-11-20`` to a date. Blank → None. Raises ValueError otherwise."""
    text = text_or_none(value)
    if text is None:
        return None
    return date.fromisoformat(text[:10]) if len(text) >= 10 and text[4] == "-" else date.fromisoformat(text)


def parse_int(value: Any) -> int | None:
    """An integer count (at most a 64-bit integer). Blank → None. Raises ValueError otherwise (booleans
    included)."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        text = text_or_none(value)
        if text is None:
            return None
        number = int(text.replace(",", ""))
    if not -MAX_INT <= number <= MAX_INT:
        raise ValueError(f"{str(number)[:30]}... is out of range")
    return number


_TRUE = {"true", "yes", "1", "$true"}
_FALSE = {"false", "no", "0", "$false"}


def parse_bool(value: Any) -> bool | None:
    """A strict boolean: True/False/Yes/No/1/0 (any case). Blank → None. Raises ValueError otherwise."""
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


T = TypeVar("T")


def parse_field(location: str, column: str, value: Any, parser: Callable[[Any], T], kind: str) -> T:
    """Apply ``parser`` to one field. Raises InvalidRecordError naming the column if the value is bad."""
    try:
        return parser(value)
    except (ValueError, TypeError):
        raise InvalidRecordError(f"invalid {kind} in {column!r}", location=location, sample=value) from None


def guarded(items: Iterable[tuple[str, R]], mapper: Callable[[str, R], dict[str, Any]]) -> Iterator[Normalized]:
    """Map each (location, raw) with ``mapper``; an InvalidRecordError it raises is yielded instead."""
    for location, raw in items:
        try:
            yield mapper(location, raw)
        except InvalidRecordError as skipped:
            yield skipped


def read_csv_header(source: BytesSource, default_encoding: str = "utf-8-sig") -> list[str]:
    """The header cells of a CSV (encoding as :func:`iter_csv`; a PowerShell ``#TYPE`` line is skipped).

    Raises DownloadError when the bytes do not decode; an empty file gives ``[]``.
    """
    records = _records(csv.reader(_lines(_text(source, default_encoding)), strict=True))
    header = next(records, None)
    if header and header[0].startswith("#TYPE"):
        header = next(records, None)
    return header or []
