"""Health, tenants and their sync status, syncs on demand, sync runs."""

from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from connector.service.auth import Authorized
from connector.service.executor import Executor
from connector.service.inputs import current_settings, fail, known_tenant
from connector.service.queries import sync_runs, tenant_status
from connector.service.runtime import BusyError, NotLeaderError
from connector.tenants import list_registry
from models import RUN_STATUSES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["operations"])


def _runner(request: Request) -> Executor:
    runner: Executor = request.app.state.runner
    return runner


@router.get("/health")
def health(request: Request, _: Authorized) -> dict[str, Any]:
    """Liveness, database schema version, who runs the jobs (this process, or the queue's workers), and the read
    cache: on, and whether the dashboard's first view is being computed into it (after start-up and each sync)."""
    runner = _runner(request)
    store = request.app.state.store
    warmer = request.app.state.cache_warmer
    return {
        "status": "ok",
        "today": runner.clock.now().date().isoformat(),
        "schema_version": store.schema_version(),
        "executor": current_settings(request).service.executor,
        "scheduler": {"role": runner.role, "detail": runner.detail, "syncing": runner.syncing()},
        "read_cache": {"enabled": warmer.enabled, "warming": warmer.warming},
    }


@router.get("/tenants")
def tenants(request: Request, _: Authorized) -> dict[str, Any]:
    """Every tenant (configuration and registry): per source the coverage and the last sync run; the next nightly.
    ``today`` is the service's current UTC date (as in /health), which the dashboard's default range ends before."""
    runner = _runner(request)
    settings = current_settings(request)
    nightly = runner.next_runs()
    registry = {e.name for e in list_registry(request.app.state.store)}
    items = tenant_status(request.app.state.store, settings)
    for item in items:
        nxt = nightly.get(item["name"])
        item["origin"] = "registry" if item["name"] in registry else "config"
        item["next_sync_at"] = nxt.isoformat() if nxt else None
        starts = [src["last_run"]["started_at"] for src in item["sources"] if src["last_run"]]
        item["last_sync_at"] = max(starts) if starts else None
    return {"today": runner.clock.now().date().isoformat(), "tenants": items}


@router.get("/queue")
def queue(request: Request, _: Authorized) -> dict[str, Any]:
    """The job queue (distributed executor): depth per queue, each worker with its running jobs, latency."""
    status_ = _runner(request).queue_status()
    if status_ is None:
        return {"executor": "local", "detail": "jobs run inside smtpauth serve: no queue", "workers": [], "queues": []}
    return {"executor": "procrastinate", **status_}


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: tenant names; empty or missing: every configured tenant
    tenants: list[str] = Field(default_factory=list, max_length=100)


@router.post("/sync", status_code=status.HTTP_202_ACCEPTED)
def trigger_sync(request: Request, _: Authorized, body: SyncRequest | None = None) -> dict[str, Any]:
    """Start a sync now on the scheduler's executor; 202 with its run id (see /sync-runs?run_id)."""
    settings = current_settings(request)
    names = [known_tenant(settings, t) for t in (body.tenants if body else [])] or [t.name for t in settings.tenants]
    try:
        run_id = _runner(request).trigger_sync(names)
    except NotLeaderError as exc:
        fail(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc))
    except BusyError as exc:
        fail(status.HTTP_409_CONFLICT, str(exc))
    return {"run_id": run_id, "tenants": names, "status": "queued"}


@router.get("/sync-runs")
def list_sync_runs(
    request: Request,
    _: Authorized,
    *,
    tenant: str | None = Query(None, max_length=63),
    run_status: str | None = Query(None, alias="status", max_length=20),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
    run_id: str | None = Query(None, max_length=64),
) -> dict[str, Any]:
    """Sync runs, newest first: one row per tenant, source and run (``run_id``: only that run, e.g. the one
    ``POST /sync`` started)."""
    if tenant:
        known_tenant(current_settings(request), tenant)
    if run_status and run_status not in RUN_STATUSES:
        fail(status.HTTP_400_BAD_REQUEST, f"unknown status {run_status!r}: one of {', '.join(RUN_STATUSES)}", "status")
    total, rows = sync_runs(
        request.app.state.store, tenant=tenant, status=run_status, limit=limit, offset=offset, run_id=run_id
    )
    return {"total": total, "limit": limit, "offset": offset, "runs": rows}
