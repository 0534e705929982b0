"""The baseline hour profiles the off-hours rule compares with: on PostgreSQL one row per sender (the hours OR-ed
and the weekend messages summed by the database), elsewhere one row per sender-day folded in Python; both give
the same profiles, over weekdays and weekends, several hours a day and several senders."""

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.insights.queries import Window, hourly
from connector.store.readside.sql import Dialect
from connector.store.store import Store, open_store
from connector.store.upsert import upsert
from models import MessageTrace

START = datetime(2026, 10, 1, tzinfo=UTC)  # a Thursday: the 28 days hold four weekends


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = open_store(pg_url)
    yield s
    s.close()


@pytest.mark.postgres
def test_per_sender_profiles_equal_the_per_day_fold(store: Store) -> None:
    rng = random.Random(11)
    rows = []
    for n in range(3000):
        at = START + timedelta(days=rng.randrange(30), hours=rng.choice([2, 7, 8, 9, 13, 17, 22]), minutes=n % 60)
        sender = f"s{rng.randrange(12)}@contoso.com"
        rows.append({"tenant": "t1", "trace_id": f"t{n}", "message_id": f"<m{n % 2500}@x>", "sender_address": sender})
        rows[-1]["received_at"] = at
    with store.transaction() as tx:
        upsert(tx, MessageTrace, rows, key=("tenant", "trace_id"))
    w = Window("t1", START, START + timedelta(days=28), START + timedelta(days=30))
    with store.read() as conn:
        per_sender = hourly(conn, Dialect("postgresql"), w)
        per_day = hourly(conn, Dialect("sqlite"), w)  # the fold's statement runs on PostgreSQL too
    assert per_sender == per_day
    baseline = per_sender[0]
    assert len(baseline) == 12
    assert all(len(hours) > 1 for hours, _, _ in baseline.values())
    assert all(0 < weekend < total for _, total, weekend in baseline.values())
    assert per_sender[1], "the judged days have hours too"
