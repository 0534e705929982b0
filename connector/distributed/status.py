"""What the API shows of the queue: depth per queue, workers with their running jobs, latency of recent jobs.

Read from Procrastinate's tables (``procrastinate_jobs``, ``procrastinate_workers``, ``procrastinate_events``) and
``queue_worker`` (host and process of each worker).
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from connector.store.store import Store

__all__ = ["queue_status", "running_syncs"]

_DEPTH = sa.text(
    """
    SELECT queue_name, status::text AS status, count(*) AS jobs,
           min(coalesce(scheduled_at, (SELECT min(e.at) FROM procrastinate_events e WHERE e.job_id = j.id))) AS oldest
      FROM procrastinate_jobs j
     WHERE status IN ('todo', 'doing')
     GROUP BY queue_name, status
    """
)
_RUNNING = sa.text(
    """
    SELECT j.id, j.task_name, j.args, j.worker_id, j.attempts, w.last_heartbeat,
           (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id AND e.type = 'started') AS started_at,
           qw.host, qw.pid, qw.concurrency
      FROM procrastinate_jobs j
      LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
      LEFT JOIN queue_worker qw ON qw.worker_id = j.worker_id
     WHERE j.status = 'doing'
     ORDER BY j.worker_id, j.id
    """
)
_WORKERS = sa.text(
    """
    SELECT w.id, w.last_heartbeat, qw.host, qw.pid, qw.concurrency, qw.queues, qw.started_at
      FROM procrastinate_workers w LEFT JOIN queue_worker qw ON qw.worker_id = w.id
     ORDER BY w.id
    """
)
#: seconds from "deferred" (or the scheduled time) to "started", over the jobs started in the last hour
_LATENCY = sa.text(
    """
    SELECT j.queue_name,
           count(*) AS jobs,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY w.wait) AS p50,
           percentile_cont(0.95) WITHIN GROUP (ORDER BY w.wait) AS p95
      FROM procrastinate_jobs j
      JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred'
      JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started'
     CROSS JOIN LATERAL (
           SELECT extract(epoch FROM s.at - greatest(d.at, coalesce(j.scheduled_at, d.at))) AS wait
     ) w
     WHERE s.at > now() - interval '1 hour'
     GROUP BY j.queue_name
    """
)


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def queue_status(store: Store) -> dict[str, Any]:
    """Depth per queue, every worker with its running jobs, and queue latency over the last hour."""
    with store.read() as conn:
        depth = conn.execute(_DEPTH).all()
        running = conn.execute(_RUNNING).all()
        workers = conn.execute(_WORKERS).all()
        latency = conn.execute(_LATENCY).all()
    queues: dict[str, dict[str, Any]] = {}
    for r in depth:
        q = queues.setdefault(r.queue_name, {"queue": r.queue_name, "waiting": 0, "running": 0, "oldest_waiting": None})
        if r.status == "todo":
            q["waiting"] = int(r.jobs)
            q["oldest_waiting"] = _iso(r.oldest)
        else:
            q["running"] = int(r.jobs)
    for r in latency:
        q = queues.setdefault(r.queue_name, {"queue": r.queue_name, "waiting": 0, "running": 0, "oldest_waiting": None})
        q["latency_last_hour"] = {"jobs": int(r.jobs), "p50_seconds": float(r.p50), "p95_seconds": float(r.p95)}
    by_worker: dict[Any, list[dict[str, Any]]] = {}
    for r in running:
        by_worker.setdefault(r.worker_id, []).append(
            {
                "job_id": r.id,
                "task": r.task_name.split(":", 1)[-1],
                "tenant": (r.args or {}).get("tenant"),
                "attempt": int(r.attempts) + 1,
                "started_at": _iso(r.started_at),
            }
        )
    out_workers = [
        {
            "worker_id": w.id,
            "host": w.host,
            "pid": w.pid,
            "concurrency": w.concurrency,
            "queues": w.queues.split(",") if w.queues else [],
            "started_at": _iso(w.started_at),
            "last_heartbeat": _iso(w.last_heartbeat),
            "running": by_worker.pop(w.id, []),
        }
        for w in workers
    ]
    orphans = [job for jobs in by_worker.values() for job in jobs]
    return {
        "queues": [queues[k] for k in sorted(queues)],
        "waiting": sum(q["waiting"] for q in queues.values()),
        "running": sum(q["running"] for q in queues.values()),
        "workers": out_workers,
        # running jobs whose worker is gone: queued again by the next stalled-job check
        "orphaned": orphans,
    }


def running_syncs(store: Store) -> list[str]:
    """Tenants whose sync job is running on some worker."""
    q = sa.text("SELECT DISTINCT args->>'tenant' FROM procrastinate_jobs WHERE status = 'doing' AND task_name = :t")
    from connector.distributed.queue import TASK_SYNC

    with store.read() as conn:
        return sorted(str(t) for t in conn.execute(q, {"t": TASK_SYNC}).scalars() if t)
