"""Day-by-day cursors over newest-first data, persisted behind expiring skiptokens."""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from connector.simulator.app import Call
from connector.simulator.messages import SimResponse

__all__ = ["EXPIRED_SKIPTOKEN_CODE", "Cursor", "next_link", "next_page", "resume"]

T = TypeVar("T")

#: the code the simulator answers for an expired or unknown skiptoken (HTTP 400). Graph answers "Invalid Skip
#: Token" messages with varying codes; the simulator pins one so clients can restart the slice on it.
EXPIRED_SKIPTOKEN_CODE = "Request_InvalidSkipToken"


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position in a query: the bounds fixed by the first page, then the day and offset reached."""

    family: str
    key: tuple[Any, ...]
    lower: datetime
    upper: datetime
    top: int
    day: date
    offset: int


def resume(call: Call, family: str) -> Cursor | SimResponse | None:
    """The cursor behind ``$skiptoken`` (None without one), or a 400 when it expired or is unknown."""
    token = call.request.query.get("$skiptoken")
    if token is None:
        return None
    saved = call.sim.load_skiptoken(token)
    expired = "expired_skiptoken" in call.flags
    if saved is not None:
        issued, _ = saved
        expired = expired or call.now - issued > timedelta(minutes=call.sim.settings.skiptoken_minutes)
    if saved is None or expired or not isinstance(saved[1], Cursor) or saved[1].family != family:
        return call.error(
            400,
            EXPIRED_SKIPTOKEN_CODE,
            "Invalid Skip Token: the skip token has expired or is not valid. Restart the query without it.",
        )
    return saved[1]


def next_page(call: Call, cursor: Cursor, rows_of_day: Callable[[date], Sequence[T]]) -> tuple[list[T], Cursor | None]:
    """Collect up to ``cursor.top`` rows walking days from ``cursor.day`` down to ``cursor.lower``'s day.
    ``rows_of_day`` returns a day's rows already filtered to the bounds, newest first."""
    out: list[T] = []
    day, offset = cursor.day, cursor.offset
    last_day = cursor.lower.date()
    while day >= last_day:
        rows = rows_of_day(day)
        take = rows[offset : offset + cursor.top - len(out)]
        out.extend(take)
        offset += len(take)
        if len(out) == cursor.top:
            if offset < len(rows):
                return out, _replace(cursor, day, offset)
            if day > last_day:
                return out, _replace(cursor, day - timedelta(days=1), 0)
            return out, None
        day, offset = day - timedelta(days=1), 0
    return out, None


def _replace(cursor: Cursor, day: date, offset: int) -> Cursor:
    return Cursor(cursor.family, cursor.key, cursor.lower, cursor.upper, cursor.top, day, offset)


def next_link(call: Call, cursor: Cursor, params: dict[str, str]) -> str:
    token = call.sim.save_skiptoken(cursor)
    query = urlencode({**params, "$skiptoken": token})
    base = call.sim.endpoints.graph + call.request.path
    return f"{base}?{query}"
