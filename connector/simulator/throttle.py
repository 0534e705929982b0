"""Sliding-window request limits with the numbers of the API notes, and request counters.

A limit admits ``limit`` requests per ``window`` seconds of simulated time divided by ``time_scale`` (so a
demo or
test can live through a 10-minute window in seconds). Rejected requests do not count against the window.
"""

import threading
from collections import Counter, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

__all__ = ["Limit", "Stats", "ThrottleConfig", "Throttler"]


@dataclass(frozen=True, slots=True)
class Limit:
    limit: int
    window: float

    def __str__(self) -> str:
        return f"{self.limit} requests / {self.window:g} s"


@dataclass(slots=True)
class ThrottleConfig:
    """Every documented limit (API notes sections 1-3). ``enabled=False`` turns all of them off."""

    enabled: bool = True
    #: divides every window (and every Retry-After): 60 makes a 10-minute window last 10 seconds
    time_scale: float = 1.0
    #: usage report CSV, per app per tenant, counted per report API
    reports_csv_per_app: Limit = field(default_factory=lambda: Limit(14, 600))
    #: usage report CSV, per tenant, counted per report API
    reports_csv_per_tenant: Limit = field(default_factory=lambda: Limit(40, 600))
    #: beta JSON usage reports, per app per tenant
    reports_json_per_app: Limit = field(default_factory=lambda: Limit(100, 600))
    #: sign-in logs, per app per tenant
    signins_per_app: Limit = field(default_factory=lambda: Limit(5, 10))
    #: Graph message trace, per tenant
    message_trace_per_tenant: Limit = field(default_factory=lambda: Limit(100, 300))


class Throttler:
    """Keeps one window per key; thread-safe. ``check`` returns None (admitted) or the seconds to wait."""

    def __init__(self, config: ThrottleConfig, monotonic: Callable[[], float]) -> None:
        self.config = config
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._windows: dict[Hashable, deque[float]] = {}

    def check(self, *keyed: tuple[Hashable, Limit]) -> float | None:
        """Admit one request against every (key, limit) pair, or none of them. Returns the wait in seconds
        (already divided by ``time_scale``) when a limit is reached."""
        if not self.config.enabled:
            return None
        now = self._monotonic()
        scale = self.config.time_scale
        with self._lock:
            wait = 0.0
            for key, lim in keyed:
                window = lim.window / scale
                q = self._windows.setdefault(key, deque())
                while q and q[0] <= now - window:
                    q.popleft()
                if len(q) >= lim.limit:
                    wait = max(wait, q[0] + window - now)
            if wait > 0:
                return wait
            for key, _ in keyed:
                self._windows[key].append(now)
            return None

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()


class Stats:
    """Counters for tests and benchmarks: ``requests.<family>``, ``throttled.<family>``, ``faults.<kind>``,
    ``download_auth_violations``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)
