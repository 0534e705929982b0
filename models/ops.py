"""Operational tables: what ran, how far each source got, what each source can deliver, what was skipped.

``sync_run``
    One row per (tenant, source, run_id); ``run_id`` groups the sources of one sync invocation.
``watermark``
    Progress of a source, one row per (tenant, source, key); moved in the same transaction as the rows it
    covers.
``coverage``
    What a source can deliver for a tenant right now, one row per (tenant, source): ``ok``, ``unavailable``
    (licence, permission, cloud), ``failed``, ``stale``, ``throttled``, with the reason and the fix.
``schema_drift``
    What Microsoft sent that the normalizers do not expect, or did not send that they expect, one row per (tenant,
    source, subject, kind, name), with when it was first and last seen.
``skipped_record``
    Input records a run could not use, with the reason and a truncated sample (personal data: purged with the
    run).
``store_change``
    How many write transactions committed, in a few slots (PostgreSQL): the read cache's version of this database
    (``connector.store.changes``).
"""

from datetime import datetime

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["DRIFT_KINDS", "Coverage", "SchemaDrift", "SkippedRecord", "StoreChange", "SyncRun", "Watermark"]

#: values of ``sync_run.status``
RUN_STATUSES = ("running", "succeeded", "failed", "throttled", "unavailable", "skipped")
#: values of ``coverage.status``
COVERAGE_STATUSES = ("ok", "unavailable", "failed", "stale", "throttled")


class SyncRun(SQLModel, table=True):
    """One source's part of a sync for one tenant."""

    __tablename__ = "sync_run"
    __table_args__ = (
        UniqueConstraint("tenant", "source", "run_id", name="uq_sync_run_key"),
        Index("ix_sync_run_status", "status"),
        Index("ix_sync_run_started", "tenant", "source", "started_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    source: str
    run_id: str
    started_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: one of RUN_STATUSES
    status: str
    rows_seen: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    rows_inserted: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    rows_updated: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    rows_skipped: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    error_class: str | None = None
    error_message: str | None = Field(default=None, sa_type=Text)
    #: JSON array of Graph request-ids worth quoting to Microsoft support
    request_ids: str | None = Field(default=None, sa_type=Text)
    retries: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    throttled_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    #: the process running it, "host boot pid start" (connector.store.owner); None for runs before migration 8
    owner: str | None = None


class Watermark(SQLModel, table=True):
    """How far a source got; ``value`` is source-specific text (an ISO timestamp, a date, a job id)."""

    __tablename__ = "watermark"
    __table_args__ = (UniqueConstraint("tenant", "source", "key", name="uq_watermark_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    source: str
    key: str
    value: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class Coverage(SQLModel, table=True):
    """What a source can deliver for a tenant, and why not."""

    __tablename__ = "coverage"
    __table_args__ = (UniqueConstraint("tenant", "source", name="uq_coverage_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    source: str
    #: one of COVERAGE_STATUSES
    status: str
    reason: str | None = Field(default=None, sa_type=Text)
    fix: str | None = Field(default=None, sa_type=Text)
    #: newest point in time the stored data covers (report refresh date, newest sign-in, ...)
    data_as_of: datetime | None = Field(default=None, sa_type=UTCDateTime)
    checked_at: datetime = Field(sa_type=UTCDateTime)


class SkippedRecord(SQLModel, table=True):
    """An input record a run counted as skipped."""

    __tablename__ = "skipped_record"
    __table_args__ = (Index("ix_skipped_record_run", "sync_run_id"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    source: str
    sync_run_id: int | None = Field(default=None, foreign_key="sync_run.id", ondelete="CASCADE")
    reason: str = Field(sa_type=Text)
    #: where in the input ("line 12", "item 3 of page 2")
    location: str | None = None
    #: the start of the record, truncated; never a credential
    sample: str | None = Field(default=None, sa_type=Text)
    recorded_at: datetime = Field(sa_type=UTCDateTime)


#: values of ``schema_drift.kind``
DRIFT_KINDS = ("missing", "unexpected", "unknown_value")


class SchemaDrift(SQLModel, table=True):
    """A difference between what a source received and what its normalizer expects (the drift guard)."""

    __tablename__ = "schema_drift"
    __table_args__ = (UniqueConstraint("tenant", "source", "subject", "kind", "name", name="uq_schema_drift_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    source: str
    #: what was compared: a report API, a JSON object type, a cmdlet
    subject: str
    #: missing (an expected column, key or property was absent), unexpected (a new one), unknown_value (an enum)
    kind: str
    #: the column, key or property, or ``field=value`` for an unknown enum value
    name: str
    detail: str | None = Field(default=None, sa_type=Text)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_run_id: str | None = None
    occurrences: int = Field(default=1, sa_column_kwargs={"server_default": "1"})


class StoreChange(SQLModel, table=True):
    """Write transactions committed to this database, counted per slot (a connection's slot is its server process
    id modulo ``connector.store.changes.SLOTS``, so concurrent writers seldom share a row). Only the sum means
    anything: it grows with every commit of smtpauth. Kept on PostgreSQL; SQLite has ``PRAGMA data_version``."""

    __tablename__ = "store_change"

    slot: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    changes: int = Field(sa_type=BigInteger)
