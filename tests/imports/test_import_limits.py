"""Imports that cannot succeed end cleanly: one line naming the problem, nothing stored, the run recorded as failed
(never left "running"), memory bounded whatever the file holds."""

import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from connector.clock import FakeClock
from connector.imports import ImportOptions, ImportRefused, import_file
from connector.sources._base import MAX_LINE_CHARS
from connector.store.store import Store
from tests.imports.conftest import rows as _all

PERIOD = ImportOptions(date(2026, 11, 1), date(2026, 11, 7))
HEADER = "message_id,tls_version,senderName,date,authMethod,message_count\n"


def _row(i: int, count: str = "1") -> str:
    return f"<m{i}@x>,TLS1.2,printer@contoso.com,2026-11-20T08:00:0{i % 10}Z,Basic,{count}\n"


def test_an_unterminated_quote_refuses_the_file_naming_its_line(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "smtpcs.csv"
    path.write_text(HEADER + _row(1) + '<m2@x>,"TLS1.2,printer@contoso.com,2026-11-20T08:00:02Z,Basic,1\n' + _row(3))
    with pytest.raises(ImportRefused) as refused:
        import_file(store, clock, path, tenant="contoso")
    assert str(refused.value) == (
        'smtpcs.csv: line 3: a quoted cell is never closed (a missing "): fix or re-export the file; nothing loaded'
    )
    assert _all(store, "SELECT count(*) FROM smtp_cs_report_row") == [(0,)]
    assert _all(store, "SELECT count(*) FROM sync_run WHERE status = 'running'") == [(0,)]
    # the rows before the bad line are not kept either: the same file fixed loads in full
    path.write_text(HEADER + _row(1) + _row(2) + _row(3))
    assert import_file(store, clock, path, tenant="contoso").inserted == 3


def test_a_count_beyond_64_bits_skips_that_row_only(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "smtpcs.csv"
    path.write_text(HEADER + _row(1) + _row(2, "99999999999999999999999") + _row(3))
    result = import_file(store, clock, path, tenant="contoso")
    assert (result.inserted, result.skipped) == (2, 1)
    assert _all(store, "SELECT reason FROM skipped_record") == [("invalid number in 'message_count'",)]


def test_a_cell_over_the_csv_limit_refuses_the_file(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    path = tmp_path / "smtpcs.csv"
    path.write_text(HEADER + _row(1) + '<m2@x>,TLS1.2,"' + "x" * 500_000 + '",2026-11-20T08:00:02Z,Basic,1\n')
    with pytest.raises(ImportRefused, match=r"line 3: a cell is longer than 131,072 characters"):
        import_file(store, clock, path, tenant="contoso")
    assert _all(store, "SELECT count(*) FROM smtp_cs_report_row") == [(0,)]
    assert _all(store, "SELECT count(*) FROM sync_run WHERE status = 'running'") == [(0,)]


_HUGE_LINE = """
import sys
from pathlib import Path
from datetime import UTC, datetime
from connector.clock import FakeClock
from connector.imports import ImportRefused, import_file
from connector.store.store import open_store

store = open_store(sys.argv[2])
try:
    import_file(store, FakeClock(datetime(2026, 11, 28, tzinfo=UTC)), Path(sys.argv[1]), tenant="contoso")
except ImportRefused as exc:
    print(exc)
# the peak resident memory of this program (ru_maxrss would include the forking parent's)
print(next(int(ln.split()[1]) // 1024 for ln in open("/proc/self/status") if ln.startswith("VmHWM:")))
"""


def test_a_200_mb_single_line_file_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "one-line.csv"
    with path.open("w") as fh:
        fh.write("message_id,tls_version,senderName,date,")
        block = "x" * (1024 * 1024)
        for _ in range(200):
            fh.write(block)
    url = f"sqlite:///{tmp_path / 'db' / 'smtpauth.db'}"
    done = subprocess.run(
        [sys.executable, "-c", _HUGE_LINE, str(path), url], capture_output=True, text=True, check=True
    )
    message, rss_mb = done.stdout.strip().splitlines()
    assert message == (
        f"one-line.csv: line 1 is longer than {MAX_LINE_CHARS:,} characters: not a file smtpauth reads; not loaded"
    )
    assert int(rss_mb) < 150, f"peak RSS {rss_mb} MB"


def test_an_import_that_raises_ends_its_run_failed(
    store: Store, clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.imports import loading

    path = tmp_path / "smtpcs.csv"
    path.write_text(HEADER + _row(1) + _row(2))
    real = loading.runs.set_watermark

    def fail_at_the_end(*args: Any, **kw: Any) -> None:
        real(*args, **kw)
        raise RuntimeError("disk full")

    monkeypatch.setattr(loading.runs, "set_watermark", fail_at_the_end)
    with pytest.raises(RuntimeError, match="disk full"):
        import_file(store, clock, path, tenant="contoso")
    assert _all(store, "SELECT status, error_class FROM sync_run") == [("failed", "RuntimeError")]
    assert _all(store, "SELECT count(*) FROM smtp_cs_report_row") == [(0,)]


def test_a_killed_import_is_ended_by_the_next_recovery(store: Store, clock: FakeClock, tmp_path: Path) -> None:
    """``kill -9`` ends nothing itself: the next sync of the tenant (or serve's start-up) sees the owner dead."""
    from connector.store.owner import current_owner
    from connector.store.runs import mark_interrupted_runs, start_run

    alive = current_owner()
    dead = subprocess.run(
        [sys.executable, "-c", "from connector.store.owner import current_owner; print(current_owner())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with store.transaction() as tx:
        start_run(tx, tenant="contoso", source="smtp_cs_report", run_id="import-dead", now=clock.now(), owner=dead)
        start_run(tx, tenant="contoso", source="smtp_cs_report", run_id="import-live", now=clock.now(), owner=alive)
    with store.transaction() as tx:
        mark_interrupted_runs(tx, now=clock.now(), tenant="contoso", lock_held=True)
    assert dict(_all(store, "SELECT run_id, status FROM sync_run")) == {
        "import-dead": "failed",
        "import-live": "running",
    }


def test_a_refused_export_retried_in_the_same_clock_tick_is_refused_again(
    store: Store, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "clients_2026-11-01_2026-11-07.csv"
    path.write_text(
        "Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication protocol\n"
        "a@contoso.com,contoso.com,0,0,100,1,OAuth\n"
        'b@contoso.com,"contoso.com,0,0,100,1,OAuth\n'
    )
    for _ in range(2):
        with pytest.raises(ImportRefused, match="line 3: a quoted cell is never closed"):
            import_file(store, clock, path, tenant="contoso", options=PERIOD)
    assert _all(store, "SELECT status, error_class FROM sync_run") == [("failed", "import"), ("failed", "import")]
    assert _all(store, "SELECT count(*) FROM imported_tls_aggregate") == [(0,)]
