"""Storage: engine factory, migrations, idempotent upserts, run bookkeeping. The only code that talks SQL."""

from connector.store.engine import create_engine_for, normalize_url
from connector.store.migrations import current_version, latest_version, migrate
from connector.store.runs import (
    RunCounts,
    finish_run,
    get_watermark,
    mark_interrupted_runs,
    record_skipped,
    set_coverage,
    set_watermark,
    start_run,
)
from connector.store.store import Store, open_store
from connector.store.upsert import UpsertResult
from connector.store.upsert import upsert as upsert

__all__ = [
    "RunCounts",
    "Store",
    "UpsertResult",
    "create_engine_for",
    "current_version",
    "finish_run",
    "get_watermark",
    "latest_version",
    "mark_interrupted_runs",
    "migrate",
    "normalize_url",
    "open_store",
    "record_skipped",
    "set_coverage",
    "set_watermark",
    "start_run",
]
