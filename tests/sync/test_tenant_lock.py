"""The per-tenant sync lock, on SQLite (flock) and PostgreSQL (advisory lock): one sync of a tenant at a time."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from connector.store import runs
from connector.store.store import open_store
from connector.sync.tenant_lock import TenantBusyError, tenant_lock

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def test_a_second_holder_is_refused_until_the_first_lets_go(db_url: str) -> None:
    first, second = open_store(db_url), open_store(db_url)
    try:
        with tenant_lock(first, "contoso", now=NOW):
            with (
                pytest.raises(TenantBusyError, match="already running in another process"),
                tenant_lock(second, "contoso", now=NOW),
            ):
                pass
            with tenant_lock(second, "fabrikam", now=NOW):  # another tenant is free
                pass
        with tenant_lock(second, "contoso", now=NOW):
            pass
    finally:
        first.close()
        second.close()


def test_taking_the_lock_marks_the_runs_of_a_dead_sync_interrupted(db_url: str) -> None:
    store = open_store(db_url)
    try:
        with store.transaction() as tx:
            runs.start_run(tx, tenant="contoso", source="signins", run_id="dead", now=NOW)
            runs.start_run(tx, tenant="fabrikam", source="signins", run_id="alive", now=NOW)
        with tenant_lock(store, "contoso", now=NOW), store.read() as conn:
            rows = dict(conn.execute(sa.text("SELECT tenant, error_class FROM sync_run")).all())
        assert rows == {"contoso": "interrupted", "fabrikam": None}
    finally:
        store.close()
