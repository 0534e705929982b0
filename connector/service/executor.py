"""What the service asks of whoever runs its jobs: the local :class:`~connector.service.runtime.JobRunner`
(APScheduler in this process) or the distributed :class:`~connector.distributed.executor.QueueExecutor` (jobs on a
PostgreSQL queue, run by ``smtpauth worker`` processes)."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from connector.clock import Clock

__all__ = ["Executor"]


class Executor(Protocol):
    @property
    def clock(self) -> Clock: ...

    @property
    def role(self) -> str:
        """leader, standby, disabled, stopped (local) or queue (distributed)."""

    @property
    def detail(self) -> str: ...

    def start(self) -> str:
        """Start; return the role."""

    def stop(self, grace_seconds: float | None = None) -> bool:
        """Stop; True when every job of this process finished in time."""

    def trigger_sync(self, tenants: Sequence[str]) -> str:
        """Run a sync of ``tenants`` now; its run id. Raises NotLeaderError, BusyError, ConfigError."""

    def submit_report(self, job_id: str) -> None:
        """Have the queued report job ``job_id`` run."""

    def syncing(self) -> list[str]:
        """Tenants being synced now."""

    def next_runs(self) -> dict[str, datetime]:
        """Each tenant's next scheduled sync."""

    def queue_status(self) -> dict[str, Any] | None:
        """Queue depth, workers and their running jobs (None: no queue, jobs run in this process)."""
