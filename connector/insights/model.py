"""What a rule produces: a candidate finding, before it is merged with the stored ones."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

__all__ = ["Candidate", "day_end", "day_start", "max_severity", "severity_rank"]

_RANK = {"low": 0, "medium": 1, "high": 2}


def severity_rank(severity: str) -> int:
    return _RANK[severity]


def max_severity(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


def day_end(d: date) -> datetime:
    """The first instant after ``d`` (windows are half-open)."""
    return day_start(d + timedelta(days=1))


@dataclass
class Candidate:
    """A finding as one run sees it. ``evidence`` is JSON-ready; its ``days`` dict is merged across runs."""

    kind: str
    severity: str
    account: str
    window_start: datetime
    window_end: datetime
    summary: str
    action: str
    evidence: dict[str, Any] = field(default_factory=dict)
