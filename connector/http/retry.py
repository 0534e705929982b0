"""Retry policy: tenacity, retrying only :class:`RetryableError`, honouring ``Retry-After`` (API notes section
6).

A response's ``Retry-After`` is waited exactly; without one the wait is exponential backoff with full jitter.
Retries stop on attempts *and* on total wait. A ``Retry-After`` above the cap raises
:class:`ThrottleCapExceeded` at once, so the source ends its run as throttled with its watermark untouched
instead of blocking a worker for an hour.
"""

import logging
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, retry_if_exception_type

from connector.clock import Clock
from connector.config import HttpSettings
from connector.errors import RetryableError, ThrottleCapExceeded, ThrottledError, TransportError

__all__ = ["ClientStats", "RetryPolicy", "parse_retry_after"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None when absent or unreadable.

    Accepts delta-seconds, including fractions (Graph's own example is ``2.128``), and the HTTP-date form. A
    date in the past means "now" (0).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            return None
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


@dataclass
class ClientStats:
    """What one client went through; a sync run records it. Thread-safe increments via :meth:`add`."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    transport_errors: int = 0
    token_renewals: int = 0
    retry_wait_seconds: float = 0.0
    paced_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: float) -> None:
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "transport_errors": self.transport_errors,
                "token_renewals": self.token_renewals,
                "retry_wait_seconds": self.retry_wait_seconds,
                "paced_seconds": self.paced_seconds,
            }


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried. Build it with :meth:`from_settings`; pass a seeded ``rng`` in tests."""

    max_attempts: int = 8
    max_total_wait_seconds: float = 900.0
    retry_after_cap_seconds: float = 300.0
    backoff_initial_seconds: float = 1.0
    backoff_max_seconds: float = 120.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_settings(cls, settings: HttpSettings, *, rng: random.Random | None = None) -> "RetryPolicy":
        return cls(
            max_attempts=settings.max_attempts,
            max_total_wait_seconds=settings.max_total_wait_seconds,
            retry_after_cap_seconds=settings.retry_after_cap_seconds,
            backoff_initial_seconds=settings.backoff_initial_seconds,
            backoff_max_seconds=settings.backoff_max_seconds,
            rng=rng or random.Random(),
        )

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before retry number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max_seconds, self.backoff_initial_seconds * 2 ** min(attempt - 1, 62))
        return self.rng.uniform(0.0, ceiling)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.retry_after is not None:
            return exc.retry_after
        return self.backoff(state.attempt_number)

    def _stop(self, state: RetryCallState) -> bool:
        if state.attempt_number >= self.max_attempts:
            return True
        # stop *before* a wait that would take the request past its total budget
        return state.idle_for + state.upcoming_sleep > self.max_total_wait_seconds

    def call(
        self,
        fn: Callable[[], T],
        *,
        clock: Clock,
        stats: ClientStats | None = None,
        what: str = "",
        retryable: Callable[[BaseException], bool] | None = None,
    ) -> T:
        """Run ``fn`` until it returns, raises a non-retryable error, or the attempt/wait budget is spent.

        ``retryable`` narrows which :class:`RetryableError` is retried (a non-idempotent call retries only
        429). Raises the last :class:`RetryableError` when the budget is spent, :class:`ThrottleCapExceeded`
        when Microsoft asks for a wait longer than the cap, and any non-retryable error from ``fn`` unchanged.
        """

        def attempt() -> T:
            try:
                return fn()
            except RetryableError as exc:
                if stats is not None:
                    if isinstance(exc, ThrottledError):
                        stats.add(throttled=1)
                    elif isinstance(exc, TransportError):
                        stats.add(transport_errors=1)
                if exc.retry_after is not None and exc.retry_after > self.retry_after_cap_seconds:
                    raise ThrottleCapExceeded(
                        f"Microsoft asked to wait {exc.retry_after:g} s, more than retry_after_cap_seconds "
                        f"({self.retry_after_cap_seconds:g} s): ending this run as throttled",
                        retry_after=exc.retry_after,
                        status=exc.status,
                        code=exc.code,
                        request_id=exc.request_id,
                        url=exc.url,
                    ) from None
                raise

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            if stats is not None:
                stats.add(retries=1, retry_wait_seconds=state.upcoming_sleep)
            log.warning(
                "%s attempt %d failed (%s); retrying in %.3g s",
                what or "request",
                state.attempt_number,
                exc,
                state.upcoming_sleep,
            )

        retrying = Retrying(
            retry=retry_if_exception(retryable) if retryable else retry_if_exception_type(RetryableError),
            wait=self._wait,
            stop=self._stop,
            sleep=clock.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)
