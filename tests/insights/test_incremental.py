"""The insights step is incremental: a run whose window has no day changed since the last run stops after one
read; a change in the window, a new day or other settings make it judge again."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.config import InsightsSettings
from connector.insights.detect import run_detection
from connector.store import Store, open_store, upsert
from models import MessageTrace

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=10)
    yield s
    s.close()


def _trace(i: int, at: datetime) -> dict[str, object]:
    return {"tenant": "contoso", "trace_id": f"t{i}", "message_id": f"<m{i}@x>",
            "sender_address": "printer@contoso.com", "recipient_address": "a@fabrikam.com", "received_at": at,
            "status": "delivered"}  # fmt: skip


def _write(store: Store, rows: list[dict[str, object]]) -> None:
    with store.transaction() as tx:
        upsert(tx, MessageTrace, rows, key=("tenant", "trace_id"))


def test_a_run_without_changes_in_its_window_stops_early(store: Store) -> None:
    cfg = InsightsSettings()
    _write(store, [_trace(i, NOW - timedelta(days=20, hours=i)) for i in range(30)])
    assert not run_detection(store, cfg, "contoso", NOW).skipped
    assert run_detection(store, cfg, "contoso", NOW).skipped
    # a row re-sent unchanged changes nothing; a new row in the window does
    _write(store, [_trace(0, NOW - timedelta(days=20))])
    assert run_detection(store, cfg, "contoso", NOW).skipped
    _write(store, [_trace(99, NOW - timedelta(hours=1))])
    assert not run_detection(store, cfg, "contoso", NOW).skipped
    assert run_detection(store, cfg, "contoso", NOW).skipped
    # a row far before the window does not concern it
    _write(store, [_trace(100, NOW - timedelta(days=200))])
    assert run_detection(store, cfg, "contoso", NOW).skipped
    # the next day moves the window; other settings judge differently
    assert not run_detection(store, cfg, "contoso", NOW + timedelta(days=1)).skipped
    assert not run_detection(store, InsightsSettings(baseline_days=21), "contoso", NOW + timedelta(days=1)).skipped
