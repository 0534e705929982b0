"""What a source run works with: the tenant, its client and the store, and the bookkeeping of one run."""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy.engine import Connection

from connector.clock import Clock
from connector.config import SyncSettings, TenantSettings
from connector.http.client import GraphClient
from connector.sources._base import InvalidRecordError, Normalized
from connector.sources.drift import DriftRecorder
from connector.store import runs
from connector.store.store import Store
from connector.store.upsert import UpsertResult
from connector.sync.progress import Progress

__all__ = ["SourceRun", "TenantContext"]

log = logging.getLogger("smtpauth.sync")

#: skipped records kept with a sample per run (all are counted)
MAX_SKIPPED_SAMPLES = 100
BATCH_ROWS = 2000


@dataclass
class TenantContext:
    tenant: TenantSettings
    client: GraphClient
    store: Store
    clock: Clock
    options: SyncSettings
    #: set by the report-settings source: the tenant conceals user names in usage reports
    concealed: bool | None = None
    on_close: Callable[[], None] | None = None

    def close(self) -> None:
        if self.on_close is not None:
            self.on_close()


@dataclass
class SourceRun:
    """Counters and evidence of one source's run; ``load`` is the one way rows reach the database."""

    ctx: TenantContext
    source: str
    run_pk: int
    progress: Progress
    counts: runs.RunCounts = field(default_factory=runs.RunCounts)
    request_ids: list[str] = field(default_factory=list)
    data_as_of: datetime | None = None
    coverage_status: str = "ok"
    coverage_reason: str | None = None
    #: what the source received that its normalizers did not expect (stored in schema_drift by the engine)
    drift: DriftRecorder = field(default_factory=DriftRecorder)
    _samples: int = 0

    @property
    def tenant(self) -> str:
        return self.ctx.tenant.name

    def note_request(self, request_id: str | None) -> None:
        if request_id:
            self.request_ids.append(request_id)
            del self.request_ids[:-50]

    def skipped(self, tx: Connection, error: InvalidRecordError) -> None:
        self.counts.rows_skipped += 1
        if self._samples < MAX_SKIPPED_SAMPLES:
            self._samples += 1
            runs.record_skipped(
                tx,
                tenant=self.tenant,
                source=self.source,
                run=self.run_pk,
                error=error,
                now=self.ctx.clock.now(),
            )

    def load(
        self,
        tx: Connection,
        model: Any,
        key: Sequence[str],
        items: Iterable[Normalized],
        *,
        keep: Callable[[dict[str, Any]], bool] | None = None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> UpsertResult:
        """Upsert the rows among ``items`` in batches; count and sample the skipped ones.

        ``keep`` filters rows that are read but deliberately not stored (counted as seen only).
        """
        total = UpsertResult()
        for batch in _batched(self._rows(tx, items, keep, transform), BATCH_ROWS):
            result = self.ctx.store.upsert(tx, model, batch, key=key)
            self.counts.rows_inserted += result.inserted
            self.counts.rows_updated += result.updated
            total = total + result
            self.progress.advanced(self.tenant, self.source, len(batch))
        return total

    def _rows(
        self,
        tx: Connection,
        items: Iterable[Normalized],
        keep: Callable[[dict[str, Any]], bool] | None,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None,
    ) -> Iterator[dict[str, Any]]:
        for item in items:
            self.counts.rows_seen += 1
            if isinstance(item, InvalidRecordError):
                self.skipped(tx, item)
                continue
            if keep is not None and not keep(item):
                continue
            yield transform(item) if transform is not None else item


def _batched(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch
