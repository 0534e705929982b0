"""Our record of ``SmtpCSReport`` historical searches (``historical_search_job``): the jobs we submitted, what
Exchange said about them, and what we did with their files.

Like :mod:`connector.store.runs`, every function takes the caller's connection and never commits.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import HistoricalSearchJob

__all__ = ["JobRecord", "insert_job", "jobs_since", "submissions_since", "update_job"]

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
