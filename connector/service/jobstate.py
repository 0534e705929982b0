"""Job records the service reads or marks itself: queued report jobs, and its own jobs cut short by a shutdown."""

import os
import socket
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa

from connector.store.store import Store
from models import ReportJob, SyncRun

__all__ = ["mark_own_jobs_interrupted", "queued_report_jobs"]

_job: sa.Table = ReportJob.__table__  # type: ignore[attr-defined]
_run: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]


def queued_report_jobs(store: Store, limit: int = 100) -> list[str]:
    """Ids of report jobs waiting for a worker, oldest first."""
    with store.read() as conn:
        q = sa.select(_job.c.job_id).where(_job.c.status == "queued").order_by(_job.c.requested_at).limit(limit)
        return [str(r) for r in conn.execute(q).scalars()]


def mark_own_jobs_interrupted(store: Store, run_ids: Iterable[str], *, now: datetime) -> tuple[int, int]:
    """Mark this process's running report jobs and the running sync runs of ``run_ids`` as failed (interrupted).

    Returns (report jobs, sync runs) marked.
    """
    ids = list(run_ids)
    with store.transaction() as tx:
        jobs = tx.execute(
            _job.update()
            .where(
                _job.c.status == "running", _job.c.worker_pid == os.getpid(), _job.c.worker_host == socket.gethostname()
            )
            .values(status="failed", finished_at=now, error="interrupted: the service stopped (request it again)")
        ).rowcount
        runs = 0
        if ids:
            runs = tx.execute(
                _run.update()
                .where(_run.c.status == "running", _run.c.run_id.in_(ids))
                .values(
                    status="failed",
                    ended_at=now,
                    error_class="interrupted",
                    error_message="the service stopped before the run finished",
                )
            ).rowcount
    return int(jobs), int(runs)
