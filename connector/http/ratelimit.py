"""Pace requests to Microsoft's documented limits so a long sync rarely meets a 429.

Limits are sliding windows per (tenant, family). A family may carry several windows; the CSV usage reports
have a per-report-API window *and* a per-tenant window (API notes section 1), so a request for
``reports_csv:getEmailAppUsageUserDetail`` must fit both. All waits go through :meth:`Clock.sleep`.
"""

import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from connector.clock import Clock
from connector.http.families import (
    EXCHANGE,
    GRAPH,
    MESSAGE_TRACE,
    REPORT_SETTINGS,
    REPORTS_CSV,
    REPORTS_JSON,
    SIGNINS,
    base_family,
)

__all__ = ["DEFAULT_LIMITS", "RateLimiter", "Reservation", "Window"]


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``requests`` requests in any ``seconds``-long window.

    With ``per_api`` each sub-family (``reports_csv:<api>``) has a window of its own; otherwise the window is
    shared by the whole family.
    """

    requests: int
    seconds: float
    per_api: bool = False

    def __post_init__(self) -> None:
        if self.requests < 1 or self.seconds <= 0:
            raise ValueError("a rate window needs requests >= 1 and seconds > 0")


#: Documented limits (API notes sections 1-3), a little under the published numbers. Exchange admin REST has
#: no published limit [3p]: a conservative pace that a scan of Get-CASMailbox pages stays well within.
DEFAULT_LIMITS: Mapping[str, tuple[Window, ...]] = {
    REPORTS_CSV: (Window(14, 600.0, per_api=True), Window(40, 600.0)),
    REPORTS_JSON: (Window(100, 600.0),),
    REPORT_SETTINGS: (Window(100, 600.0),),
    SIGNINS: (Window(5, 10.0),),
    MESSAGE_TRACE: (Window(100, 300.0),),
    EXCHANGE: (Window(30, 60.0),),
    GRAPH: (Window(500, 10.0),),
}


class Reservation:
    """A granted request slot; ``complete()`` re-dates it to when the response came back."""

    __slots__ = ("_cells", "_clock", "waited")

    def __init__(self, clock: Clock, cells: list[list[float]], waited: float) -> None:
        self._clock = clock
        self._cells = cells
        self.waited = waited

    def complete(self) -> None:
        now = self._clock.monotonic()
        for cell in self._cells:
            cell.append(now)


class RateLimiter:
    """Sliding-window pacing per (tenant, family); thread-safe; shared by every client of a run.

    ``time_scale`` divides every window (a simulator running time 60x faster needs ``time_scale=60``).
    ``enabled=False`` (or :meth:`off`) never waits. Families without an entry use the ``graph`` limits.
    """

    def __init__(
        self,
        clock: Clock,
        limits: Mapping[str, tuple[Window, ...]] | None = None,
        *,
        time_scale: float = 1.0,
        enabled: bool = True,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        self._clock = clock
        self._limits = dict(DEFAULT_LIMITS if limits is None else limits)
        self._scale = time_scale
        self._enabled = enabled
        self._lock = threading.Lock()
        #: per (tenant, window key): one cell per request, [granted] or [granted, completed]
        self._sent: dict[tuple[str, str], deque[list[float]]] = {}
        self.waited_seconds = 0.0

    @classmethod
    def off(cls, clock: Clock) -> "RateLimiter":
        """A limiter that never waits (tests, replays, a user who has their own proxy pacing)."""
        return cls(clock, enabled=False)

    def _windows(self, family: str) -> list[tuple[str, Window]]:
        base = base_family(family)
        if base not in self._limits:
            # an unlisted family shares the generic Graph window rather than getting a free one of its own
            family = base = GRAPH
        return [(family if w.per_api else base, w) for w in self._limits.get(base, ())]

    def acquire(self, tenant: str, family: str) -> float:
        """Block until one more request of ``family`` for ``tenant`` fits every window; return the seconds
        waited. The slot is dated when it is granted; prefer :meth:`reserve` for requests that go on the wire."""
        return self.reserve(tenant, family).waited

    def reserve(self, tenant: str, family: str) -> "Reservation":
        """Like :meth:`acquire`, but the caller calls ``complete()`` on the result when the response is in.

        Microsoft counts requests when they *arrive*; a request sent early can arrive late, after a later one.
        Dating each slot by the moment its response came back (never earlier than its arrival) keeps the next
        request from landing inside the server's window even when latencies vary.
        """
        if not self._enabled:
            return Reservation(self._clock, [], 0.0)
        windows = self._windows(family)
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock.monotonic()
                delay = 0.0
                for key, window in windows:
                    span = window.seconds / self._scale
                    # completion can re-date a slot past later ones: keep every slot still inside the window
                    sent = deque(c for c in self._sent.get((tenant, key), ()) if max(c) > now - span)
                    self._sent[(tenant, key)] = sent
                    if len(sent) >= window.requests:
                        times = sorted(max(cell) for cell in sent)
                        delay = max(delay, times[len(times) - window.requests] + span - now)
                if delay <= 0:
                    cells = []
                    for key, _window in windows:
                        cell = [now]
                        self._sent[(tenant, key)].append(cell)
                        cells.append(cell)
                    self.waited_seconds += waited
                    return Reservation(self._clock, cells, waited)
            # sleep outside the lock so other tenants and families keep flowing
            self._clock.sleep(delay)
            waited += delay
