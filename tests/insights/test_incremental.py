"""The insights step is incremental by changed days: a run whose window has no day changed since the last run
stops after one read; a run after a change judges from the first changed day of the judged window (with the
baseline before it); a changed baseline day or other settings make it judge the whole window again."""

import importlib
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
    # the next day moves the window, but no day changed: nothing to judge again
    assert run_detection(store, cfg, "contoso", NOW + timedelta(days=1)).skipped
    # other settings judge differently
    assert not run_detection(store, InsightsSettings(baseline_days=21), "contoso", NOW + timedelta(days=1)).skipped


def test_a_run_judges_the_changed_days_with_their_baseline(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a nightly sync only the new day is judged (its baseline read before it): a spike on it is found as
    by a full run; a change in a baseline day judges the whole window."""
    det = importlib.import_module("connector.insights.detect")

    cfg = InsightsSettings()
    quiet = [_trace(i, NOW - timedelta(days=40 - i // 3, hours=1)) for i in range(3 * 38)]
    _write(store, quiet)
    windows: list[tuple[datetime, datetime]] = []
    real_window = det._window

    def spy(cfg: InsightsSettings, tenant: str, now: datetime, first_changed: object = None) -> object:
        w = real_window(cfg, tenant, now, first_changed)  # type: ignore[arg-type]
        windows.append((w.baseline_start, w.judged_start))
        return w

    monkeypatch.setattr(det, "_window", spy)
    first = run_detection(store, cfg, "contoso", NOW)
    assert not first.skipped
    full_judged_start = windows[-1][1]
    assert full_judged_start == datetime(2026, 11, 22, tzinfo=UTC)  # the 7-day lookback
    # the nightly sync: a spike on the next day only
    tomorrow = NOW + timedelta(days=1)
    _write(store, [_trace(1000 + i, tomorrow - timedelta(hours=2, seconds=i)) for i in range(200)])
    second = run_detection(store, cfg, "contoso", tomorrow)
    assert not second.skipped
    assert windows[-1] == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
    spikes = [c for c in second.candidates if c.kind == "volume_spike"]
    assert [c.window_start for c in spikes] == [datetime(2026, 11, 29, tzinfo=UTC)]
    assert spikes == [c for c in det.detect(store, cfg, "contoso", tomorrow) if c.kind == "volume_spike"]
    # a baseline day changed (a late row 20 days back): the whole window again
    _write(store, [_trace(5000, tomorrow - timedelta(days=20))])
    assert not run_detection(store, cfg, "contoso", tomorrow).skipped
    assert windows[-1][1] == datetime(2026, 11, 23, tzinfo=UTC)
