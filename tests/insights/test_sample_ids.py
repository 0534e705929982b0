"""A finding's sample message ids: distinct ids (the message id, else the trace id) of its sender inside its window
only, at most SAMPLE_IDS of them, sorted; on PostgreSQL the smallest ones, whatever plan the statistics choose
(the window of a nightly finding is the day just stored, past what ANALYZE has seen). On SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.insights import queries
from connector.insights.queries import SAMPLE_IDS, sample_ids, sample_ids_many
from connector.store.store import Store, open_store
from models import MessageTrace

DAY = datetime(2026, 11, 28, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


def _row(n: int, sender: str, at: datetime, message_id: str | None) -> dict[str, object]:
    return {
        "tenant": "t1",
        "trace_id": f"trace-{n:04d}",
        "message_id": message_id,
        "sender_address": sender,
        "recipient_address": f"r{n}@fabrikam.com",
        "received_at": at,
        "status": "delivered",
    }


def test_sample_ids_of_the_sender_inside_the_window(store: Store) -> None:
    rows = []
    # the sender inside the window: 30 messages, each to two recipients, the last five without a message id
    for k in range(30):
        mid = None if k >= 25 else f"<m{k:02d}@contoso.com>"
        for r in range(2):
            rows.append(_row(100 * k + r, "app@contoso.com", DAY + timedelta(minutes=10 * k), mid))
    # the same sender just outside the window, another sender inside it, another tenant
    rows.append(_row(9001, "app@contoso.com", DAY - timedelta(seconds=1), "<a-before@contoso.com>"))
    rows.append(_row(9002, "app@contoso.com", DAY + timedelta(days=1), "<a-after@contoso.com>"))
    rows.append(_row(9003, "other@contoso.com", DAY + timedelta(hours=1), "<a-other@contoso.com>"))
    rows.append({**_row(9004, "app@contoso.com", DAY, "<a-t2@contoso.com>"), "tenant": "t2"})
    with store.transaction() as tx:
        store.upsert(tx, MessageTrace, rows, key=("tenant", "trace_id"))
    inside = {f"<m{k:02d}@contoso.com>" for k in range(25)}
    inside |= {f"trace-{100 * k + r:04d}" for k in range(25, 30) for r in range(2)}
    with store.read() as conn:
        got = sample_ids(conn, "t1", "app@contoso.com", DAY, DAY + timedelta(days=1))
        last = sample_ids(conn, "t1", "app@contoso.com", DAY + timedelta(minutes=285), DAY + timedelta(days=1))
        none = sample_ids(conn, "t1", "nobody@contoso.com", DAY, DAY + timedelta(days=1))
    assert len(got) == SAMPLE_IDS
    assert len(set(got)) == SAMPLE_IDS
    assert got == sorted(got)
    assert set(got) <= inside
    if store.dialect == "postgresql":
        assert got == sorted(inside)[:SAMPLE_IDS]
    # fewer than SAMPLE_IDS in the window (the last message, at 290 minutes, without a message id): all of them
    assert last == ["trace-2900", "trace-2901"]
    assert none == []


@pytest.mark.parametrize("span_read_min", [2, 1000], ids=["span", "windows"])
def test_sample_ids_of_many_windows_are_each_windows_own(
    store: Store, monkeypatch: pytest.MonkeyPatch, span_read_min: int
) -> None:
    """The batched reads (PostgreSQL: a span's windows in one read of the span, or one statement per batch of
    windows) give every window what ``sample_ids`` gives it, across batches, for repeated windows and for windows
    without a message."""
    monkeypatch.setattr(queries, "SAMPLE_BATCH", 3)
    monkeypatch.setattr(queries, "SPAN_READ_MIN", span_read_min)
    rows = [
        _row(100 * s + k, f"s{s}@contoso.com", DAY + timedelta(hours=k), f"<s{s}-{k:02d}@contoso.com>")
        for s in range(4)
        for k in range(0, 24, s + 1)
    ]
    # s2 (hours 0, 3, ... 21): the rows of hours 0, 6, 12 and 18 without a message id (their trace ids count), the
    # messages of hours 3 and 9 to a second recipient (one id each)
    for row in rows:
        if row["sender_address"] == "s2@contoso.com" and row["received_at"].hour % 6 == 0:  # type: ignore[attr-defined]
            row["message_id"] = None
    rows += [_row(5000 + k, "s2@contoso.com", DAY + timedelta(hours=k), f"<s2-{k:02d}@contoso.com>") for k in (3, 9)]
    with store.transaction() as tx:
        store.upsert(tx, MessageTrace, rows, key=("tenant", "trace_id"))
    windows = [
        (f"s{s}@contoso.com", DAY + timedelta(hours=a), DAY + timedelta(hours=b))
        for s in range(5)
        for a, b in ((0, 24), (3, 9), (23, 48))
    ]
    windows.append(windows[0])
    with store.read() as conn:
        many = sample_ids_many(conn, "t1", windows)
        one = {w: sample_ids(conn, "t1", *w) for w in windows}
    assert many == one
    assert len(many[windows[0]]) == SAMPLE_IDS
    # the rows without a message id show their trace ids, a message to two recipients shows once
    assert many[("s2@contoso.com", DAY, DAY + timedelta(hours=24))] == sorted(
        [*(f"<s2-{k:02d}@contoso.com>" for k in (3, 9, 15, 21)), *(f"trace-{200 + k:04d}" for k in (0, 6, 12, 18))]
    )
    assert many[("s4@contoso.com", DAY, DAY + timedelta(hours=24))] == []
    assert many[("s1@contoso.com", DAY + timedelta(hours=3), DAY + timedelta(hours=9))] == [
        "<s1-04@contoso.com>",
        "<s1-06@contoso.com>",
        "<s1-08@contoso.com>",
    ]
