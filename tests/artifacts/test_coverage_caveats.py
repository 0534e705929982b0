"""After a failed sync the older data stays valid: its coverage says "data as of ...; last run failed: ...", and a
section emptied by a filter blames the filter, not the failed source."""

from datetime import UTC, datetime

from connector.store.readside.coverage import coverage_rows, empty_reason
from connector.store.runs import set_coverage
from tests.artifacts.conftest import Synced


def test_a_failed_run_over_valid_data_reads_as_such(synced: Synced) -> None:
    params = synced.params()
    with synced.store.read() as conn:
        before = {(r.section, r.source): r for r in coverage_rows(conn, params)}
    signins = before[("accounts", "signins")]
    assert signins.status == "ok"
    assert signins.rows_in_range > 0
    with synced.store.transaction() as tx:
        set_coverage(
            tx, "contoso", "signins", status="failed", now=datetime.now(UTC),
            reason="tenant 'contoso': cannot reach login.microsoftonline.com (ConnectError)",
        )  # fmt: skip
    try:
        with synced.store.read() as conn:
            after = {(r.section, r.source): r for r in coverage_rows(conn, params)}
            nowhere = synced.params(domains=("nowhere.example",))
            filtered = coverage_rows(conn, nowhere)
        row = after[("accounts", "signins")]
        assert row.status == "failed"
        assert row.reason is not None
        assert row.reason.startswith(f"data as of {signins.data_as_of}; last run failed: tenant 'contoso': cannot")
        reason = empty_reason(filtered, "accounts")
        assert "signins" not in reason, reason
        assert "failed" not in reason, reason
    finally:
        with synced.store.transaction() as tx:
            set_coverage(tx, "contoso", "signins", status="ok", now=datetime.now(UTC))
