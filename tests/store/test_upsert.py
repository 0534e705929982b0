from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from connector.errors import StorageError
from connector.store import Store, UpsertResult, get_watermark, open_store, set_watermark, upsert
from models import MessageTrace, SignIn

KEY = ("tenant", "trace_id")
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=5)
    yield s
    s.close()


def _trace(i: int, **over: Any) -> dict[str, Any]:
    row = {
        "tenant": "contoso",
        "trace_id": f"t{i}",
        "message_id": f"<m{i // 2}@contoso.com>",
        "sender_address": f"printer{i % 3}@contoso.com",
        "recipient_address": f"r{i}@fabrikam.com",
        "received_at": T0 + timedelta(seconds=i),
        "status": "delivered",
        "size": 1000 + i,
        "subject": "scan",
        "from_ip": "203.0.113.7",
        "to_ip": None,
    }
    return row | over


def _count(store: Store) -> int:
    with store.read() as conn:
        return int(conn.exec_driver_sql("SELECT count(*) FROM message_trace").scalar_one())


def test_second_identical_upsert_changes_nothing(store: Store) -> None:
    rows = [_trace(i) for i in range(2500)]
    with store.transaction() as tx:
        first = upsert(tx, MessageTrace, rows, key=KEY, batch_size=1000)
    with store.transaction() as tx:
        second = upsert(tx, MessageTrace, rows, key=KEY, batch_size=1000)
    assert first == UpsertResult(inserted=2500)
    assert second == UpsertResult(unchanged=2500)
    assert _count(store) == 2500


def test_changed_rows_are_counted_as_updated(store: Store) -> None:
    with store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(i) for i in range(10)], key=KEY)
    changed = [_trace(i, status="failed") if i < 3 else _trace(i) for i in range(12)]
    with store.transaction() as tx:
        result = upsert(tx, MessageTrace, changed, key=KEY)
    assert result == UpsertResult(inserted=2, updated=3, unchanged=7)
    with store.read() as conn:
        statuses = conn.exec_driver_sql("SELECT status, count(*) FROM message_trace GROUP BY status").all()
    assert dict(statuses) == {"failed": 3, "delivered": 9}


def test_null_to_value_and_back_counts_as_a_change(store: Store) -> None:
    with store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1, to_ip=None)], key=KEY)
        assert upsert(tx, MessageTrace, [_trace(1, to_ip="10.0.0.1")], key=KEY).updated == 1
        assert upsert(tx, MessageTrace, [_trace(1, to_ip=None)], key=KEY).updated == 1
        assert upsert(tx, MessageTrace, [_trace(1, to_ip=None)], key=KEY).unchanged == 1


def test_duplicate_keys_in_one_batch_last_wins(store: Store) -> None:
    rows = [_trace(1, status="pending"), _trace(2), _trace(1, status="delivered")]
    with store.transaction() as tx:
        result = upsert(tx, MessageTrace, rows, key=KEY)
    assert result == UpsertResult(inserted=2, duplicates=1)
    with store.read() as conn:
        status = conn.exec_driver_sql("SELECT status FROM message_trace WHERE trace_id = 't1'").scalar_one()
    assert status == "delivered"


def test_columns_absent_from_the_rows_are_left_alone(store: Store) -> None:
    with store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1)], key=KEY)
        tx.exec_driver_sql("UPDATE message_trace SET from_smtp_signin_ip = true")
        assert upsert(tx, MessageTrace, [_trace(1, status="failed")], key=KEY).updated == 1
        flag = tx.exec_driver_sql("SELECT from_smtp_signin_ip FROM message_trace").scalar_one()
    assert bool(flag) is True


def test_datetimes_round_trip_as_aware_utc(store: Store) -> None:
    plus2 = timezone(timedelta(hours=2))
    local = datetime(2026, 11, 20, 10, 30, 15, 123456, tzinfo=plus2)
    with store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1, received_at=local)], key=KEY)
    with store.read() as conn:
        got = conn.execute(sa.select(MessageTrace.__table__.c.received_at)).scalar_one()  # type: ignore[attr-defined]
    assert got == local
    assert got.tzinfo == UTC
    assert got.hour == 8


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StorageError, match="naive"), store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1, received_at=datetime(2026, 11, 20, 8, 0))], key=KEY)
    assert _count(store) == 0


def test_key_must_be_a_unique_constraint(store: Store) -> None:
    with pytest.raises(StorageError, match="no unique constraint"), store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1)], key=("trace_id",))


def test_rows_with_different_columns_are_refused(store: Store) -> None:
    rows = [_trace(1), {k: v for k, v in _trace(2).items() if k != "subject"}]
    with pytest.raises(StorageError, match="different columns"), store.transaction() as tx:
        upsert(tx, MessageTrace, rows, key=KEY)


def test_a_database_error_becomes_a_storage_error(store: Store) -> None:
    with pytest.raises(StorageError, match="message_trace"), store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1, sender_address=None)], key=KEY)


def test_rows_are_consumed_lazily(store: Store) -> None:
    def rows() -> Iterator[dict[str, Any]]:
        for i in range(5000):
            yield _trace(i)

    with store.transaction() as tx:
        assert upsert(tx, MessageTrace, rows(), key=KEY, batch_size=700).inserted == 5000


def test_watermark_moves_with_the_rows_or_not_at_all(store: Store) -> None:
    with store.transaction() as tx:
        upsert(tx, MessageTrace, [_trace(1)], key=KEY)
        set_watermark(tx, "contoso", "message_trace", "received_at", "2026-11-20T08:00:00Z", now=T0)

    class CrashError(Exception):
        pass

    def crashing_sync() -> None:
        with store.transaction() as tx:
            upsert(tx, MessageTrace, [_trace(i) for i in range(2, 50)], key=KEY)
            set_watermark(tx, "contoso", "message_trace", "received_at", "2026-11-21T00:00:00Z", now=T0)
            raise CrashError

    with pytest.raises(CrashError):
        crashing_sync()
    with store.read() as conn:
        assert get_watermark(conn, "contoso", "message_trace", "received_at") == "2026-11-20T08:00:00Z"
    assert _count(store) == 1


def test_session_is_accepted(store: Store) -> None:
    from sqlmodel import Session

    with Session(store.engine) as session:
        row = {
            "tenant": "contoso",
            "signin_id": "s1",
            "created_at": T0,
            "client_app_used": "Authenticated SMTP",
        }
        assert upsert(session, SignIn, [row], key=("tenant", "signin_id")).inserted == 1
        session.commit()
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT signin_id FROM signin").scalar_one() == "s1"


def test_stored_rows_are_looked_up_for_moved_keys_only_when_a_batch_updates(store: Store) -> None:
    """The old (day, sender) of stored rows is read only for a batch that updated rows: new and unchanged rows
    cannot have moved, so a first sync and a re-sent page write without looking their rows up first. A batch
    that moves a row is undone, its old keys read, and run again: it counts as one update."""
    lookups: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
        text = " ".join(statement.split()).lower()
        # moved_keys: the stored rows' keys with their day and sender (the rollups' own reads group, never this)
        if text.startswith("select message_trace.trace_id") or text.startswith(
            "select message_trace.tenant, message_trace.trace_id"
        ):
            lookups.append(text)

    sa.event.listen(store.engine, "before_cursor_execute", seen)
    try:
        with store.transaction() as tx:
            first = upsert(tx, MessageTrace, [_trace(i) for i in range(6)], key=KEY)
        with store.transaction() as tx:
            again = upsert(tx, MessageTrace, [_trace(i) for i in range(6)], key=KEY)
        assert (first.inserted, again.unchanged) == (6, 6)
        assert lookups == []
        with store.transaction() as tx:
            moved = upsert(tx, MessageTrace, [_trace(i, sender_address="scanner@contoso.com") for i in (0, 1)], key=KEY)
        assert (moved.inserted, moved.updated, moved.unchanged) == (0, 2, 0)
        assert len(lookups) == 1
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", seen)
    with store.read() as conn:
        senders = conn.execute(sa.text("SELECT trace_id, sender_address FROM message_trace ORDER BY trace_id")).all()
    assert [tuple(r) for r in senders][:2] == [("t0", "scanner@contoso.com"), ("t1", "scanner@contoso.com")]
