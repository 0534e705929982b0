"""Time as a dependency: every wait, deadline and "now" goes through a :class:`Clock` so tests take no time.

``SystemClock`` is the real one. ``FakeClock`` advances only when something sleeps on it (or a test moves it), so a
test can assert that a 429 with ``Retry-After: 7`` waited exactly 7 seconds.
"""

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC wall time."""

    def monotonic(self) -> float:
        """Seconds on a monotonic scale (only differences matter)."""

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (no-op for seconds <= 0)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that moves only when slept on or advanced. Thread-safe; records every sleep."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
        self._elapsed = 0.0
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            if seconds > 0:
                self._elapsed += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += seconds
