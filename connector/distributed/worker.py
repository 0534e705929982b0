"""``smtpauth worker``: a Procrastinate worker that runs smtpauth's jobs until SIGTERM or SIGINT.

Every worker also runs Procrastinate's periodic deferrer: each period's scheduler tick and stalled-job check are
queued once (the database refuses a second job for the same task and second) and run on whichever worker takes
them first, so there is no scheduler process to keep alive and no leader to elect.

On SIGTERM the worker stops taking jobs and waits ``service.shutdown_grace_seconds`` for the running ones; a job
still running then is left to the stalled-job recovery of the other workers (it is queued again).

A worker that sent no heartbeat for ``service.queue.stalled_seconds`` is taken for dead by the others: its jobs are
queued again and its row is deleted. A worker that was only paused (a suspended virtual machine, a stopped process)
finds that out when it resumes, by its next heartbeat or by the database refusing its next fetch; it then registers
again under a new id and goes on (Procrastinate's own worker would stop on the refused fetch). It finishes the job
it was running when paused; if another worker takes that job up, queued again meanwhile, it waits for the tenant's
lock and then syncs nothing more (``connector.store.runs.resume_point``).
"""

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from functools import cache
from typing import Any

import sqlalchemy as sa

from connector.clock import Clock, SystemClock
from connector.config import Settings
from connector.distributed.queue import QUEUES, TASK_CLEANUP, TASK_RECOVER, TASK_SYNC, TASK_TICK, Deferrer, conninfo
from connector.distributed.queue import ensure_queue_schema as ensure_schema
from connector.distributed.tasks import WorkerRuntime, _busy_retry, blueprint
from connector.store.store import Store
from models import QueueWorker

__all__ = ["build_worker_app", "cron_every", "run_worker"]

log = logging.getLogger("smtpauth.worker")

_qw: sa.Table = QueueWorker.__table__  # type: ignore[attr-defined]


def cron_every(seconds: int) -> str:
    """A Procrastinate cron (6th field: seconds) firing every ``seconds`` (whole minutes above 59)."""
    if seconds % 60 == 0:
        minutes = seconds // 60
        return "* * * * *" if minutes == 1 else f"*/{minutes} * * * *"
    return f"* * * * * */{seconds}"


def build_worker_app(settings: Settings) -> Any:
    """The Procrastinate app of a worker: smtpauth's tasks, the periodic tick and recovery, the cleanup."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings.database_url)))
    app.add_tasks_from(blueprint, namespace="smtpauth")
    app.tasks[TASK_SYNC].retry_strategy = _busy_retry(settings)
    q = settings.service.queue
    registry = app.periodic_registry
    registry.register_task(
        task=app.tasks[TASK_TICK],
        cron=cron_every(q.tick_seconds),
        periodic_id="tick",
        configure_kwargs={"queueing_lock": "schedule-tick", "lock": "schedule-tick"},
    )
    registry.register_task(
        task=app.tasks[TASK_RECOVER],
        cron=cron_every(max(1, int(q.stalled_seconds // 2))),
        periodic_id="recover",
        configure_kwargs={"queueing_lock": "recover-stalled", "lock": "recover-stalled"},
    )
    registry.register_task(
        task=app.tasks[TASK_CLEANUP],
        cron="17 * * * *",
        periodic_id="cleanup",
        configure_kwargs={"queueing_lock": "remove-old-jobs", "lock": "remove-old-jobs"},
    )
    return app


#: is the worker's row still there (Procrastinate's heartbeat updates nothing, silently, once it is gone)
_REGISTERED = "SELECT id FROM procrastinate_workers WHERE id = %(worker_id)s"


@cache
def _rejoining_worker() -> type[Any]:
    """Procrastinate's worker class, which registers again when the other workers have forgotten it (see the
    module's docstring). Built on first use: Procrastinate is an optional dependency."""
    import procrastinate.worker
    from procrastinate import exceptions

    class RejoiningWorker(procrastinate.worker.Worker):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            #: told (old id, new id) after registering again
            self.on_rejoined: Callable[[int, int], Awaitable[None]] | None = None
            self._rejoining = asyncio.Lock()

        async def _update_heartbeat(self) -> None:
            while True:
                await asyncio.sleep(self.update_heartbeat_interval)
                seen = self._id()
                await self.app.job_manager.update_heartbeat(seen)
                if not await self._registered(seen):
                    await self._rejoin(seen)

        async def _fetch_and_process_jobs(self) -> None:
            while True:
                seen = self._id()
                try:
                    await super()._fetch_and_process_jobs()  # type: ignore[no-untyped-call]
                except exceptions.ConnectorException:
                    # a fetch by a forgotten worker is refused (its id is no longer a worker's); anything else
                    # is an error to stop on, as before
                    if await self._registered(seen):
                        raise
                    await self._rejoin(seen)
                else:
                    return

        def _id(self) -> int:
            if self.worker_id is None:  # registered before the side tasks and the fetches start
                raise RuntimeError("the worker is not registered")
            worker_id: int = self.worker_id
            return worker_id

        async def _registered(self, worker_id: int) -> bool:
            rows = await self.app.connector.execute_query_all_async(query=_REGISTERED, worker_id=worker_id)
            return bool(rows)

        async def _rejoin(self, old: int) -> None:
            """Register again, unless the heartbeat or the fetch loop (both notice) did since it saw ``old``."""
            async with self._rejoining:
                if self.worker_id != old:
                    return
                self.worker_id = await self.app.job_manager.register_worker()
                log.warning(
                    "worker %s sent no heartbeat for %g s (the process or its machine was paused?): the other "
                    "workers took it for dead and queued its jobs again; registered again as worker %s",
                    old,
                    self.stalled_worker_timeout,
                    self.worker_id,
                )
                if self.on_rejoined is not None:
                    await self.on_rejoined(old, self.worker_id)

    return RejoiningWorker


async def _record_worker(worker: Any, store: Store, concurrency: int, queues: Sequence[str], clock: Clock) -> None:
    while worker.worker_id is None:
        await asyncio.sleep(0.05)
    row = {
        "worker_id": worker.worker_id,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "concurrency": concurrency,
        "queues": ",".join(queues),
        "started_at": clock.now(),
    }

    def write() -> None:
        with store.transaction() as tx:
            tx.execute(_qw.insert().values(**row))

    await asyncio.to_thread(write)
    log.info(
        "worker %s started on %s (pid %s): %d job(s) at a time", worker.worker_id, row["host"], row["pid"], concurrency
    )


async def _renumber_worker(store: Store, old: int, new: int) -> None:
    """The worker's ``queue_worker`` row under its new Procrastinate id (the API joins them on it)."""

    def write() -> None:
        with store.transaction() as tx:
            tx.execute(_qw.update().where(_qw.c.worker_id == old).values(worker_id=new))

    await asyncio.to_thread(write)


def run_worker(
    settings: Settings,
    store: Store,
    *,
    concurrency: int | None = None,
    queues: Sequence[str] | None = None,
    clock: Clock | None = None,
) -> None:
    """Run until SIGTERM/SIGINT. Raises StorageError when the queue's tables are from another version."""
    clock = clock or SystemClock()
    info = conninfo(settings.database_url)
    ensure_schema(info)
    q = settings.service.queue
    concurrency = concurrency or q.worker_concurrency
    chosen = list(queues or QUEUES)
    # enough connections for the running jobs' deferrals and the tick's transaction
    deferrer = Deferrer(info, max_size=max(2, concurrency))
    runtime = WorkerRuntime(settings=settings, store=store, deferrer=deferrer, clock=clock)
    app = build_worker_app(settings)

    async def main() -> None:
        async with app.open_async():
            worker = _rejoining_worker()(
                app=app,
                queues=chosen,
                name=f"{socket.gethostname()}:{os.getpid()}",
                concurrency=concurrency,
                fetch_job_polling_interval=q.poll_seconds,
                abort_job_polling_interval=q.poll_seconds,
                shutdown_graceful_timeout=settings.service.shutdown_grace_seconds,
                additional_context={"runtime": runtime},
                update_heartbeat_interval=q.heartbeat_seconds,
                stalled_worker_timeout=q.stalled_seconds,
            )
            worker.on_rejoined = lambda old, new: _renumber_worker(store, old, new)
            recorder = asyncio.create_task(_record_worker(worker, store, concurrency, chosen, clock))
            try:
                await worker.run()
            finally:
                recorder.cancel()

    try:
        asyncio.run(main())
    finally:
        deferrer.close()
        with store.transaction() as tx:
            tx.execute(
                _qw.update()
                .where(_qw.c.pid == os.getpid(), _qw.c.host == socket.gethostname(), _qw.c.stopped_at.is_(None))
                .values(stopped_at=clock.now())
            )
