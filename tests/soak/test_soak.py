"""The soak, bounded: serve with its scheduler beside CLI commands in a loop and ``kill -9``, on SQLite and
PostgreSQL (see ``harness.py`` for what it checks; ``bench/soak.py`` runs it long)."""

import os
from pathlib import Path

import pytest

from tests.conftest import _pg_url
from tests.soak.harness import drop_pg_schema, fresh_pg_schema, run_soak

pytestmark = [pytest.mark.slow, pytest.mark.https]

#: seconds of load per backend (start-up and checks add 30-45 s on a loaded machine: both stay under 3 minutes)
SECONDS = float(os.environ.get("SMTPAUTH_SOAK_SECONDS", "45"))


def test_soak_sqlite(tmp_path: Path) -> None:
    result = run_soak(tmp_path / "soak", seconds=SECONDS)
    assert result.problems == [], result.summary()
    assert result.integrity == "ok"
    assert result.wal_checks > 0
    assert sum(result.kills.values()) > 0, result.summary()
    assert result.api_202 > 0, result.summary()
    assert result.ok["import"] > 0, result.summary()
    assert result.ok["findings-ack"] > 0, result.summary()
    for key in ("imported_senders", "acknowledged_findings", "report_jobs"):
        assert result.found[key] == result.expected[key], key
    assert result.found["file_sync_runs"] == result.expected["api_sync_runs"]


@pytest.mark.postgres
def test_soak_postgresql(tmp_path: Path) -> None:
    if os.environ.get("SMTPAUTH_TEST_PG") == "skip":
        pytest.skip("SMTPAUTH_TEST_PG=skip")
    url, schema = fresh_pg_schema(_pg_url())
    try:
        result = run_soak(tmp_path / "soak", database_url=url, seconds=SECONDS)
    finally:
        drop_pg_schema(_pg_url(), schema)
    assert result.problems == [], result.summary()
    assert sum(result.kills.values()) > 0, result.summary()
    assert result.api_202 > 0, result.summary()
    assert result.ok["import"] > 0, result.summary()
    assert result.ok["findings-ack"] > 0, result.summary()
