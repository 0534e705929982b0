"""The sync job: every configured tenant (or a chosen few), every source, into the database.

The CLI (``smtpauth sync``), the demo and the scheduler all run this one function. It first imports the files
waiting in the data directory's ``inbox/`` (see :mod:`connector.imports.inbox`), and ends with the insights step
(findings and their notifications, :mod:`connector.insights.step`).
"""

from collections.abc import Sequence
from types import TracebackType
from typing import Self

import httpx

from connector.clock import Clock, SystemClock
from connector.config import Settings
from connector.imports.inbox import InboxOutcome, process_inbox
from connector.imports.loading import ImportResult
from connector.insights.step import run_insights_step
from connector.store.store import Store
from connector.sync.engine import TenantResult, run_sync
from connector.sync.factory import build_context, make_limiter, open_settings_store
from connector.sync.progress import LogProgress, Progress, SourceOutcome
from connector.sync.sources import SOURCE_NAMES

__all__ = ["run_sync_job"]


class _InboxCounts:
    """Progress that counts the files loaded from the inbox in their source's outcome: the rows are stored before
    the source runs, so without this its line would read "succeeded, 0 rows" although they were just loaded."""

    def __init__(self, inner: Progress, inbox: list[InboxOutcome]) -> None:
        self._inner = inner
        self._loaded: dict[tuple[str, str], list[ImportResult]] = {}
        for done in inbox:
            if done.tenant is not None and done.result is not None and done.result.kind in SOURCE_NAMES:
                self._loaded.setdefault((done.tenant, done.result.kind), []).append(done.result)

    def started(self, tenant: str, source: str) -> None:
        self._inner.started(tenant, source)

    def advanced(self, tenant: str, source: str, rows: int, detail: str = "") -> None:
        self._inner.advanced(tenant, source, rows, detail)

    def finished(self, outcome: SourceOutcome) -> None:
        for r in self._loaded.pop((outcome.tenant, outcome.source), []):
            outcome.add_inbox_file(r.rows_seen, r.inserted, r.updated, r.skipped)
        self._inner.finished(outcome)

    def __enter__(self) -> Self:
        self._inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._inner.__exit__(exc_type, exc, tb)


def run_sync_job(
    settings: Settings,
    *,
    tenants: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
    progress: Progress | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
    transport: httpx.BaseTransport | None = None,
    run_id: str | None = None,
    deliver: bool = True,
) -> list[TenantResult]:
    """Sync and return one result per tenant. Raises ConfigError for an unknown tenant name.

    ``run_id`` names the run in ``sync_run`` (default: a new one), so a caller can hand it out before it starts.
    ``deliver`` False leaves new notifications queued for a delivery job (the distributed executor's workers).
    """
    clock = clock or SystemClock()
    chosen = settings.select_tenants(list(tenants) if tenants else None)
    own_store = store is None
    db = store or open_settings_store(settings)
    limiter = make_limiter(settings, clock)
    try:
        # files an admin dropped in the inbox are loaded first, so this run's coverage and artifacts include them
        inbox = process_inbox(settings.inbox_dir, db, clock, [t.name for t in chosen])
        factories = [
            (lambda t=t: build_context(settings, t, db, clock=clock, limiter=limiter, transport=transport))
            for t in chosen
        ]
        with _InboxCounts(progress or LogProgress(), inbox) as prog:
            results = run_sync(
                factories,
                [t.name for t in chosen],
                sources,
                prog,
                max_parallel=settings.max_parallel_tenants,
                clock=clock,
                run_id=run_id,
            )
        # findings rest on the stored data only: computed once every tenant's rows are in
        synced = [r.tenant for r in results if not r.busy]
        run_insights_step(settings, db, synced, now=clock.now(), deliver=deliver)
        return results
    finally:
        if own_store:
            db.close()
