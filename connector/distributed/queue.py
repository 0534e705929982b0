"""The job queue in PostgreSQL (Procrastinate): its tables, task names, and deferring jobs from any process.

Procrastinate keeps jobs in ``procrastinate_jobs``; workers take them with ``SELECT ... FOR UPDATE SKIP LOCKED``
and are woken by LISTEN/NOTIFY. What smtpauth relies on:

- ``lock`` (``tenant:<name>``): no two jobs with the same lock run at once: one sync per tenant among the jobs
  (the tenant's database lock, :mod:`connector.sync.tenant_lock`, covers every other process);
- ``queueing_lock`` (``sync:<name>``): at most one waiting sync per tenant, so syncs never pile up behind a slow
  one;
- periodic tasks deduplicated per scheduled second (one scheduler tick per period, whichever worker takes it);
- worker heartbeats: the jobs of a worker that stopped beating are queued again (``recover_stalled``).

Errors: :class:`~connector.errors.StorageError` when the queue's tables are missing or from another version.
"""

import logging
from importlib import metadata
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from connector.errors import StorageError
from connector.store.engine import normalize_url

__all__ = [
    "QUEUES",
    "QUEUE_NOTIFY",
    "QUEUE_REPORTS",
    "QUEUE_SCHEDULE",
    "QUEUE_SYNC",
    "TASK_CLEANUP",
    "TASK_NOTIFY",
    "TASK_RECOVER",
    "TASK_REPORT",
    "TASK_SYNC",
    "TASK_TICK",
    "Deferrer",
    "conninfo",
    "ensure_queue_schema",
]

log = logging.getLogger("smtpauth.queue")

QUEUE_SYNC = "sync"
QUEUE_REPORTS = "reports"
QUEUE_NOTIFY = "notify"
QUEUE_SCHEDULE = "schedule"
#: every queue a worker takes jobs from unless told otherwise (`smtpauth worker --queues`)
QUEUES = (QUEUE_SCHEDULE, QUEUE_SYNC, QUEUE_REPORTS, QUEUE_NOTIFY)

_NS = "smtpauth"
TASK_SYNC = f"{_NS}:sync_tenant"
TASK_REPORT = f"{_NS}:run_report"
TASK_NOTIFY = f"{_NS}:deliver_notifications"
TASK_TICK = f"{_NS}:schedule_tick"
TASK_RECOVER = f"{_NS}:recover_stalled"
TASK_CLEANUP = f"{_NS}:remove_old_jobs"

#: the schema version recorded on procrastinate_jobs: the newest migration this Procrastinate ships
_COMMENT_PREFIX = "smtpauth: procrastinate schema "
_SCHEMA_LOCK = 0x534D_5450_5155_4555 & 0x7FFF_FFFF_FFFF_FFFF


def conninfo(database_url: str) -> str:
    """The libpq connection string of a ``postgresql://`` database URL (query options such as search_path kept)."""
    url = normalize_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise StorageError("the job queue needs PostgreSQL: set database.url to a postgresql:// URL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _schema_version() -> str:
    import procrastinate.schema

    names = sorted(p.stem for p in Path(procrastinate.schema.migrations_path).glob("*.sql"))
    return names[-1] if names else metadata.version("procrastinate")


def ensure_queue_schema(info: str) -> str:
    """Create Procrastinate's tables if missing (once, under an advisory lock); check their version otherwise.

    Returns the schema version. Raises StorageError when the tables come from another Procrastinate version.
    """
    import procrastinate.schema

    wanted = _schema_version()
    with psycopg.connect(info) as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        row = conn.execute(
            "SELECT obj_description(to_regclass('procrastinate_jobs'), 'pg_class'), "
            "to_regclass('procrastinate_jobs') IS NOT NULL"
        ).fetchone()
        comment, exists = (row[0], bool(row[1])) if row else (None, False)
        if not exists:
            conn.execute(procrastinate.schema.SchemaManager.get_schema())
            conn.execute(f"COMMENT ON TABLE procrastinate_jobs IS '{_COMMENT_PREFIX}{wanted}'")
            log.info("created the job queue's tables (procrastinate schema %s)", wanted)
            return wanted
    found = str(comment or "").removeprefix(_COMMENT_PREFIX) or "unknown"
    if found != wanted:
        raise StorageError(
            f"the job queue's tables are at procrastinate schema {found}, this smtpauth needs {wanted}: apply "
            "Procrastinate's migrations in between (docs/deployment.md, Upgrading), then COMMENT ON TABLE "
            f"procrastinate_jobs IS '{_COMMENT_PREFIX}{wanted}'"
        )
    return wanted


class Deferrer:
    """Puts jobs on the queue from any process and thread (its own small synchronous connection pool).

    ``connection``: a SQLAlchemy connection on the same database, to queue the job in that transaction.
    """

    def __init__(self, info: str, *, max_size: int = 4) -> None:
        import procrastinate

        self.app = procrastinate.App(
            connector=procrastinate.SyncPsycopgConnector(conninfo=info, min_size=1, max_size=max_size)
        )
        self.app.open()

    def close(self) -> None:
        self.app.close()

    def defer(
        self,
        task: str,
        *,
        queue: str,
        kwargs: dict[str, Any],
        lock: str | None = None,
        queueing_lock: str | None = None,
        priority: int = 0,
        connection: sa.Connection | None = None,
    ) -> int | None:
        """Queue one job; its id, or None when ``queueing_lock`` says the same job is already waiting."""
        import procrastinate.exceptions

        options: dict[str, Any] = {"queue": queue, "priority": priority, "task_kwargs": kwargs}
        if lock:
            options["lock"] = lock
        if queueing_lock:
            options["queueing_lock"] = queueing_lock
        if connection is not None:
            options["connection"] = connection.connection.driver_connection
        try:
            if connection is not None:
                with connection.begin_nested():
                    return int(self.app.configure_task(task, **options).defer())
            return int(self.app.configure_task(task, **options).defer())
        except procrastinate.exceptions.AlreadyEnqueued:
            return None

    def sync(self, tenant: str, *, reason: str, run_id: str, connection: sa.Connection | None = None) -> int | None:
        """Queue a sync of ``tenant`` (None: one is already waiting).

        ``run_id`` names the job's runs: every attempt of the job carries it, so an attempt after a lost worker
        does not sync again what an earlier one finished (:func:`connector.store.runs.resume_point`).
        """
        kwargs: dict[str, Any] = {"tenant": tenant, "reason": reason, "run_id": run_id}
        return self.defer(
            TASK_SYNC,
            queue=QUEUE_SYNC,
            kwargs=kwargs,
            lock=f"tenant:{tenant}",
            queueing_lock=f"sync:{tenant}",
            priority=10 if reason == "on demand" else 0,
            connection=connection,
        )

    def report(self, job_id: str) -> int | None:
        return self.defer(TASK_REPORT, queue=QUEUE_REPORTS, kwargs={"job_id": job_id}, queueing_lock=f"report:{job_id}")

    def notify(self) -> int | None:
        """Queue a delivery of every pending notification (None: one is already waiting and will send them)."""
        return self.defer(TASK_NOTIFY, queue=QUEUE_NOTIFY, kwargs={}, lock="notify", queueing_lock="notify")
