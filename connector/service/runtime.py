"""The service's job runner: nightly syncs, syncs on demand and request-report jobs on one APScheduler executor.

Only the process holding the scheduler lock (:mod:`connector.service.lock`) runs jobs ("leader"); another one
serves the API ("standby") and retries the lock every ``service.lock_poll_seconds``, taking over when the leader
stops. Becoming leader recovers what a crash left behind (sync runs and report jobs still "running"), then starts
the scheduler. Nightly jobs live in a persistent job store (APScheduler's table ``apscheduler_jobs`` in the same
database) with fixed ids ``nightly-sync:<tenant>``: a restart keeps a stored job whose schedule did not change, so
a run due during the restart is neither lost nor doubled. One-off jobs (a sync on demand, a report) use the
in-memory store: the ``report_job`` and ``sync_run`` tables are their record (APScheduler deletes one-off jobs when
it submits them).
"""

import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx

from connector.clock import Clock, SystemClock
from connector.config import ScheduleSettings, Settings
from connector.errors import SmtpAuthError
from connector.service.clocked import ClockedBackgroundScheduler, ClockedExecutor, ManualScheduler
from connector.service.jobstate import mark_own_jobs_interrupted, queued_report_jobs
from connector.service.lock import SchedulerLock, open_scheduler_lock
from connector.store.runs import mark_interrupted_runs
from connector.store.store import Store

__all__ = ["NIGHTLY_PREFIX", "BusyError", "JobRunner", "NotLeaderError", "nightly_sync"]

log = logging.getLogger("smtpauth.service")

NIGHTLY_PREFIX = "nightly-sync:"
Role = Literal["leader", "standby", "disabled", "stopped"]

#: runners by database key: persisted nightly jobs name the database, not a Python object
_RUNNERS: dict[str, "JobRunner"] = {}
_RUNNERS_LOCK = threading.Lock()


class NotLeaderError(SmtpAuthError):
    """This process does not run the scheduler (another one holds the lock)."""


class BusyError(SmtpAuthError):
    """A sync of the tenant is already running."""


def database_key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def nightly_sync(db_key: str, tenant: str) -> None:
    """The nightly job (referenced by name from the persistent job store)."""
    with _RUNNERS_LOCK:
        runner = _RUNNERS.get(db_key)
    if runner is None:
        log.error("nightly sync of %s fired without a running service for its database", tenant)
        return
    runner.run_sync([tenant], runner.new_run_id())


class JobRunner:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock | None = None,
        transport: httpx.BaseTransport | None = None,
        manual: bool = False,
        lock: SchedulerLock | None = None,
        max_workers: int = 4,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.transport = transport
        self.key = database_key(settings.database_url)
        self.role: Role = "disabled" if not settings.service.scheduler else "standby"
        self.detail = ""
        self._manual = manual
        self._lock = lock
        self._max_workers = max_workers
        self._scheduler: Any = None
        self._syncing: set[str] = set()
        self._own_runs: set[str] = set()
        self._guard = threading.Lock()
        self._stop = threading.Event()
        self._poller: threading.Thread | None = None
        #: finishes the scheduler's shutdown (after stop() gave up waiting, it still waits for abandoned jobs)
        self.shutdown_thread: threading.Thread | None = None
        #: called with the tenants a sync of this process finished without failure
        self.synced_listeners: list[Callable[[list[str]], None]] = []

    # ---- leadership -------------------------------------------------------------------------------------------

    def start(self) -> Role:
        """Take the scheduler lock if free and start the scheduler; otherwise wait for it in the background."""
        if not self.settings.service.scheduler:
            self.detail = "scheduler off (service.scheduler = false): API and dashboard only"
            log.info(self.detail)
            return self.role
        if self._lock is None:
            self._lock = open_scheduler_lock(self.settings.database_url)
        if not self.try_lead():
            self.detail = "another smtpauth serve runs the scheduler for this database: API and dashboard only"
            log.warning("%s; taking over when it stops", self.detail)
            if not self._manual:
                self._poller = threading.Thread(target=self._wait_for_lock, name="smtpauth-lock", daemon=True)
                self._poller.start()
        return self.role

    def try_lead(self) -> bool:
        """One attempt to become the leader (the standby poller and tests call it)."""
        if self._lock is None:
            raise RuntimeError("start() opens the scheduler lock first")
        if self.role == "leader":
            return True
        if self.role == "stopped" or not self._lock.acquire():
            return False
        with _RUNNERS_LOCK:
            _RUNNERS[self.key] = self
        self.role = "leader"
        self.detail = "this process runs the scheduler"
        self._recover()
        self._start_scheduler()
        log.info("scheduler started: %s", ", ".join(f"{j.id} next {j.next_run_time}" for j in self.jobs()))
        return True

    def _wait_for_lock(self) -> None:
        while not self._stop.wait(self.settings.service.lock_poll_seconds):
            if self.role == "leader":
                if self._lock is not None and not self._lock.held():
                    log.error("scheduler lock lost: stopping the scheduler")
                    self._stop_scheduler(wait=False)
                    self.role = "standby"
                continue
            if self.try_lead():
                log.info("took the scheduler over")

    def _recover(self) -> None:
        from jobs.report import recover_report_jobs

        now = self.clock.now()
        with self.store.transaction() as tx:
            runs = mark_interrupted_runs(tx, now=now)
        jobs = recover_report_jobs(self.settings, self.store, now=now)
        if runs or jobs:
            log.warning("recovered %d interrupted sync run(s) and %d report job(s) as failed", runs, len(jobs))

    # ---- the scheduler ----------------------------------------------------------------------------------------

    def _start_scheduler(self) -> None:
        from apscheduler.jobstores.memory import MemoryJobStore
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        options: dict[str, Any] = {
            "jobstores": {
                # the store's own engine, never a second one: on SQLite a second engine is one more holder of the
                # database file (connector.store.engine). APScheduler disposes it at shutdown, which only closes
                # its idle connections.
                "default": SQLAlchemyJobStore(engine=self.store.engine),
                "memory": MemoryJobStore(),
            },
            "executors": {"default": ClockedExecutor(self._max_workers)},
            "job_defaults": {
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": int(self.settings.service.misfire_grace_hours * 3600),
            },
            "timezone": "UTC",
        }
        cls = ManualScheduler if self._manual else ClockedBackgroundScheduler
        self._scheduler = cls(self.clock, **options)
        self._scheduler.start(paused=True)
        self._reconcile_nightly()
        self._scheduler.add_job(
            self._pick_up_reports,
            "interval",
            seconds=self.settings.service.report_poll_seconds,
            id="report-poll",
            jobstore="memory",
            next_run_time=self.clock.now(),
            misfire_grace_time=None,
        )
        self._scheduler.resume()

    def _trigger(self, schedule: ScheduleSettings) -> Any:
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(schedule.cron, timezone=ZoneInfo(schedule.timezone))
        trigger.jitter = self.settings.service.jitter_seconds or None
        return trigger

    def _current(self) -> Settings:
        """The configuration with the tenant registry's tenants (read now: registry changes need no restart)."""
        from connector.tenants import with_registry

        return with_registry(self.settings, self.store)

    def _reconcile_nightly(self) -> None:
        current = self._current()
        wanted: dict[str, ScheduleSettings] = {
            t.name: current.service.tenant_schedules.get(t.name, current.service.schedule) for t in current.tenants
        }
        for job in self._scheduler.get_jobs(jobstore="default"):
            tenant = job.id.removeprefix(NIGHTLY_PREFIX)
            if not job.id.startswith(NIGHTLY_PREFIX) or tenant not in wanted:
                log.info("removing scheduled job %s (no longer configured)", job.id)
                self._scheduler.remove_job(job.id, jobstore="default")
        for tenant, schedule in wanted.items():
            trigger = self._trigger(schedule)
            job_id = NIGHTLY_PREFIX + tenant
            args = (self.key, tenant)
            existing = self._scheduler.get_job(job_id, jobstore="default")
            same = existing is not None and (str(existing.trigger), existing.trigger.jitter, tuple(existing.args)) == (
                str(trigger),
                trigger.jitter,
                args,
            )
            if same:
                continue  # unchanged: keep its stored next run time (a run due during a restart still happens)
            self._scheduler.add_job(
                "connector.service.runtime:nightly_sync",
                trigger,
                args=args,
                id=job_id,
                name=f"nightly sync of {tenant}",
                jobstore="default",
                replace_existing=True,
                next_run_time=trigger.get_next_fire_time(None, self.clock.now()),
            )

    def jobs(self) -> list[Any]:
        """The nightly jobs (empty unless leader)."""
        if self._scheduler is None:
            return []
        return [j for j in self._scheduler.get_jobs(jobstore="default") if j.id.startswith(NIGHTLY_PREFIX)]

    def tick(self) -> None:
        """Run due jobs now (ManualScheduler, for tests)."""
        if isinstance(self._scheduler, ManualScheduler):
            self._scheduler.tick()

    def add_listener(self, callback: Callable[[Any], None], mask: int) -> None:
        if self._scheduler is not None:
            self._scheduler.add_listener(callback, mask)

    # ---- jobs -------------------------------------------------------------------------------------------------

    def new_run_id(self) -> str:
        from connector.sync.engine import new_run_id

        return new_run_id(self.clock)

    def run_sync(self, tenants: Sequence[str], run_id: str) -> None:
        """Sync ``tenants`` (skipping any already syncing in this process) under ``run_id``."""
        from connector.sync.progress import LogProgress
        from jobs.sync import run_sync_job

        with self._guard:
            chosen = [t for t in tenants if t not in self._syncing]
            self._syncing.update(chosen)
            self._own_runs.add(run_id)
        skipped = sorted(set(tenants) - set(chosen))
        if skipped:
            log.warning("sync of %s skipped: already running", ", ".join(skipped))
        if not chosen:
            return
        try:
            results = run_sync_job(
                self._current(),
                tenants=chosen,
                clock=self.clock,
                store=self.store,
                transport=self.transport,
                progress=LogProgress(),
                run_id=run_id,
            )
            for r in results:
                log.info("sync %s of %s: %s", run_id, r.tenant, "ok" if r.ok else (r.error or "with failures"))
            synced = [r.tenant for r in results if r.ok]
            for listener in self.synced_listeners if synced else ():
                try:
                    listener(synced)
                except Exception:
                    log.exception("after the sync of %s", ", ".join(synced))
        finally:
            with self._guard:
                self._syncing.difference_update(chosen)
                self._own_runs.discard(run_id)

    def trigger_sync(self, tenants: Sequence[str]) -> str:
        """Queue a sync of ``tenants`` now; return its run id. Raises NotLeaderError, Busy, ConfigError."""
        self._current().select_tenants(list(tenants))
        if self.role != "leader" or self._scheduler is None:
            raise NotLeaderError("this process does not run the scheduler: " + (self.detail or self.role))
        with self._guard:
            busy = sorted(set(tenants) & self._syncing)
        if busy:
            raise BusyError(f"a sync of {', '.join(busy)} is already running: wait for it to finish")
        run_id = self.new_run_id()
        self._scheduler.add_job(
            self.run_sync,
            args=(list(tenants), run_id),
            id=f"sync-now:{run_id}",
            jobstore="memory",
            next_run_time=self.clock.now(),
            misfire_grace_time=None,
        )
        self._scheduler.wakeup()
        return run_id

    def submit_report(self, job_id: str) -> None:
        """Run the queued report job on the executor (leader only; a standby's requests wait for the leader)."""
        if self.role != "leader" or self._scheduler is None:
            return
        from apscheduler.jobstores.base import ConflictingIdError

        from jobs.report import run_report_job

        try:
            self._scheduler.add_job(
                run_report_job,
                args=(self._current(), self.store, job_id),
                id=f"report:{job_id}",
                jobstore="memory",
                next_run_time=self.clock.now(),
                misfire_grace_time=None,
            )
        except ConflictingIdError:
            return
        self._scheduler.wakeup()

    def _pick_up_reports(self) -> None:
        for job_id in queued_report_jobs(self.store):
            self.submit_report(job_id)

    def syncing(self) -> list[str]:
        with self._guard:
            return sorted(self._syncing)

    def next_runs(self) -> dict[str, datetime]:
        return {j.id.removeprefix(NIGHTLY_PREFIX): j.next_run_time for j in self.jobs()}

    def queue_status(self) -> dict[str, Any] | None:
        return None  # jobs run in this process's executor

    # ---- shutdown ---------------------------------------------------------------------------------------------

    def _stop_scheduler(self, *, wait: bool) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    def stop(self, grace_seconds: float | None = None) -> bool:
        """Stop: running jobs get ``grace_seconds`` to finish, then are marked interrupted.

        Returns True when every job finished (False: some were abandoned and marked; the caller should exit).
        """
        grace = self.settings.service.shutdown_grace_seconds if grace_seconds is None else grace_seconds
        self._stop.set()
        finished = True
        if self._scheduler is not None:
            self._scheduler.pause()
            done = threading.Event()
            scheduler = self._scheduler

            def shut() -> None:
                scheduler.shutdown(wait=True)
                done.set()

            self.shutdown_thread = threading.Thread(target=shut, name="smtpauth-shutdown", daemon=True)
            self.shutdown_thread.start()
            finished = done.wait(grace)
            self._scheduler = None
            if not finished:
                with self._guard:
                    own = set(self._own_runs)
                jobs, runs = mark_own_jobs_interrupted(self.store, own, now=self.clock.now())
                log.warning(
                    "stopped with jobs running: %d report job(s), %d sync run(s) marked interrupted", jobs, runs
                )
        with _RUNNERS_LOCK:
            if _RUNNERS.get(self.key) is self:
                del _RUNNERS[self.key]
        if self._lock is not None:
            self._lock.release()
        self.role = "stopped"
        return finished
