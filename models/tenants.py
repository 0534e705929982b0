"""The tenant registry and the state of the distributed executor.

``tenant_registry``
    Tenants kept in the database (``smtpauth tenants add|import``, ``POST /api/v1/tenants``), for estates too large
    for ``[[tenants]]`` tables. A row names its credential by reference only (``app:NAME``, ``env:VARIABLE``,
    ``file:/path``): never a secret.
``tenant_schedule``
    The distributed scheduler's record per tenant: the next nightly run (cron time plus the tenant's fixed offset
    in the night window) and the last one it queued. Written by one scheduler tick at a time.
``queue_worker``
    Which host and process each ``smtpauth worker`` is (Procrastinate knows workers by number only), so the API can
    say which jobs run where.
"""

from datetime import datetime

from sqlalchemy import BigInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["QueueWorker", "TenantRecord", "TenantSchedule"]


class TenantRecord(SQLModel, table=True):
    """One tenant of the registry."""

    __tablename__ = "tenant_registry"
    __table_args__ = (UniqueConstraint("name", name="uq_tenant_registry_name"),)

    id: int | None = Field(default=None, primary_key=True)
    #: short name, as in [[tenants]]
    name: str
    #: directory (tenant) id: a GUID or a verified domain
    tenant_id: str
    #: global, usgov, usgovdod, china
    cloud: str
    #: app:NAME (a multi-tenant app of the configuration), env:VARIABLE or file:/path (a client secret)
    credential: str = Field(sa_type=Text)
    #: application (client) id; None with an app:NAME credential (the app's)
    client_id: str | None = None
    #: cron expression and time zone of the nightly sync; None: service.schedule
    schedule_cron: str | None = None
    schedule_timezone: str | None = None
    primary_domain: str | None = None
    exchange_admin: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    added_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class TenantSchedule(SQLModel, table=True):
    """The next nightly run of a tenant under the distributed executor."""

    __tablename__ = "tenant_schedule"
    __table_args__ = (UniqueConstraint("tenant", name="uq_tenant_schedule_tenant"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    #: cron, time zone and offset the next run was computed from (a change recomputes it)
    schedule_key: str = Field(sa_type=Text)
    next_run_at: datetime = Field(sa_type=UTCDateTime)
    #: the last scheduled time a sync was queued for, and its job
    last_fire_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_job_id: int | None = Field(default=None, sa_type=BigInteger)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class QueueWorker(SQLModel, table=True):
    """A `smtpauth worker` process as Procrastinate registered it."""

    __tablename__ = "queue_worker"
    __table_args__ = (UniqueConstraint("worker_id", name="uq_queue_worker_id"),)

    id: int | None = Field(default=None, primary_key=True)
    #: Procrastinate's worker id (procrastinate_workers.id)
    worker_id: int = Field(sa_type=BigInteger)
    host: str
    pid: int
    concurrency: int
    #: comma-separated queues, empty: all
    queues: str = ""
    started_at: datetime = Field(sa_type=UTCDateTime)
    stopped_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
