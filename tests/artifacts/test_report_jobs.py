"""Request-report jobs: queued → running → succeeded/failed, recovery after a crash, retention."""

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.store.owner import current_owner
from jobs import report as jobs
from models import ReportJob
from tests.artifacts.conftest import Synced

_job = ReportJob.__table__  # type: ignore[attr-defined]


def test_a_requested_report_runs_and_keeps_its_artifacts(synced: Synced) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params(formats=("csv", "html")))
    assert jobs.get_report_job(synced.store, job_id).status == "queued"
    done = jobs.run_report_job(settings, synced.store, job_id)
    assert done.status == "succeeded", done.error
    assert {"accounts.csv", "smtp_auth_report.html", "summary.json"} <= set(done.artifacts)
    assert all((Path(done.artifact_dir or "") / name).is_file() for name in done.artifacts)
    # a second worker finds nothing to claim
    assert jobs.run_report_job(settings, synced.store, job_id).finished_at == done.finished_at
    assert job_id in [j.job_id for j in jobs.list_report_jobs(synced.store, tenant="contoso")]


def test_a_job_that_cannot_build_fails_with_the_reason(synced: Synced) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params())
    with synced.store.transaction() as tx:  # a tenant removed from the configuration since the request
        tx.execute(_job.update().where(_job.c.job_id == job_id).values(tenant="gone"))
    done = jobs.run_report_job(settings, synced.store, job_id)
    assert done.status == "failed"
    assert "unknown tenant 'gone'" in (done.error or "")


def test_a_crashed_worker_leaves_no_job_running(synced: Synced) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True, capture_output=True)
    import socket

    with synced.store.transaction() as tx:
        tx.execute(
            _job.update()
            .where(_job.c.job_id == job_id)
            .values(status="running", started_at=datetime.now(UTC), worker_host=socket.gethostname(),
                    worker_pid=int(dead.stdout))
        )  # fmt: skip
    assert job_id in jobs.recover_report_jobs(settings, synced.store)
    job = jobs.get_report_job(synced.store, job_id)
    assert (job.status, job.error) == ("failed", job.error)
    assert "interrupted" in (job.error or "")


def _mark_running(synced: Synced, job_id: str, **worker: object) -> None:
    with synced.store.transaction() as tx:
        tx.execute(
            _job.update()
            .where(_job.c.job_id == job_id)
            .values(status="running", started_at=datetime.now(UTC), **worker)
        )


def test_a_reused_pid_is_not_taken_for_the_worker(synced: Synced) -> None:
    """The worker died and the kernel gave its pid to another process (here: this one, started at another time):
    recovery compares the process start time recorded with the claim, not just the pid."""
    settings = synced.env.settings()
    host, boot, pid, start = current_owner().split(" ")
    job_id = jobs.request_report(synced.store, synced.params())
    _mark_running(synced, job_id, worker_host=host, worker_pid=os.getpid(),
                  worker_owner=f"{host} {boot} {pid} {int(start) + 1 if start.isdigit() else 1}")  # fmt: skip
    assert jobs.recover_report_jobs(settings, synced.store) == [job_id]


def test_a_job_whose_worker_lives_stays_running(synced: Synced) -> None:
    settings = synced.env.settings()
    host = current_owner().split(" ")[0]
    job_id = jobs.request_report(synced.store, synced.params())
    _mark_running(synced, job_id, worker_host=host, worker_pid=os.getpid(), worker_owner=current_owner())
    assert jobs.recover_report_jobs(settings, synced.store) == []
    assert jobs.get_report_job(synced.store, job_id).status == "running"


def test_a_job_on_another_host_fails_only_when_stale(synced: Synced) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params())
    _mark_running(synced, job_id, worker_host="elsewhere", worker_pid=1, worker_owner="elsewhere abcd1234 1 42")
    assert jobs.recover_report_jobs(settings, synced.store) == []
    later = datetime.now(UTC) + timedelta(minutes=settings.report.job_stale_minutes + 1)
    assert jobs.recover_report_jobs(settings, synced.store, now=later) == [job_id]


def test_a_claimed_job_records_its_worker_as_owner(synced: Synced) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params(formats=("csv",)))
    jobs.run_report_job(settings, synced.store, job_id)
    with synced.store.read() as conn:
        owner = conn.execute(sa.select(_job.c.worker_owner).where(_job.c.job_id == job_id)).scalar_one()
    assert owner == current_owner()


def test_retention_removes_old_artifacts_and_keeps_the_record(synced: Synced) -> None:
    settings = synced.env.settings()
    job_id = jobs.request_report(synced.store, synced.params(formats=("csv",)))
    done = jobs.run_report_job(settings, synced.store, job_id)
    folder = Path(done.artifact_dir or "")
    assert folder.is_dir()
    later = datetime.now(UTC) + timedelta(days=settings.report.retention_days + 1)
    assert job_id in jobs.purge_expired_reports(settings, synced.store, now=later)
    assert not folder.exists()
    assert jobs.get_report_job(synced.store, job_id).purged_at is not None


@pytest.mark.slow
def test_request_report_runs_in_a_detached_worker(synced: Synced, tmp_path: Path) -> None:
    synced.env.settings()
    config = synced.env.tmp / "smtpauth.toml"
    env = {**synced.env.environ}
    import os

    env.update({k: v for k, v in os.environ.items() if k not in env})
    base = [sys.executable, "-m", "connector", "--config", str(config)]
    out = subprocess.run(
        [*base, "request-report", "--tenant", "contoso", "--from", "2026-11-20", "--to", "2026-11-27",
         "--format", "csv"],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    job_id = out.stdout.split()[0]
    for _ in range(200):
        status = jobs.get_report_job(synced.store, job_id).status
        if status in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert status == "succeeded", jobs.get_report_job(synced.store, job_id).error
    shown = subprocess.run([*base, "reports", "show", job_id], check=True, capture_output=True, text=True, env=env)
    assert "status:     succeeded" in shown.stdout
    subprocess.run([*base, "reports", "download", job_id, "--out", str(tmp_path / "dl")], check=True, env=env,
                   capture_output=True)  # fmt: skip
    summary = json.loads((tmp_path / "dl" / "summary.json").read_text())
    assert summary["parameters"]["from"] == "2026-11-20"


def test_report_command_refuses_bad_input(synced: Synced, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from connector.cli import cli

    synced.env.settings()
    config = str(synced.env.tmp / "smtpauth.toml")
    runner = CliRunner()
    cases = {
        ("--tenant", "nope", "--from", "2026-11-01", "--to", "2026-11-02"): "unknown tenant 'nope'",
        ("--tenant", "contoso", "--from", "2026-13-01", "--to", "2026-11-02"): "is not a date",
        ("--tenant", "contoso", "--from", "2026-11-05", "--to", "2026-11-02"): "is before --from",
        ("--tenant", "contoso", "--from", "2020-01-01", "--to", "2026-11-02"): "max_range_days",
        ("--tenant", "contoso", "--from", "2026-11-01", "--to", "2026-11-02", "--format", "pdf"): "unknown format",
    }
    for args, message in cases.items():
        result = runner.invoke(
            cli, ["--config", config, "report", *args, "--out", str(tmp_path)], env=synced.env.environ
        )
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)
    ok = runner.invoke(
        cli,
        ["--config", config, "report", "--tenant", "contoso", "--from", "2026-11-20", "--to", "2026-11-27", "--out",
         str(tmp_path / "r")],
        env=synced.env.environ,
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "open file://" in ok.output
    assert sa.inspect(synced.store.engine).has_table("report_job")
