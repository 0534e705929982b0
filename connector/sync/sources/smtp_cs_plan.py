"""Which ``SmtpCSReport`` searches to submit next: pure planning over our job records (API notes section 4).

A search may reach at most 90 days back and its file at most 100,000 rows. Ranges are sized from the rows per
day of the files already loaded (aiming at ``FILL`` of the cap), and halved after a search failed for size.
A failed search (or one that never finished, or whose file could not be downloaded) is searched again, up to a
number of retries; a range that still fails is given up and shown in coverage.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.store.history import JobRecord

__all__ = [
    "FAILED",
    "IN_FLIGHT",
    "Plan",
    "Range",
    "estimate_days",
    "is_size_failure",
    "plan_retries",
    "split_range",
]

#: statuses of a search whose range must be searched again (ours: TimedOut, Unavailable)
FAILED = frozenset({"Failed", "Cancelled", "TimedOut", "Unavailable"})
#: statuses of a search Exchange is still working on
IN_FLIGHT = frozenset({"NotStarted", "InProgress", "Pending", "Queued", "Running"})
#: share of the row cap a range is sized for: volumes vary from day to day
FILL = 0.7
#: no range is split below this span
MIN_SPAN = timedelta(hours=1)

_SIZE = re.compile(
    r"\b(rows?|records?)\b.*\b(limit|more than|exceed\w*|maximum)\b|\b(more than|exceed\w*)\b.*\b(rows?|records?)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Range:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC"


@dataclass
class Plan:
    """Ranges to search again (retries first, oldest first) and ranges given up."""

    retries: list[Range]
    given_up: list[tuple[Range, str]]


def is_size_failure(error: str | None) -> bool:
    """Exchange refused the search because its report would exceed the row limit."""
    return bool(error and _SIZE.search(error))


def split_range(start: datetime, end: datetime, days: float) -> list[Range]:
    """``[start, end]`` cut into consecutive ranges of at most ``days`` (the last may be shorter)."""
    step = max(timedelta(days=days), MIN_SPAN)
    out: list[Range] = []
    while start < end:
        stop = min(start + step, end)
        out.append(Range(start, stop))
        start = stop
    return out


def estimate_days(jobs: Sequence[JobRecord], *, max_rows: int, default_days: float) -> float:
    """Days per search so that a file stays well under ``max_rows``.

    From the rows per day of the loaded files (the busiest one counts: volumes are uneven); no larger than
    half of any range that failed for size; ``default_days`` when nothing is known.
    """
    days = default_days
    rates = [j.file_rows / j.days for j in jobs if j.loaded_at is not None and j.file_rows and j.days > 0]
    if rates:
        days = min(days, FILL * max_rows / max(rates))
    for j in jobs:
        if j.status in FAILED and is_size_failure(j.error):
            days = min(days, j.days / 2)
    return max(days, MIN_SPAN.total_seconds() / 86400)


def _replacements(job: JobRecord) -> list[Range]:
    if is_size_failure(job.error):
        mid = job.start + (job.end - job.start) / 2
        return [Range(job.start, mid), Range(mid, job.end)]
    return [Range(job.start, job.end)]


def _exhausted(job: JobRecord, failures: int, max_retries: int) -> bool:
    if is_size_failure(job.error):
        return job.end - job.start <= 2 * MIN_SPAN
    return failures > max_retries


def plan_retries(jobs: Sequence[JobRecord], *, max_retries: int, oldest: datetime) -> Plan:
    """What to do about failed searches: each is replaced by the same range (or its halves after a size
    failure) until ``max_retries`` failures of one range; ranges older than ``oldest`` cannot be searched."""
    plan = Plan([], [])
    failures: dict[Range, int] = {}
    for job in jobs:
        if job.status in FAILED:
            key = Range(job.start, job.end)
            failures[key] = failures.get(key, 0) + 1
    for i, job in enumerate(jobs):
        if job.status not in FAILED:
            continue
        later = {Range(j.start, j.end) for j in jobs[i + 1 :]}
        missing = [r for r in _replacements(job) if r not in later]
        if not missing:
            continue
        reason = job.error or job.status
        if job.start < oldest:
            plan.given_up.append((Range(job.start, job.end), f"{reason} (now older than 90 days)"))
        elif _exhausted(job, failures[Range(job.start, job.end)], max_retries):
            plan.given_up.append((Range(job.start, job.end), reason))
        else:
            plan.retries.extend(r for r in missing if r not in plan.retries)
    plan.retries.sort(key=lambda r: r.start)
    return plan
