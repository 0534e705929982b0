"""APScheduler 3.x driven by our :class:`~connector.clock.Clock`, so tests move time instead of waiting for it.

APScheduler reads ``datetime.now()`` when it looks for due jobs and again in the executor to decide misfires. Here
the scheduler decides both with the injected clock: a run time older than the job's ``misfire_grace_time`` is
dropped (``EVENT_JOB_MISSED``), the rest is coalesced and handed to :class:`ClockedExecutor`, which runs it without
a second, wall-clock misfire check. :class:`ManualScheduler` never runs on its own: a test calls :meth:`tick`.
"""

import logging
import sys
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from threading import TIMEOUT_MAX
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_JOB_SUBMITTED,
    JobExecutionEvent,
    JobSubmissionEvent,
)
from apscheduler.executors.base import MaxInstancesReachedError
from apscheduler.executors.pool import BasePoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, BaseScheduler

from connector.clock import Clock

__all__ = ["ClockedBackgroundScheduler", "ClockedExecutor", "ManualScheduler"]

log = logging.getLogger("smtpauth.scheduler")


def _run(job: Any, alias: str, run_times: list[datetime], logger_name: str) -> list[JobExecutionEvent]:
    events = []
    logger = logging.getLogger(logger_name)
    for run_time in run_times:
        logger.info("running job %s (scheduled at %s)", job.id, run_time)
        try:
            retval = job.func(*job.args, **job.kwargs)
        except Exception:
            exc, tb = sys.exc_info()[1:]
            formatted = "".join(traceback.format_tb(tb))
            events.append(
                JobExecutionEvent(EVENT_JOB_ERROR, job.id, alias, run_time, exception=exc, traceback=formatted)
            )
            logger.exception("job %s raised an exception", job.id)
        else:
            events.append(JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, alias, run_time, retval=retval))
    return events


class ClockedExecutor(BasePoolExecutor):  # type: ignore[misc]
    """A thread pool that runs the run times the scheduler already judged (no wall-clock misfire check)."""

    def __init__(self, max_workers: int = 4) -> None:
        import concurrent.futures

        super().__init__(concurrent.futures.ThreadPoolExecutor(max_workers, thread_name_prefix="smtpauth-job"))

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def done(f: Any) -> None:
            exc = f.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, f.result())

        future = self._pool.submit(_run, job, job._jobstore_alias, run_times, self._logger.name)
        future.add_done_callback(done)


class _ClockMixin:
    """Replaces APScheduler's job processing with one that reads the injected clock."""

    clock: Clock
    state: int
    timezone: Any
    jobstore_retry_interval: float
    _jobstores: dict[str, Any]
    _jobstores_lock: Any
    _lookup_executor: Callable[[str], Any]
    _dispatch_event: Callable[[Any], None]
    remove_job: Callable[..., None]

    def _submit(self, job: Any, alias: str, now: datetime, events: list[Any]) -> None:
        run_times = job._get_run_times(now)
        grace = job.misfire_grace_time
        fresh = [t for t in run_times if grace is None or now - t <= timedelta(seconds=grace)]
        for t in run_times:
            if t not in fresh:
                log.warning("job %s missed its run at %s (more than %s s late)", job.id, t, grace)
                events.append(JobExecutionEvent(EVENT_JOB_MISSED, job.id, alias, t))
        if fresh and job.coalesce:
            fresh = fresh[-1:]
        if fresh:
            try:
                self._lookup_executor(job.executor).submit_job(job, fresh)
            except MaxInstancesReachedError:
                log.warning("job %s skipped: still running (max_instances=%d)", job.id, job.max_instances)
                events.append(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, job.id, alias, fresh))
            else:
                events.append(JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, alias, fresh))
        following = job.trigger.get_next_fire_time(run_times[-1], now) if run_times else None
        if following:
            job._modify(next_run_time=following)
            self._jobstores[alias].update_job(job)
        else:
            self.remove_job(job.id, alias)

    def _process_jobs(self) -> float | None:
        if self.state == STATE_PAUSED:
            return None
        now = self.clock.now().astimezone(self.timezone)
        wake: datetime | None = None
        events: list[Any] = []
        with self._jobstores_lock:
            for alias, store in self._jobstores.items():
                try:
                    due = store.get_due_jobs(now)
                except Exception as exc:  # noqa: BLE001 (a job store outage is retried, the scheduler stays up)
                    log.warning("cannot read job store %r: %s", alias, exc)
                    retry = now + timedelta(seconds=self.jobstore_retry_interval)
                    wake = retry if wake is None else min(wake, retry)
                    continue
                for job in due:
                    self._submit(job, alias, now, events)
                nxt = store.get_next_run_time()
                if nxt is not None and (wake is None or nxt < wake):
                    wake = nxt
        for event in events:
            self._dispatch_event(event)
        if self.state == STATE_PAUSED or wake is None:
            return None
        return float(min(max((wake - self.clock.now()).total_seconds(), 0.0), TIMEOUT_MAX))


class ClockedBackgroundScheduler(_ClockMixin, BackgroundScheduler):  # type: ignore[misc]
    """The production scheduler: a background thread, woken by the clock's idea of the next run time."""

    def __init__(self, clock: Clock, **options: Any) -> None:
        self.clock = clock
        super().__init__(**options)


class ManualScheduler(_ClockMixin, BaseScheduler):  # type: ignore[misc]
    """Runs due jobs only when :meth:`tick` is called (tests drive it with a FakeClock)."""

    def __init__(self, clock: Clock, **options: Any) -> None:
        self.clock = clock
        super().__init__(**options)

    def wakeup(self) -> None:
        """Nothing runs on its own."""

    def shutdown(self, wait: bool = True) -> None:
        super().shutdown(wait)

    def tick(self) -> float | None:
        return self._process_jobs()
