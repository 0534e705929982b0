"""Our record of ``SmtpCSReport`` historical searches (``historical_search_job``): the jobs we submitted, what
Exchange said about them, and what we did with their files.

Like :mod:`connector.store.runs`, every function takes the caller's connection and never commits.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import HistoricalSearchJob

__all__ = [
    "WAITING_FOR_ADMIN",
    "JobRecord",
    "get_job",
    "insert_job",
    "jobs_since",
    "submissions_since",
    "unloaded_jobs",
    "update_job",
    "waiting_jobs",
]

#: our status of a Done search whose file only an admin's browser session can fetch (API notes section 9)
WAITING_FOR_ADMIN = "WaitingForAdmin"

_job: sa.Table = HistoricalSearchJob.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class JobRecord:
    job_id: str
    start: datetime
    end: datetime
    status: str
    submitted_at: datetime
    file_rows: int | None
    downloaded_at: datetime | None
    loaded_at: datetime | None
    attempts: int
    error: str | None
    tenant: str = ""
    title: str | None = None
    #: the SenderAddress values of the search (empty for searches made before senders were sent)
    senders: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    loaded_via: str | None = None

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


def _record(row: Any) -> JobRecord:
    return JobRecord(
        job_id=row.job_id,
        start=row.start_date,
        end=row.end_date,
        status=row.status,
        submitted_at=row.submitted_at,
        file_rows=row.file_rows,
        downloaded_at=row.downloaded_at,
        loaded_at=row.loaded_at,
        attempts=row.attempts,
        error=row.error,
        tenant=row.tenant,
        title=row.report_title,
        senders=tuple(json.loads(row.sender_addresses)) if row.sender_addresses else (),
        notify=tuple(json.loads(row.notify_addresses)) if row.notify_addresses else (),
        loaded_via=row.loaded_via,
    )


def insert_job(
    conn: Connection,
    tenant: str,
    job_id: str,
    *,
    title: str,
    start: datetime,
    end: datetime,
    status: str,
    now: datetime,
    senders: Sequence[str] = (),
    notify: Sequence[str] = (),
) -> None:
    conn.execute(
        _job.insert().values(
            tenant=tenant,
            job_id=job_id,
            report_title=title,
            start_date=start,
            end_date=end,
            status=status,
            submitted_at=now,
            checked_at=now,
            attempts=0,
            sender_addresses=json.dumps(list(senders)) if senders else None,
            notify_addresses=json.dumps(list(notify)) if notify else None,
        )
    )


def update_job(conn: Connection, tenant: str, job_id: str, **values: Any) -> None:
    conn.execute(_job.update().where(_job.c.tenant == tenant, _job.c.job_id == job_id).values(**values))


def jobs_since(conn: Connection, tenant: str, since: datetime) -> Sequence[JobRecord]:
    """Jobs whose range ends after ``since``, oldest submission first."""
    query = (
        sa.select(_job).where(_job.c.tenant == tenant, _job.c.end_date > since).order_by(_job.c.submitted_at, _job.c.id)
    )
    return [_record(r) for r in conn.execute(query)]


def submissions_since(conn: Connection, tenant: str, since: datetime) -> int:
    """How many searches we submitted after ``since`` (the quota counts every submission, failed or not)."""
    query = sa.select(sa.func.count()).select_from(_job).where(_job.c.tenant == tenant, _job.c.submitted_at > since)
    return int(conn.execute(query).scalar_one())


def get_job(conn: Connection, tenant: str, job_id: str) -> JobRecord | None:
    row = conn.execute(sa.select(_job).where(_job.c.tenant == tenant, _job.c.job_id == job_id)).first()
    return _record(row) if row is not None else None


def waiting_jobs(conn: Connection, tenant: str | None = None) -> Sequence[JobRecord]:
    """Searches whose file waits for an admin to hand it back, oldest range first (every tenant when None)."""
    query = sa.select(_job).where(_job.c.status == WAITING_FOR_ADMIN, _job.c.loaded_at.is_(None))
    if tenant is not None:
        query = query.where(_job.c.tenant == tenant)
    return [_record(r) for r in conn.execute(query.order_by(_job.c.tenant, _job.c.start_date, _job.c.id))]


def unloaded_jobs(conn: Connection, tenant: str) -> Sequence[JobRecord]:
    """Searches whose file was never loaded (any status), oldest submission first."""
    query = sa.select(_job).where(_job.c.tenant == tenant, _job.c.loaded_at.is_(None))
    return [_record(r) for r in conn.execute(query.order_by(_job.c.submitted_at, _job.c.id))]
