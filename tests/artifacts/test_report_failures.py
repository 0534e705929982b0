"""Reports that cannot be built end cleanly: out-of-range dates are refused before anything is written, a job that
raises ends "failed" without its folder, and a killed writer's temporary files go with the next build."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from connector.artifacts import build_report
from connector.artifacts.safety import atomic_path, remove_stale_temps
from connector.cli import cli
from connector.errors import ConfigError
from jobs import report as jobs
from tests.artifacts.conftest import Synced


@pytest.mark.parametrize(
    ("date_from", "date_to", "message"),
    [
        ("0001-01-01", "0001-01-03", "0001-01-01 is out of range: use a date from 2000-01-01 to 2999-12-31"),
        ("2026-11-01", "9999-12-31", "9999-12-31 is out of range"),
        ("1999-12-31", "2000-01-02", "1999-12-31 is out of range"),
    ],
)
def test_report_with_dates_out_of_range_exits_2_and_writes_nothing(
    synced: Synced, tmp_path: Path, date_from: str, date_to: str, message: str
) -> None:
    synced.env.settings()
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["--config", str(synced.env.tmp / "smtpauth.toml"), "report", "-t", "contoso", "--from", date_from, "--to",
         date_to, "--out", str(out)],
        env=synced.env.environ,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists() or list(out.iterdir()) == []


def test_report_params_refuse_out_of_range_dates_given_as_dates(synced: Synced) -> None:
    from datetime import date

    with pytest.raises(ConfigError, match=r"--from: 0001-01-01 is out of range"):
        synced.params(date_from=date(1, 1, 1), date_to=date(1, 1, 3))


def test_a_job_that_raises_ends_failed_with_the_error_and_no_folder(
    synced: Synced, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params())
    real = jobs.build_report

    def half_then_crash(store: Any, params: Any, out_dir: Path, **kw: Any) -> Any:
        real(store, params, out_dir, **kw)  # the folder is full of files now
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(jobs, "build_report", half_then_crash)
    done = jobs.run_report_job(settings, synced.store, job_id)
    assert done.status == "failed"
    assert done.finished_at is not None
    assert done.error is not None
    assert done.error.startswith("ZeroDivisionError: unexpected error")
    assert not (settings.report_jobs_dir / job_id).exists()


_KILLED_WRITER = """
import os, sys
from pathlib import Path
from connector.artifacts.safety import atomic_path
with atomic_path(Path(sys.argv[1])) as tmp:
    tmp.write_bytes(b"half an xlsx")
    os.kill(os.getpid(), 9)
"""


def test_a_killed_writers_temporary_file_is_removed_by_the_next_build(synced: Synced, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    final = out / "smtp_auth_report.xlsx"
    killed = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(final)], check=False)
    assert killed.returncode == -9
    left = list(out.glob(".smtp_auth_report.xlsx.*.tmp"))
    assert len(left) == 1
    result = build_report(synced.store, synced.params(formats=("xlsx",)), out)
    assert final in result.paths
    assert list(out.glob("*.tmp")) == []
    assert sorted(p.name for p in out.iterdir()) == ["smtp_auth_report.xlsx", "summary.json"]


def test_a_live_writers_temporary_file_is_kept(tmp_path: Path) -> None:
    final = tmp_path / "accounts.csv"
    with atomic_path(final) as tmp:
        tmp.write_text("in progress")
        assert remove_stale_temps(final) == []
        assert tmp.exists()
    assert final.read_text() == "in progress"
    assert os.listdir(tmp_path) == ["accounts.csv"]
