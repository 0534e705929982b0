"""Request-report jobs: the admin center's "Request report", as our own job record.

``report_job``: one row per requested report (``job_id``, a UUID). The row is the record of the job (not a
scheduler's job store): its status moves ``queued`` → ``running`` → ``succeeded`` / ``failed`` (with the reason),
and ``purged_at`` is set when the retention policy deleted its artifacts.
"""

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["REPORT_JOB_STATUSES", "ReportJob"]

#: values of ``report_job.status``
REPORT_JOB_STATUSES = ("queued", "running", "succeeded", "failed")


class ReportJob(SQLModel, table=True):
    """One requested report and what became of it."""

    __tablename__ = "report_job"
    __table_args__ = (
        UniqueConstraint("job_id", name="uq_report_job_key"),
        Index("ix_report_job_status", "status"),
        Index("ix_report_job_tenant", "tenant", "requested_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: str
    tenant: str
    date_from: date
    date_to: date
    #: JSON: domains, senders, formats, trace_signin_ip_only
    parameters: str = Field(sa_type=Text)
    #: one of REPORT_JOB_STATUSES
    status: str
    requested_at: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: host name and process id of the worker that runs the job (shown by ``reports show``)
    worker_host: str | None = None
    worker_pid: int | None = None
    #: the worker as "host boot pid start" (connector.store.owner): recovery checks it is still alive; None for
    #: jobs claimed before migration 9
    worker_owner: str | None = None
    #: folder holding the job's artifacts
    artifact_dir: str | None = Field(default=None, sa_type=Text)
    #: JSON array of artifact file names
    artifacts: str | None = Field(default=None, sa_type=Text)
    error: str | None = Field(default=None, sa_type=Text)
    #: when retention deleted the artifacts (the record stays)
    purged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
