"""The baseline hour profiles the off-hours rule compares with, folded from the sender-day rows' hour masks, equal
the profiles computed from the raw message-trace rows: the hours sent in, the distinct messages of each hour summed,
the weekend part of them; over weekdays and weekends, several hours a day, messages whose rows fall in two hours,
rows without a message id, and a re-sent row that moves to another hour."""

import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from connector.insights.queries import Window, hourly, sender_days
from connector.store.store import Store, open_store
from connector.store.upsert import upsert
from models import MessageTrace

START = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday: the 28 days hold four weekends
tr: sa.Table = MessageTrace.__table__  # type: ignore[attr-defined]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


def _rows(rng: random.Random, first: int, count: int) -> list[dict[str, object]]:
    rows = []
    for n in range(first, first + count):
        hour = rng.choice([2, 7, 8, 9, 13, 17, 22])
        at = START + timedelta(days=rng.randrange(30), hours=hour, minutes=rng.randrange(60))
        sender = f"s{rng.randrange(12)}@contoso.com"
        message_id = None if n % 7 == 0 else f"<m{n % 2500}@x>"  # ids shared across rows, hours and days
        rows.append(
            {"tenant": "t1", "trace_id": f"t{n}", "message_id": message_id, "sender_address": sender, "received_at": at}
        )
    return rows


def _oracle(store: Store, w: Window) -> dict[str, tuple[frozenset[int], int, int]]:
    """Per sender over the baseline days: the UTC hours, the distinct messages per (day, hour) summed, and the
    weekend part; from the raw rows in Python."""
    per_hour: dict[tuple[str, object, int], set[str]] = defaultdict(set)
    with store.read() as conn:
        for r in conn.execute(sa.select(tr).where(tr.c.tenant == w.tenant)):
            at = r.received_at.astimezone(UTC)
            if w.baseline_start <= at < w.judged_start:
                per_hour[(r.sender_address, at.date(), at.hour)].add(r.message_id or r.trace_id)
    hours: dict[str, set[int]] = defaultdict(set)
    totals: dict[str, int] = defaultdict(int)
    weekends: dict[str, int] = defaultdict(int)
    for (sender, day, hour), ids in per_hour.items():
        hours[sender].add(hour)
        totals[sender] += len(ids)
        weekends[sender] += len(ids) if day.weekday() >= 5 else 0  # type: ignore[attr-defined]
    return {s: (frozenset(h), totals[s], weekends[s]) for s, h in hours.items()}


def test_profiles_from_the_sender_day_masks_equal_the_raw_rows(store: Store) -> None:
    rng = random.Random(11)
    with store.transaction() as tx:
        upsert(tx, MessageTrace, _rows(rng, 0, 3000), key=("tenant", "trace_id"))
    moved = _rows(rng, 0, 200)  # re-sent: other senders, days and hours for the first 200 trace ids
    with store.transaction() as tx:
        upsert(tx, MessageTrace, moved, key=("tenant", "trace_id"))
    w = Window("t1", START, START + timedelta(days=28), START + timedelta(days=30))
    with store.read() as conn:
        days = sender_days(conn, w)
        baseline, judged = hourly(conn, w, days)
    assert baseline == _oracle(store, w)
    assert len(baseline) == 12
    assert all(len(hours) > 1 for hours, _, _ in baseline.values())
    assert all(0 < weekend < total for _, total, weekend in baseline.values())
    per_day = sum(r.trace_messages for r in days if r.day < w.judged_start.date())
    assert sum(total for _, total, _ in baseline.values()) > per_day, "a message in two hours counts in each"
    assert judged, "the judged days have hours too"
    assert {day for _, day, _, _, _ in judged} <= {START.date() + timedelta(days=k) for k in (28, 29, 30)}
