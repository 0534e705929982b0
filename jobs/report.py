"""Report jobs: build a report now, or queue one (the admin center's "Request report") and run it in the background.

The ``report_job`` table is the record of every requested report: ``queued`` → ``running`` → ``succeeded`` /
``failed`` (with the reason). :func:`request_report` queues; :func:`run_report_job` claims a queued job (an atomic
``UPDATE ... WHERE status = 'queued'``), builds its artifacts under ``settings.report_jobs_dir / job_id`` and
records the outcome; :func:`spawn_worker` runs it in a detached process. :func:`recover_report_jobs` marks jobs
whose worker is gone as failed, so a crash never leaves a job "running" forever; :func:`purge_expired_reports`
applies ``report.retention_days``. The CLI and the service call these functions.
"""

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from connector.artifacts import ReportParams, build_report
from connector.config import Settings
from connector.errors import ConfigError, SmtpAuthError
from connector.store.owner import current_owner, owner_state
from connector.store.store import Store
from models import ReportJob

log = logging.getLogger("smtpauth.report")

__all__ = [
    "ReportJobView",
    "check_recipients",
    "find_report_job",
    "get_report_job",
    "list_report_jobs",
    "purge_expired_reports",
    "recover_report_jobs",
    "request_report",
    "run_report_job",
    "spawn_worker",
]

log = logging.getLogger("smtpauth.report")

_job: sa.Table = ReportJob.__table__  # type: ignore[attr-defined]
_MAX_ERROR = 2000


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReportJobView:
    job_id: str
    tenant: str
    date_from: date
    date_to: date
    parameters: dict[str, Any]
    status: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    artifact_dir: str | None
    artifacts: list[str]
    error: str | None
    purged_at: datetime | None


def _view(row: Any) -> ReportJobView:
    return ReportJobView(
        job_id=row.job_id,
        tenant=row.tenant,
        date_from=row.date_from,
        date_to=row.date_to,
        parameters=json.loads(row.parameters),
        status=row.status,
        requested_at=row.requested_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        artifact_dir=row.artifact_dir,
        artifacts=json.loads(row.artifacts) if row.artifacts else [],
        error=row.error,
        purged_at=row.purged_at,
    )


#: an e-mail address as a recipient of a finished report (the relay decides the rest)
_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[a-z0-9-]+(\.[a-z0-9-]+)+$", re.IGNORECASE)


def check_recipients(settings: Settings, recipients: Sequence[str], key: str = "--notify") -> list[str]:
    """The recipients to e-mail when a report job ends, cleaned. Raises ConfigError for an address that is not
    one, more than 20, or recipients without an e-mail relay (``[notify] smtp_host``)."""
    clean = sorted({r.strip().lower() for r in recipients if r.strip()})
    for r in clean:
        if not _ADDRESS.match(r):
            raise ConfigError(f"{r!r} is not an e-mail address (e.g. admin@contoso.com)", key=key)
    if len(clean) > 20:
        raise ConfigError(f"{len(clean)} recipients: at most 20", key=key)
    if clean and not settings.notify.smtp_host:
        raise ConfigError("no e-mail relay to send the report's outcome: set [notify] smtp_host and mail_from", key=key)
    return clean


def request_report(
    store: Store, params: ReportParams, *, now: datetime | None = None, recipients: Sequence[str] = ()
) -> str:
    """Queue a report; return its job id. ``recipients`` (checked by :func:`check_recipients`) get an e-mail
    when the job ends."""
    job_id = str(uuid.uuid4())
    parameters: dict[str, Any] = params.as_json()
    if recipients:
        parameters["recipients"] = list(recipients)
    with store.transaction() as tx:
        tx.execute(
            _job.insert().values(
                job_id=job_id,
                tenant=params.tenant,
                date_from=params.date_from,
                date_to=params.date_to,
                parameters=json.dumps(parameters),
                status="queued",
                requested_at=now or _now(),
            )
        )
    return job_id


def get_report_job(store: Store, job_id: str) -> ReportJobView:
    """Raises ConfigError for an unknown job id."""
    with store.read() as conn:
        row = conn.execute(sa.select(_job).where(_job.c.job_id == job_id)).first()
    if row is None:
        raise ConfigError(f"no report job {job_id!r}: see `smtpauth reports list`", key="JOB_ID")
    return _view(row)


def find_report_job(store: Store, job_id: str) -> ReportJobView:
    """A job by its id or by a prefix of it that only one job has (as typed on the command line, like git's short
    hashes). Raises ConfigError (key ``JOB_ID``) for no match or an ambiguous prefix."""
    typed = job_id.strip().lower()
    if not typed:
        raise ConfigError("empty job id: see `smtpauth reports list`", key="JOB_ID")
    escaped = typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = sa.select(_job).where(_job.c.job_id.like(escaped + "%", escape="\\")).order_by(_job.c.job_id).limit(6)
    with store.read() as conn:
        exact = conn.execute(sa.select(_job).where(_job.c.job_id == typed)).first()
        rows = [] if exact is not None else conn.execute(query).all()
    if exact is not None:
        return _view(exact)
    if not rows:
        raise ConfigError(f"no report job {job_id!r}: see `smtpauth reports list`", key="JOB_ID")
    if len(rows) > 1:
        shown = ", ".join(r.job_id[: max(len(typed) + 4, 8)] for r in rows[:5])
        more = " and more" if len(rows) > 5 else ""
        raise ConfigError(f"{job_id!r} is the start of several job ids ({shown}{more}): type more of it", key="JOB_ID")
    return _view(rows[0])


def list_report_jobs(store: Store, *, tenant: str | None = None, limit: int = 50) -> list[ReportJobView]:
    q = sa.select(_job).order_by(_job.c.requested_at.desc(), _job.c.id.desc()).limit(limit)
    if tenant:
        q = q.where(_job.c.tenant == tenant)
    with store.read() as conn:
        return [_view(r) for r in conn.execute(q)]


def _params(settings: Settings, job: ReportJobView) -> ReportParams:
    p = job.parameters
    return ReportParams.build(
        settings,
        tenant=job.tenant,
        date_from=job.date_from,
        date_to=job.date_to,
        domains=p.get("domains", []),
        senders=p.get("senders", []),
        formats=p.get("formats") or None,
        trace_signin_ip_only=bool(p.get("trace_signin_ip_only", False)),
        granularity=str(p["granularity"]) if p.get("granularity") else None,
        today=job.requested_at.date(),
    )


def run_report_job(settings: Settings, store: Store, job_id: str) -> ReportJobView:
    """Claim the queued job ``job_id``, build its artifacts, record the outcome, apply retention.

    Returns the job as it ended. A job that is not queued (another worker took it) is returned untouched.
    """
    with store.transaction() as tx:
        claimed = tx.execute(
            _job.update()
            .where(_job.c.job_id == job_id, _job.c.status == "queued")
            .values(
                status="running",
                started_at=_now(),
                worker_host=socket.gethostname(),
                worker_pid=os.getpid(),
                worker_owner=current_owner(),
            )
        ).rowcount
    job = get_report_job(store, job_id)
    if not claimed:
        return job
    out_dir = settings.report_jobs_dir / job_id
    values: dict[str, Any]
    try:
        result = build_report(store, _params(settings, job), out_dir)
        names = sorted(str(p.relative_to(out_dir)) for p in result.paths)
        values = {"status": "succeeded", "artifact_dir": str(out_dir), "artifacts": json.dumps(names)}
    except (SmtpAuthError, OSError, ValueError) as exc:
        shutil.rmtree(out_dir, ignore_errors=True)
        values = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]}
    except BaseException as exc:
        # anything else still ends the job (never "running" until a restart) and removes its partial folder;
        # only our own errors promise a message free of secrets, so the log has the details
        shutil.rmtree(out_dir, ignore_errors=True)
        log.exception("report job %s failed", job_id)
        error = f"{type(exc).__name__}: unexpected error building the report (details in the service log)"
        with store.transaction() as tx:
            tx.execute(
                _job.update().where(_job.c.job_id == job_id).values(finished_at=_now(), status="failed", error=error)
            )
        if not isinstance(exc, Exception):
            raise
        return get_report_job(store, job_id)
    with store.transaction() as tx:
        tx.execute(_job.update().where(_job.c.job_id == job_id).values(finished_at=_now(), **values))
    purge_expired_reports(settings, store)
    done = get_report_job(store, job_id)
    _mail_outcome(settings, done)
    return done


def _mail_outcome(settings: Settings, job: ReportJobView) -> None:
    """E-mail the job's recipients that it ended, how, and how to get the files (never the files or a link with a
    credential: the artifacts stay behind the API's token). A failed delivery is logged, not raised."""
    recipients = [str(r) for r in job.parameters.get("recipients", [])]
    if not recipients or not settings.notify.smtp_host:
        return
    from connector.notify.channels import NotifyError, send_mail

    subject = f"smtpauth: report for {job.tenant} {job.date_from}..{job.date_to} {job.status}"
    lines = [
        subject,
        "",
        f"Job: {job.job_id}",
        f"Tenant: {job.tenant}",
        f"Range (UTC): {job.date_from} to {job.date_to}",
    ]
    if job.status == "succeeded":
        lines += ["Files:", *(f"  {name}" for name in job.artifacts if "/" not in name), ""]
        lines += [
            "Download them from the dashboard (Request report), or:",
            f"  smtpauth reports download {job.job_id[:8]} DIR",
        ]
    else:
        lines += [f"Error: {job.error or job.status}"]
    try:
        send_mail(settings.notify, subject=subject, text="\n".join(lines) + "\n", to=recipients)
    except NotifyError as exc:
        log.warning("report %s: the e-mail to its recipients failed: %s", job.job_id, exc)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _worker_gone(row: Any, host: str, stale: datetime) -> bool:
    """Whether a running job's worker is provably gone (same host), or silent too long (another host)."""
    if row.worker_owner is not None:
        state = owner_state(row.worker_owner)
        if state != "unknown":
            return state == "dead"
    elif row.worker_host == host:
        # claimed before workers were recorded as owners: only the pid is known
        return row.worker_pid is None or not _pid_alive(row.worker_pid)
    return row.started_at is None or row.started_at < stale


def recover_report_jobs(settings: Settings, store: Store, *, now: datetime | None = None) -> list[str]:
    """Mark as failed every running job whose worker is gone; return their ids.

    Same host: the worker process no longer exists (its owner record names host, boot, pid and start time, so
    a reboot or a reused pid is never taken for the worker). Another host (a shared PostgreSQL): the job has been
    running longer than ``report.job_stale_minutes``.
    """
    now = now or _now()
    host = socket.gethostname()
    stale = now - timedelta(minutes=settings.report.job_stale_minutes)
    recovered: list[str] = []
    with store.transaction() as tx:
        for row in tx.execute(sa.select(_job).where(_job.c.status == "running")).all():
            if _worker_gone(row, host, stale):
                tx.execute(
                    _job.update()
                    .where(_job.c.id == row.id, _job.c.status == "running")
                    .values(
                        status="failed",
                        finished_at=now,
                        error="interrupted: the worker stopped before finishing (request the report again)",
                    )
                )
                recovered.append(row.job_id)
    return recovered


def purge_expired_reports(settings: Settings, store: Store, *, now: datetime | None = None) -> list[str]:
    """Delete the artifacts of jobs finished more than ``report.retention_days`` ago; the records stay."""
    days = settings.report.retention_days
    if days <= 0:
        return []
    cutoff = (now or _now()) - timedelta(days=days)
    purged: list[str] = []
    with store.transaction() as tx:
        rows = tx.execute(
            sa.select(_job.c.id, _job.c.job_id, _job.c.artifact_dir).where(
                _job.c.finished_at < cutoff, _job.c.purged_at.is_(None), _job.c.artifact_dir.is_not(None)
            )
        ).all()
        for row in rows:
            folder = Path(row.artifact_dir)
            if folder.parent.resolve() == settings.report_jobs_dir.resolve():
                shutil.rmtree(folder, ignore_errors=True)
            tx.execute(_job.update().where(_job.c.id == row.id).values(purged_at=now or _now()))
            purged.append(row.job_id)
    return purged


def spawn_worker(config_path: Path | None, job_id: str, log_dir: Path, extra_env: dict[str, str] | None = None) -> int:
    """Start ``python -m jobs.report_worker`` detached from this process; return its pid."""
    log_dir.mkdir(parents=True, exist_ok=True)
    argv: Sequence[str] = [sys.executable, "-m", "jobs.report_worker", "--job", job_id]
    if config_path is not None:
        argv = [*argv, "--config", str(config_path)]
    env = {**os.environ, **(extra_env or {})}
    with (log_dir / f"{job_id}.log").open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module, no shell)
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env
        )
    return proc.pid
