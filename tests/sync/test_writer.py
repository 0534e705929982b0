"""Group commit: pages that arrive together share a transaction; a wait, a size cap or an age cap commits; a page
that fails rolls back alone and the pages before it are kept; counts describe only what was committed."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

import pytest
import sqlalchemy as sa

from connector.errors import StorageError
from connector.store.store import Store, open_store
from connector.sync.context import SourceRun, TenantContext
from connector.sync.progress import LogProgress
from connector.sync.writer import GroupWriter
from models import MessageTrace

KEY = ("tenant", "trace_id")
_trace: sa.Table = MessageTrace.__table__  # type: ignore[attr-defined]


@pytest.fixture
def store(db_url: str) -> Store:
    s = open_store(db_url)
    yield s  # type: ignore[misc]
    s.close()


def _run(store: Store) -> SourceRun:
    ctx = SimpleNamespace(tenant=SimpleNamespace(name="contoso"), store=store)
    return SourceRun(cast(TenantContext, ctx), "message_trace", 1, LogProgress())


def _page(first: int, n: int = 100) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    return [
        {
            "tenant": "contoso",
            "trace_id": f"t{i:06d}",
            "message_id": f"<m{i}@contoso.com>",
            "sender_address": "scanner@contoso.com",
            "received_at": at + timedelta(seconds=i),
            "status": "delivered",
        }
        for i in range(first, first + n)
    ]


def _committed(store: Store) -> int:
    # a separate connection sees only committed rows
    with store.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(_trace)).scalar_one())


def _load(writer: GroupWriter, run: SourceRun, rows: list[dict[str, Any]]) -> None:
    with writer.step() as tx:
        run.load(tx, MessageTrace, KEY, rows)


def test_pages_that_arrive_together_share_one_commit(store: Store) -> None:
    run = _run(store)
    with GroupWriter(store, run) as writer:
        for page in range(10):
            _load(writer, run, _page(page * 100))
            writer.pause(next_ready=True)
        assert writer.commits == 0
    assert writer.commits == 1
    assert _committed(store) == 1000
    assert run.counts.rows_inserted == 1000


def test_a_page_that_has_not_arrived_commits_what_is_stored_first(store: Store) -> None:
    run = _run(store)
    with GroupWriter(store, run) as writer:
        _load(writer, run, _page(0))
        writer.pause(next_ready=True)
        assert _committed(store) == 0
        writer.pause(next_ready=False)
        # durable before the sync waits on the network, and the write lock is free meanwhile
        assert writer.commits == 1
        assert _committed(store) == 100
        with store.transaction() as other:
            other.execute(sa.update(_trace).values(status="other writer"))
        _load(writer, run, _page(100))
    assert _committed(store) == 200


def test_size_and_age_caps_commit_although_the_next_page_is_there(store: Store, monkeypatch: Any) -> None:
    run = _run(store)
    with GroupWriter(store, run, max_rows=250) as writer:
        for page in range(3):
            _load(writer, run, _page(page * 100))
            writer.pause(next_ready=True)
        assert writer.commits == 1
        assert _committed(store) == 300
    cpu, wall = [1000.0], [5000.0]
    monkeypatch.setattr("connector.sync.writer.time.thread_time", lambda: cpu[0])
    monkeypatch.setattr("connector.sync.writer.time.monotonic", lambda: wall[0])
    with GroupWriter(store, run, max_seconds=2.0, max_wall_seconds=10.0) as writer:
        _load(writer, run, _page(300))
        wall[0] += 9.0  # a loaded machine: much wall time, little work
        cpu[0] += 1.0
        writer.pause(next_ready=True)
        assert writer.commits == 0
        cpu[0] += 1.5  # 2.5 s of CPU time since the group opened
        _load(writer, run, _page(400))
        writer.pause(next_ready=True)
        assert writer.commits == 1
        _load(writer, run, _page(500))
        wall[0] += 10.5  # the wall-clock ceiling, whatever the CPU time
        writer.pause(next_ready=True)
        assert writer.commits == 2


def test_a_failing_page_rolls_back_alone_and_the_pages_before_it_are_kept(store: Store) -> None:
    run = _run(store)
    broken = _page(200)
    broken[50]["received_at"] = datetime(2026, 11, 20, 8, 0)  # naive: refused by the column type

    def three_pages() -> None:
        with GroupWriter(store, run) as writer:
            _load(writer, run, _page(0))
            writer.pause(next_ready=True)
            _load(writer, run, _page(100))
            writer.pause(next_ready=True)
            _load(writer, run, broken)

    with pytest.raises(StorageError, match="naive"):
        three_pages()
    assert _committed(store) == 200
    assert run.counts.rows_inserted == 200


def test_rows_of_a_rolled_back_group_are_not_counted(store: Store) -> None:
    run = _run(store)
    writer = GroupWriter(store, run)
    _load(writer, run, _page(0))
    writer.commit()
    _load(writer, run, _page(100))
    assert run.counts.rows_inserted == 200
    writer.rollback()
    assert run.counts.rows_inserted == 100
    assert _committed(store) == 100
