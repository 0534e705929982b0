import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.errors import RecordError, StorageError, ThrottleCapExceeded
from connector.store import (
    RunCounts,
    Store,
    UpsertResult,
    finish_run,
    mark_interrupted_runs,
    open_store,
    record_skipped,
    set_coverage,
    start_run,
)
from connector.store.owner import current_owner, owner_state

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=5)
    yield s
    s.close()


def test_a_run_is_started_and_finished(store: Store) -> None:
    with store.transaction() as tx:
        run = start_run(tx, tenant="contoso", source="signins", run_id="r1", now=NOW)
    counts = RunCounts(rows_skipped=1, retries=2, throttled_count=1)
    counts.add(UpsertResult(inserted=5, updated=2, unchanged=3))
    error = ThrottleCapExceeded("Graph asked to wait 3600 s", retry_after=3600, status=429)
    with store.transaction() as tx:
        finish_run(
            tx,
            run,
            status="throttled",
            now=NOW + timedelta(minutes=1),
            counts=counts,
            error=error,
            request_ids=["a"],
        )
    with store.read() as conn:
        row = conn.exec_driver_sql(
            "SELECT status, rows_seen, rows_inserted, rows_updated, error_class, error_message, request_ids, "
            "ended_at FROM sync_run"
        ).one()
    assert row[:5] == ("throttled", 10, 5, 2, "throttled")
    assert "3600" in row[5]
    assert json.loads(row[6]) == ["a"]


def test_a_run_id_cannot_be_reused(store: Store) -> None:
    with store.transaction() as tx:
        start_run(tx, tenant="contoso", source="signins", run_id="r1", now=NOW)
    with pytest.raises(StorageError, match="already exists"), store.transaction() as tx:
        start_run(tx, tenant="contoso", source="signins", run_id="r1", now=NOW)


def test_foreign_errors_keep_only_their_class(store: Store) -> None:
    with store.transaction() as tx:
        run = start_run(tx, tenant="contoso", source="signins", run_id="r1", now=NOW)
        finish_run(tx, run, status="failed", now=NOW, error=RuntimeError("Bearer eyJ0eXAi..."))
        row = tx.exec_driver_sql("SELECT error_class, error_message FROM sync_run").one()
    assert tuple(row) == ("RuntimeError", None)


def _dead_owner() -> str:
    """The owner string of a process that has exited."""
    done = subprocess.run(
        [sys.executable, "-c", "from connector.store.owner import current_owner; print(current_owner())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def test_interrupted_runs_are_marked_failed(store: Store) -> None:
    with store.transaction() as tx:
        start_run(tx, tenant="contoso", source="signins", run_id="r1", now=NOW, owner=_dead_owner())
        done = start_run(tx, tenant="contoso", source="usage_user_detail", run_id="r1", now=NOW)
        finish_run(tx, done, status="succeeded", now=NOW)
    with store.transaction() as tx:
        assert mark_interrupted_runs(tx, now=NOW) == 1
        statuses = dict(tx.exec_driver_sql("SELECT source, status FROM sync_run").all())
    assert statuses == {"signins": "failed", "usage_user_detail": "succeeded"}


def test_recovery_leaves_the_runs_of_a_live_process_running(store: Store) -> None:
    """Start-up recovery of one process (serve) never ends a run another live process (a CLI) is doing."""
    with store.transaction() as tx:
        start_run(tx, tenant="contoso", source="signins", run_id="mine", now=NOW)  # this live process
        start_run(tx, tenant="contoso", source="message_trace", run_id="legacy", now=NOW, owner="")
        start_run(tx, tenant="contoso", source="usage_user_detail", run_id="dead", now=NOW, owner=_dead_owner())
    with store.transaction() as tx:
        assert mark_interrupted_runs(tx, now=NOW) == 2
        statuses = dict(tx.exec_driver_sql("SELECT run_id, status FROM sync_run").all())
    assert statuses == {"mine": "running", "legacy": "failed", "dead": "failed"}


def test_owner_states() -> None:
    assert owner_state(current_owner()) == "alive"
    assert owner_state(_dead_owner()) == "dead"
    assert owner_state(None) == "dead"
    assert owner_state("another-host 1234abcd 42 1000") == "unknown"


def test_coverage_is_one_row_per_source_and_keeps_data_as_of(store: Store) -> None:
    with store.transaction() as tx:
        set_coverage(tx, "contoso", "signins", status="ok", now=NOW, data_as_of=NOW - timedelta(hours=1))
        set_coverage(
            tx,
            "contoso",
            "signins",
            status="unavailable",
            now=NOW,
            reason="Entra ID P1/P2 licence required",
            fix="assign Entra ID P1 to at least one user",
        )
        rows = tx.exec_driver_sql("SELECT status, reason, data_as_of FROM coverage").all()
    assert len(rows) == 1
    assert rows[0][0] == "unavailable"
    assert rows[0][2] is not None


def test_unknown_statuses_are_refused(store: Store) -> None:
    with pytest.raises(StorageError, match="coverage status"), store.transaction() as tx:
        set_coverage(tx, "contoso", "signins", status="fine", now=NOW)


def test_skipped_records_are_kept_truncated(store: Store) -> None:
    with store.transaction() as tx:
        run = start_run(tx, tenant="contoso", source="signins", run_id="r1", now=NOW)
        err = RecordError("bad row")
        err.sample = "x" * 10_000  # type: ignore[attr-defined]
        record_skipped(tx, tenant="contoso", source="signins", run=run, error=err, now=NOW)
        reason, sample = tx.exec_driver_sql("SELECT reason, sample FROM skipped_record").one()
    assert reason == "bad row"
    assert len(sample) == 500
