"""Run bookkeeping: ``sync_run`` records, watermarks, coverage and skipped records.

Every function takes the caller's connection and never commits, so a watermark moves in the same transaction
as the
rows it covers::

    with store.transaction() as tx:
        upsert(tx, SignIn, rows, key=("tenant", "signin_id")) set_watermark(tx, tenant, "signins",
        "created_at", newest.isoformat(), now=clock.now())
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.errors import RecordError, SmtpAuthError, StorageError
from connector.sources.drift import DriftRecorder
from connector.store.owner import current_owner, owner_state
from connector.store.upsert import UpsertResult, upsert
from models import COVERAGE_STATUSES, RUN_STATUSES, Coverage, SchemaDrift, SkippedRecord, SyncRun, Watermark

__all__ = [
    "MAX_SAMPLE_CHARS",
    "RunCounts",
    "drift_rows",
    "finish_run",
    "get_watermark",
    "mark_interrupted_runs",
    "orphaned_runs",
    "record_drift",
    "record_skipped",
    "resume_point",
    "set_coverage",
    "set_watermark",
    "start_run",
]

#: longest sample of a skipped record we keep
MAX_SAMPLE_CHARS = 500
_MAX_ERROR_CHARS = 4000

_run: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
_watermark: sa.Table = Watermark.__table__  # type: ignore[attr-defined]
_skipped: sa.Table = SkippedRecord.__table__  # type: ignore[attr-defined]
_drift: sa.Table = SchemaDrift.__table__  # type: ignore[attr-defined]


@dataclass
class RunCounts:
    """Counters a source accumulates during a run."""

    rows_seen: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_skipped: int = 0
    retries: int = 0
    throttled_count: int = 0

    def add(self, result: UpsertResult) -> None:
        self.rows_seen += result.seen
        self.rows_inserted += result.inserted
        self.rows_updated += result.updated


def start_run(
    conn: Connection, *, tenant: str, source: str, run_id: str, now: datetime, owner: str | None = None
) -> int:
    """Record a run as ``running``, owned by this process (or ``owner``); return its ``sync_run.id``.
    Raises StorageError if it exists."""
    try:
        return int(
            conn.execute(
                _run.insert()
                .values(
                    tenant=tenant,
                    source=source,
                    run_id=run_id,
                    started_at=now,
                    status="running",
                    owner=current_owner() if owner is None else owner,
                )
                .returning(_run.c.id)
            ).scalar_one()
        )
    except sa.exc.IntegrityError as exc:
        raise StorageError(f"sync run {run_id!r} for {tenant}/{source} already exists") from exc


def finish_run(
    conn: Connection,
    run: int,
    *,
    status: str,
    now: datetime,
    counts: RunCounts | None = None,
    error: BaseException | None = None,
    request_ids: Sequence[str] = (),
) -> None:
    """Close a run with its final status, counters and (safe) error text."""
    if status not in RUN_STATUSES or status == "running":
        raise StorageError(f"a finished run cannot have status {status!r}")
    counts = counts or RunCounts()
    values: dict[str, object] = {
        "status": status,
        "ended_at": now,
        "rows_seen": counts.rows_seen,
        "rows_inserted": counts.rows_inserted,
        "rows_updated": counts.rows_updated,
        "rows_skipped": counts.rows_skipped,
        "retries": counts.retries,
        "throttled_count": counts.throttled_count,
        "request_ids": json.dumps(list(request_ids)) if request_ids else None,
    }
    if error is not None:
        values["error_class"] = error.kind if isinstance(error, SmtpAuthError) else type(error).__name__
        # only our own errors promise a message free of secrets; for anything else keep the class name only
        values["error_message"] = str(error)[:_MAX_ERROR_CHARS] if isinstance(error, SmtpAuthError) else None
    updated = conn.execute(sa.update(_run).where(_run.c.id == run).values(**values)).rowcount
    if updated != 1:
        raise StorageError(f"sync run {run} does not exist")


def orphaned_runs(conn: Connection, *, tenant: str | None = None, lock_held: bool = False) -> list[int]:
    """Ids of the runs still ``running`` whose process is gone (:mod:`connector.store.owner`).

    ``lock_held``: the caller holds ``tenant``'s sync lock, which proves no other sync of it is alive anywhere
    (every sync takes that lock): all its sync runs are gone. Imports take no lock: theirs only when their
    process is provably dead.
    """
    query = sa.select(_run.c.id, _run.c.run_id, _run.c.owner).where(_run.c.status == "running")
    if tenant is not None:
        query = query.where(_run.c.tenant == tenant)
    gone: list[int] = []
    for row in conn.execute(query).all():
        if (lock_held and not row.run_id.startswith("import-")) or owner_state(row.owner) == "dead":
            gone.append(int(row.id))
    return gone


def mark_interrupted_runs(
    conn: Connection,
    *,
    now: datetime,
    tenant: str | None = None,
    lock_held: bool = False,
    message: str = "the process stopped before the run finished",
) -> int:
    """Mark the runs still ``running`` whose process is gone as failed (see :func:`orphaned_runs`); a run of a
    live process (a CLI command beside the service) is left alone."""
    ids = orphaned_runs(conn, tenant=tenant, lock_held=lock_held)
    if not ids:
        return 0
    return int(
        conn.execute(
            sa.update(_run)
            .where(_run.c.id.in_(ids), _run.c.status == "running")
            .values(status="failed", ended_at=now, error_class="interrupted", error_message=message)
        ).rowcount
    )


def resume_point(conn: Connection, *, tenant: str, run_id: str) -> tuple[str, frozenset[str]]:
    """Where a sync named ``run_id`` picks up when the tenant already has runs under that name: the id of this
    attempt, and the sources an earlier attempt ran to their end.

    A queued sync job keeps its run id across attempts. Its job is queued again when its worker dies, or when the
    worker's heartbeats come late on a loaded machine although its sync finished; the new attempt must not sync
    what the earlier one did. A source "ran to its end" whatever its status, unless it was cut short
    (``interrupted``). The first attempt is named ``run_id``, the next ones ``run_id-r<6 hex>``.

    Call while holding the tenant's sync lock, once its abandoned runs are marked interrupted: then no earlier
    attempt is still running.
    """
    rows = conn.execute(
        sa.select(_run.c.source, _run.c.status, _run.c.error_class).where(
            _run.c.tenant == tenant,
            sa.or_(_run.c.run_id == run_id, _run.c.run_id.startswith(f"{run_id}-r", autoescape=True)),
        )
    ).all()
    if not rows:
        return run_id, frozenset()
    done = frozenset(r.source for r in rows if r.status != "running" and r.error_class != "interrupted")
    return f"{run_id}-r{uuid.uuid4().hex[:6]}", done


def get_watermark(conn: Connection, tenant: str, source: str, key: str) -> str | None:
    return conn.execute(
        sa.select(_watermark.c.value).where(
            _watermark.c.tenant == tenant, _watermark.c.source == source, _watermark.c.key == key
        )
    ).scalar_one_or_none()


def set_watermark(conn: Connection, tenant: str, source: str, key: str, value: str, *, now: datetime) -> None:
    upsert(
        conn,
        Watermark,
        [{"tenant": tenant, "source": source, "key": key, "value": value, "updated_at": now}],
        key=("tenant", "source", "key"),
    )


def set_coverage(
    conn: Connection,
    tenant: str,
    source: str,
    *,
    status: str,
    now: datetime,
    reason: str | None = None,
    fix: str | None = None,
    data_as_of: datetime | None = None,
) -> None:
    """Record what ``source`` can deliver for ``tenant``. ``data_as_of`` None keeps the stored value."""
    if status not in COVERAGE_STATUSES:
        raise StorageError(f"coverage status must be one of {', '.join(COVERAGE_STATUSES)}, not {status!r}")
    row: dict[str, object] = {
        "tenant": tenant,
        "source": source,
        "status": status,
        "reason": reason,
        "fix": fix,
        "checked_at": now,
    }
    if data_as_of is not None:
        row["data_as_of"] = data_as_of
    upsert(conn, Coverage, [row], key=("tenant", "source"))


def record_skipped(
    conn: Connection,
    *,
    tenant: str,
    source: str,
    run: int | None,
    error: RecordError,
    now: datetime,
) -> None:
    """Keep a skipped record's reason and a truncated sample for the admin to inspect."""
    location = getattr(error, "location", None)
    sample = getattr(error, "sample", None)
    conn.execute(
        _skipped.insert().values(
            tenant=tenant,
            source=source,
            sync_run_id=run,
            reason=str(getattr(error, "reason", None) or error)[:_MAX_ERROR_CHARS],
            location=location if isinstance(location, str) else None,
            sample=sample[:MAX_SAMPLE_CHARS] if isinstance(sample, str) else None,
            recorded_at=now,
        )
    )


def record_drift(
    conn: Connection, *, tenant: str, source: str, drift: DriftRecorder, run_id: str | None, now: datetime
) -> int:
    """Store a run's schema drift: a new difference is inserted, a known one gets ``last_seen_at`` and one more
    occurrence. Returns how many differences the run saw."""
    for (subject, kind, name), found in drift.found.items():
        key = sa.and_(
            _drift.c.tenant == tenant,
            _drift.c.source == source,
            _drift.c.subject == subject,
            _drift.c.kind == kind,
            _drift.c.name == name,
        )
        updated = conn.execute(
            sa.update(_drift)
            .where(key)
            .values(last_seen_at=now, last_run_id=run_id, detail=found.detail, occurrences=_drift.c.occurrences + 1)
        ).rowcount
        if not updated:
            conn.execute(
                _drift.insert().values(
                    tenant=tenant,
                    source=source,
                    subject=subject,
                    kind=kind,
                    name=name[:500],
                    detail=found.detail[:_MAX_ERROR_CHARS],
                    first_seen_at=now,
                    last_seen_at=now,
                    last_run_id=run_id,
                    occurrences=1,
                )
            )
    return len(drift.found)


def drift_rows(conn: Connection, tenant: str | None = None) -> list[Any]:
    """Stored schema drift, newest first (every tenant when None)."""
    query = sa.select(_drift).order_by(_drift.c.last_seen_at.desc(), _drift.c.id)
    if tenant is not None:
        query = query.where(_drift.c.tenant == tenant)
    return list(conn.execute(query))
