"""Which ``SmtpCSReport`` searches to submit next: pure planning over our job records (API notes sections 4, 9).

A search may reach at most 90 days back, its file at most 100,000 rows, and it names at most 100 senders
(``SenderAddress``): senders are cut into chunks of ``MAX_SENDERS``, one search per chunk and range. Ranges are
sized from the rows per day of the files already loaded (aiming at ``FILL`` of the cap), and halved after a search
failed for size. A failed search (or one that never finished, or whose file could not be downloaded) is searched
again with the same senders, up to a number of retries; a range that still fails is given up and shown in
coverage.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.store.history import JobRecord

__all__ = [
    "FAILED",
    "IN_FLIGHT",
    "MAX_SENDERS",
    "Plan",
    "Range",
    "estimate_days",
    "is_size_failure",
    "plan_retries",
    "sender_chunks",
    "split_range",
]

#: most addresses Start-HistoricalSearch takes in SenderAddress
MAX_SENDERS = 100

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
    #: the senders searched (SenderAddress), sorted
    senders: tuple[str, ...] = ()

    def __str__(self) -> str:
        who = f", {len(self.senders)} sender(s)" if self.senders else ""
        return f"{self.start:%Y-%m-%d %H:%M}..{self.end:%Y-%m-%d %H:%M} UTC{who}"


def sender_chunks(senders: Sequence[str], size: int = MAX_SENDERS) -> list[tuple[str, ...]]:
    """``senders`` sorted and cut into chunks of at most ``size`` (one search each)."""
    ordered = sorted(set(senders))
    return [tuple(ordered[i : i + size]) for i in range(0, len(ordered), size)]


@dataclass
class Plan:
    """Ranges to search again (retries first, oldest first) and ranges given up."""

    retries: list[Range]
    given_up: list[tuple[Range, str]]


def is_size_failure(error: str | None) -> bool:
    """Exchange refused the search because its report would exceed the row limit."""
    return bool(error and _SIZE.search(error))


def split_range(start: datetime, end: datetime, days: float, senders: tuple[str, ...] = ()) -> list[Range]:
    """``[start, end]`` cut into consecutive ranges of at most ``days`` (the last may be shorter)."""
    step = max(timedelta(days=days), MIN_SPAN)
    out: list[Range] = []
    while start < end:
        stop = min(start + step, end)
        out.append(Range(start, stop, senders))
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


def _key(job: JobRecord) -> Range:
    return Range(job.start, job.end, job.senders)


def _replacements(job: JobRecord) -> list[Range]:
    if is_size_failure(job.error):
        mid = job.start + (job.end - job.start) / 2
        return [Range(job.start, mid, job.senders), Range(mid, job.end, job.senders)]
    return [_key(job)]


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
            failures[_key(job)] = failures.get(_key(job), 0) + 1
    for i, job in enumerate(jobs):
        if job.status not in FAILED:
            continue
        if not job.senders:
            # a search made before senders were sent: its range is searched again by the senders' own frontiers
            continue
        later = {_key(j) for j in jobs[i + 1 :]}
        missing = [r for r in _replacements(job) if r not in later]
        if not missing:
            continue
        reason = job.error or job.status
        if job.start < oldest:
            plan.given_up.append((_key(job), f"{reason} (now older than 90 days)"))
        elif _exhausted(job, failures[_key(job)], max_retries):
            plan.given_up.append((_key(job), reason))
        else:
            plan.retries.extend(r for r in missing if r not in plan.retries)
    plan.retries.sort(key=lambda r: (r.start, r.senders))
    return plan
