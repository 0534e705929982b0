"""The service's executor in distributed mode: ``smtpauth serve`` queues jobs, ``smtpauth worker`` runs them.

Any number of ``serve`` processes (behind a proxy) and workers share one PostgreSQL. A sync on demand and a
requested report become jobs on the queue; the nightly schedule is the workers' own (their scheduler tick), so a
``serve`` process holds no lock and has no role to take over.
"""

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from connector.clock import Clock, SystemClock
from connector.config import Settings
from connector.distributed.queue import Deferrer, conninfo, ensure_queue_schema
from connector.distributed.schedule import next_runs
from connector.distributed.status import queue_status, running_syncs
from connector.service.runtime import BusyError
from connector.store.store import Store

__all__ = ["QueueExecutor"]

log = logging.getLogger("smtpauth.service")


class QueueExecutor:
    def __init__(self, settings: Settings, store: Store, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock or SystemClock()
        self.role = "queue"
        self.detail = "jobs run on `smtpauth worker` processes (service.executor = procrastinate)"
        self._deferrer: Deferrer | None = None

    def start(self) -> str:
        info = conninfo(self.settings.database_url)
        ensure_queue_schema(info)
        self._deferrer = Deferrer(info)
        log.info("%s", self.detail)
        return self.role

    def stop(self, grace_seconds: float | None = None) -> bool:
        if self._deferrer is not None:
            self._deferrer.close()
            self._deferrer = None
        self.role = "stopped"
        return True

    @property
    def deferrer(self) -> Deferrer:
        if self._deferrer is None:
            raise RuntimeError("start() opens the queue first")
        return self._deferrer

    def trigger_sync(self, tenants: Sequence[str]) -> str:
        """Queue a sync of each tenant; one run id for them all. Raises BusyError when one is already waiting."""
        from connector.sync.engine import new_run_id

        run_id = new_run_id(self.clock)
        waiting = [t for t in tenants if self.deferrer.sync(t, reason="on demand", run_id=run_id) is None]
        if waiting and len(waiting) == len(tenants):
            raise BusyError(f"a sync of {', '.join(waiting)} is already waiting in the queue")
        return run_id

    def submit_report(self, job_id: str) -> None:
        self.deferrer.report(job_id)

    def syncing(self) -> list[str]:
        return running_syncs(self.store)

    def next_runs(self) -> dict[str, datetime]:
        return next_runs(self.store)

    def queue_status(self) -> dict[str, Any] | None:
        return queue_status(self.store)
