"""Reading artifacts back, and the ground-truth report computed without the database."""

import csv
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connector.simulator import GroundTruth
from tests.artifacts.conftest import day_start


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def smtp_senders(truth: GroundTruth) -> set[str]:
    """Accounts the usage report or a successful Basic sign-in shows using SMTP AUTH (what the sync traces)."""
    pop = truth.pop
    return {a.upn for a in pop.senders if pop.smtp_days(a.index, pop.start, truth.now.date())}


def expected_volume(
    truth: GroundTruth, first: date, last: date, cs_days: tuple[date, ...]
) -> dict[tuple[date, str], int]:
    """Messages per (day, sender): SmtpCSReport days count SMTP AUTH messages, other days distinct trace ids."""
    out: dict[tuple[date, str], int] = {}
    senders = smtp_senders(truth)
    for d in days(first, last):
        if d in cs_days:
            for sender, per_day in truth.messages_per_sender_day(d, d).items():
                if per_day.get(d):
                    out[d, sender] = per_day[d]
        else:
            ids = truth.trace_message_ids(day_start(d), day_start(d + timedelta(days=1)) - timedelta(microseconds=1))
            for sender, mids in ids.items():
                if sender in senders and mids:
                    out[d, sender] = len(mids)
    return out


def expected_tls(truth: GroundTruth, cs_days: tuple[date, ...]) -> dict[str, dict[str, int]]:
    """Per sender the SmtpCSReport TLS counts over ``cs_days``."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in cs_days:
        for sender, counts in truth.tls_counts(
            day_start(d), day_start(d + timedelta(days=1)) - timedelta(microseconds=1)
        ).items():
            for version, n in counts.items():
                out[sender][version or "unknown"] += n
    return {s: dict(c) for s, c in out.items()}


def pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def num(text: str) -> Any:
    return None if text == "" else float(text) if "." in text else int(text)
