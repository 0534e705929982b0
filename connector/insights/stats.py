"""Robust statistics on small per-account series (pure functions)."""

from collections.abc import Iterable, Sequence
from statistics import median

__all__ = ["MAD_SCALE", "longest_quiet_block", "median_mad"]

#: MAD x 1.4826 estimates the standard deviation of normally distributed data
MAD_SCALE = 1.4826


def median_mad(values: Sequence[float]) -> tuple[float, float]:
    """Median and median absolute deviation of ``values`` (0, 0 for an empty series)."""
    if not values:
        return 0.0, 0.0
    m = float(median(values))
    return m, float(median(abs(v - m) for v in values))


def longest_quiet_block(active_hours: Iterable[int]) -> list[int]:
    """The longest run of consecutive hours of the day (wrapping at midnight) absent from ``active_hours``, in
    clock order from its first hour."""
    active = set(active_hours)
    if not active:
        return list(range(24))
    best: list[int] = []
    run: list[int] = []
    start = next(h for h in range(24) if h in active)
    for k in range(1, 25):
        h = (start + k) % 24
        if h in active:
            best = run if len(run) > len(best) else best
            run = []
        else:
            run.append(h)
    return best if len(best) >= len(run) else run
