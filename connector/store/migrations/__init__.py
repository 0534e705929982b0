"""Schema migrations: an ordered list of versioned steps and a ``schema_version`` table.

``migrate(engine)`` brings a database to the newest version this code knows, in one transaction (SQLite and
PostgreSQL both have transactional DDL), so a failed step leaves the database as it was. It is idempotent,
safe to run from two processes at once (SQLite: ``BEGIN IMMEDIATE``; PostgreSQL: an advisory lock), and
refuses a database written by a newer smtpauth instead of guessing.

Adding a migration: write ``vNNNN_what.py`` with an ``upgrade(conn)`` using explicit DDL (never the current
models), append it to :data:`MIGRATIONS`, and change ``models/`` to match; ``tests/store/test_migrations.py``
fails until both agree.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import StorageError
from connector.store.changes import record as record_change
from connector.store.migrations import (
    v0001_initial,
    v0002_report_jobs_and_bi_views,
    v0003_findings,
    v0004_unmarked_trace_index,
    v0005_search_senders_and_schema_drift,
    v0006_tenant_registry,
    v0007_rollups,
    v0008_run_owner,
    v0009_report_job_owner,
    v0010_sender_month_rollup,
    v0011_store_change,
    v0012_sender_day_hours,
    v0013_domain_day_rollup,
    v0014_sender_week_rollup,
    v0015_period_last_active_day,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION_TABLE", "Migration", "current_version", "latest_version", "migrate"]

SCHEMA_VERSION_TABLE = "schema_version"
#: the table whose rows count write transactions (migration 11); a migration counts as one when it exists
STORE_CHANGE_TABLE = "store_change"
#: arbitrary constant naming the PostgreSQL advisory lock that serializes migrations
_PG_LOCK_ID = 0x534D_5450_4155_5448 & 0x7FFF_FFFF_FFFF_FFFF


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    upgrade: Callable[[Connection], None]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, v0001_initial.DESCRIPTION, v0001_initial.upgrade),
    Migration(2, v0002_report_jobs_and_bi_views.DESCRIPTION, v0002_report_jobs_and_bi_views.upgrade),
    Migration(3, v0003_findings.DESCRIPTION, v0003_findings.upgrade),
    Migration(4, v0004_unmarked_trace_index.DESCRIPTION, v0004_unmarked_trace_index.upgrade),
    Migration(5, v0005_search_senders_and_schema_drift.DESCRIPTION, v0005_search_senders_and_schema_drift.upgrade),
    Migration(6, v0006_tenant_registry.DESCRIPTION, v0006_tenant_registry.upgrade),
    Migration(7, v0007_rollups.DESCRIPTION, v0007_rollups.upgrade),
    Migration(8, v0008_run_owner.DESCRIPTION, v0008_run_owner.upgrade),
    Migration(9, v0009_report_job_owner.DESCRIPTION, v0009_report_job_owner.upgrade),
    Migration(10, v0010_sender_month_rollup.DESCRIPTION, v0010_sender_month_rollup.upgrade),
    Migration(11, v0011_store_change.DESCRIPTION, v0011_store_change.upgrade),
    Migration(12, v0012_sender_day_hours.DESCRIPTION, v0012_sender_day_hours.upgrade),
    Migration(13, v0013_domain_day_rollup.DESCRIPTION, v0013_domain_day_rollup.upgrade),
    Migration(14, v0014_sender_week_rollup.DESCRIPTION, v0014_sender_week_rollup.upgrade),
    Migration(15, v0015_period_last_active_day.DESCRIPTION, v0015_period_last_active_day.upgrade),
)

_meta = sa.MetaData()
_schema_version = sa.Table(
    SCHEMA_VERSION_TABLE,
    _meta,
    sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
)


def _now_for(conn: Connection) -> datetime:
    now = datetime.now(UTC)
    # SQLite has no time zones: store naive UTC like models.UTCDateTime does
    return now.replace(tzinfo=None) if conn.dialect.name == "sqlite" else now


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max((m.version for m in migrations), default=0)


def current_version(conn: Connection) -> int:
    """The schema version of the database (0 for an empty one)."""
    if not sa.inspect(conn).has_table(SCHEMA_VERSION_TABLE):
        return 0
    value = conn.execute(sa.select(sa.func.max(_schema_version.c.version))).scalar()
    return int(value or 0)


def _check_order(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise StorageError(f"migrations must be numbered 1..n without gaps, got {versions}")


def migrate(engine: Engine, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply every pending migration; return the schema version reached.

    Raises StorageError when the database is newer than this code or a migration fails (nothing is applied
    then).
    """
    _check_order(migrations)
    target = latest_version(migrations)
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            _meta.create_all(conn, checkfirst=True)
            version = current_version(conn)
            if version > target:
                raise StorageError(
                    f"the database schema is at version {version} but this smtpauth knows versions up to "
                    f"{target}: it was written by a newer smtpauth; upgrade smtpauth "
                    "(pip install -U smtpauth) or point database.url at another database"
                )
            for step in migrations:
                if step.version <= version:
                    continue
                step.upgrade(conn)
                conn.execute(
                    _schema_version.insert().values(
                        version=step.version,
                        description=step.description,
                        applied_at=_now_for(conn),
                    )
                )
            if version < target and sa.inspect(conn).has_table(STORE_CHANGE_TABLE):
                record_change(conn)
            return max(version, target)
    except SQLAlchemyError as exc:
        raise StorageError(
            f"database migration failed ({type(exc).__name__}): {getattr(exc, 'orig', None) or exc}"
        ) from exc
