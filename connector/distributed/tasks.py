"""What ``smtpauth worker`` runs: tenant syncs, report jobs, notification deliveries, scheduler ticks, recovery.

The tasks are declared on a Procrastinate blueprint (names only; nothing is built at import time). Each finds the
worker's :class:`WorkerRuntime` (settings, database, deferrer, clock) in its job context. Synchronous tasks run in
the worker's threads (``--concurrency``).

A sync job takes the tenant's database lock (:mod:`connector.sync.tenant_lock`) like every other sync: when a CLI
``smtpauth sync`` holds it, the job is retried later (``service.queue.busy_retries``). A job whose worker died is
queued again by :func:`recover_stalled`; it marks the runs the dead worker left "running" as interrupted (it holds
the tenant's lock, so nobody else is syncing) and syncs again the sources the dead attempt did not finish: every
attempt of a job carries the run id given when it was queued (``connector.store.runs.resume_point``). A job queued
again although its sync had ended (the worker died before the queue heard of it, or its heartbeats came late)
syncs nothing more. Upserts and watermarks make any repeat exact.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import sqlalchemy as sa
from procrastinate import Blueprint, JobContext, RetryStrategy

from connector.clock import Clock
from connector.config import Settings
from connector.distributed.queue import QUEUE_NOTIFY, QUEUE_REPORTS, QUEUE_SCHEDULE, QUEUE_SYNC, Deferrer
from connector.distributed.schedule import enqueue_due
from connector.errors import ConfigError
from connector.store.store import Store
from models import ReportJob

__all__ = ["WorkerRuntime", "blueprint", "runtime_of"]

log = logging.getLogger("smtpauth.worker")

_job: sa.Table = ReportJob.__table__  # type: ignore[attr-defined]

blueprint = Blueprint()


@dataclass
class WorkerRuntime:
    """What the tasks of one worker process share."""

    settings: Settings
    store: Store
    deferrer: Deferrer
    clock: Clock
    #: tenants' settings are re-read from the registry at most this often (seconds)
    registry_ttl: float = 5.0
    _merged: tuple[float, Settings] | None = field(default=None, repr=False)

    def current_settings(self) -> Settings:
        """The configuration with the registry merged in (cached for ``registry_ttl`` seconds)."""
        from connector.tenants import with_registry

        now = self.clock.monotonic()
        if self._merged is None or now - self._merged[0] > self.registry_ttl:
            self._merged = (now, with_registry(self.settings, self.store))
        return self._merged[1]


def runtime_of(context: JobContext) -> WorkerRuntime:
    runtime = context.additional_context.get("runtime")
    if not isinstance(runtime, WorkerRuntime):
        raise TypeError("the worker was started without its runtime (run it with `smtpauth worker`)")
    return runtime


class _Busy(Exception):  # noqa: N818 (a retry signal, not an error)
    """The tenant's lock is held by another process: retry the job later."""


@blueprint.task(name="sync_tenant", queue=QUEUE_SYNC, pass_context=True, retry=RetryStrategy(retry_exceptions={_Busy}))
def sync_tenant(context: JobContext, tenant: str, reason: str = "scheduled", run_id: str | None = None) -> str:
    """Sync one tenant (every source), then queue the delivery of the notifications its findings raised."""
    from connector.sync.engine import new_run_id
    from connector.sync.progress import LogProgress
    from jobs.sync import run_sync_job

    rt = runtime_of(context)
    try:
        settings = rt.current_settings()
        settings.tenant(tenant)
    except ConfigError as exc:
        log.warning("sync of %s not run: %s", tenant, exc)
        return f"not run: {exc}"
    # jobs queued before run ids were given at queueing time carry none
    rid = run_id or new_run_id(rt.clock)
    attempts = context.job.attempts
    log.info("sync %s of %s (%s, attempt %d) on %s", rid, tenant, reason, attempts + 1, context.worker_name)
    results = run_sync_job(
        settings,
        tenants=[tenant],
        clock=rt.clock,
        store=rt.store,
        progress=LogProgress(),
        run_id=rid,
        deliver=False,
    )
    result = results[0]
    if result.busy:
        q = settings.service.queue
        if attempts < q.busy_retries:
            raise _Busy(str(result.error))
        return f"not run: {result.error}"
    from connector.notify import channels_of

    if result.resumed and not result.outcomes:
        return f"{rid}: already synced by an earlier attempt of this job"
    if settings.insights.enabled and channels_of(settings.notify):
        rt.deferrer.notify()
    return f"{rid}: {'ok' if result.ok else result.error or 'with failures'}"


def _busy_retry(settings: Settings) -> RetryStrategy:
    q = settings.service.queue
    return RetryStrategy(max_attempts=q.busy_retries, wait=q.busy_retry_seconds, retry_exceptions={_Busy})


@blueprint.task(name="run_report", queue=QUEUE_REPORTS, pass_context=True)
def run_report(context: JobContext, job_id: str) -> str:
    """Build a requested report (a job cut short by a dead worker is taken up again from the start)."""
    from jobs.report import run_report_job

    rt = runtime_of(context)
    if context.job.attempts > 0:
        with rt.store.transaction() as tx:
            # the attempt before this one died with its worker (Procrastinate queued the job again)
            tx.execute(
                _job.update()
                .where(_job.c.job_id == job_id, _job.c.status == "running")
                .values(status="queued", started_at=None, worker_host=None, worker_pid=None, worker_owner=None)
            )
    job = run_report_job(rt.current_settings(), rt.store, job_id)
    return f"report {job_id}: {job.status}"


@blueprint.task(name="deliver_notifications", queue=QUEUE_NOTIFY, pass_context=True)
def deliver_notifications(context: JobContext) -> str:
    """Send every pending notification (e-mail, webhook); failures stay on their rows for the next delivery."""
    from connector.notify import dispatch

    rt = runtime_of(context)
    result = dispatch(rt.store, rt.settings.notify, now=rt.clock.now())
    return f"{result.sent} sent, {result.failed} failed"


@blueprint.task(name="schedule_tick", queue=QUEUE_SCHEDULE, pass_context=True)
def schedule_tick(context: JobContext, timestamp: int) -> str:
    """One scheduler tick: queue the nightly syncs that are due (connector.distributed.schedule), each with the
    run id its attempts will share."""
    from connector.sync.engine import new_run_id

    rt = runtime_of(context)
    settings = rt.current_settings()

    def defer(tenant: str, fire_at: datetime, tx: sa.Connection) -> int | None:
        reason = f"scheduled {fire_at.isoformat()}"
        return rt.deferrer.sync(tenant, reason=reason, run_id=new_run_id(rt.clock), connection=tx)

    result = enqueue_due(rt.store, settings, rt.clock.now(), defer)
    tick = datetime.fromtimestamp(timestamp, UTC).isoformat()
    return f"tick {tick}: {len(result.queued)} queued, {len(result.waiting)} waiting, {len(result.missed)} missed"


@blueprint.task(name="recover_stalled", queue=QUEUE_SCHEDULE, pass_context=True)
async def recover_stalled(context: JobContext, timestamp: int) -> str:
    """Queue again the jobs of workers that stopped sending heartbeats, and forget those workers."""
    rt = context.additional_context["runtime"]
    seconds = rt.settings.service.queue.stalled_seconds
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(seconds_since_heartbeat=seconds))
    for job in stalled:
        log.warning("job %s (%s %s) lost its worker: queued again", job.id, job.task_name, job.task_kwargs)
        await manager.retry_job(job)
    pruned = await manager.prune_stalled_workers(seconds)
    return f"{len(stalled)} job(s) queued again, {len(pruned)} worker(s) forgotten"


@blueprint.task(name="remove_old_jobs", queue=QUEUE_SCHEDULE, pass_context=True)
async def remove_old_jobs(context: JobContext, timestamp: int) -> str:
    """Delete finished jobs older than ``service.queue.job_retention_hours`` (sync_run keeps the history)."""
    rt = context.additional_context["runtime"]
    await context.app.job_manager.delete_old_jobs(
        nb_hours=rt.settings.service.queue.job_retention_hours,
        include_failed=True,
        include_cancelled=True,
        include_aborted=True,
    )
    return "old jobs removed"
