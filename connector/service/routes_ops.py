"""Health, tenants and their sync status, syncs on demand, sync runs."""

from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from connector.service.auth import Authorized
from connector.service.inputs import fail, known_tenant
from connector.service.queries import sync_runs, tenant_status
from connector.service.runtime import BusyError, JobRunner, NotLeaderError
from models import RUN_STATUSES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["operations"])


def _runner(request: Request) -> JobRunner:
    runner: JobRunner = request.app.state.runner
    return runner


@router.get("/health")
def health(request: Request, _: Authorized) -> dict[str, Any]:
    """Liveness, database schema version, and whether this process runs the scheduler."""
    runner = _runner(request)
    store = request.app.state.store
    return {
        "status": "ok",
        "today": runner.clock.now().date().isoformat(),
        "schema_version": store.schema_version(),
        "scheduler": {"role": runner.role, "detail": runner.detail, "syncing": runner.syncing()},
    }


@router.get("/tenants")
def tenants(request: Request, _: Authorized) -> dict[str, Any]:
    """Configured tenants: per source the coverage (status, reason, fix) and the last sync run; the next nightly."""
    runner = _runner(request)
    nightly = {j.id.split(":", 1)[1]: j.next_run_time for j in runner.jobs()}
    items = tenant_status(request.app.state.store, request.app.state.settings)
    for item in items:
        nxt = nightly.get(item["name"])
        item["next_sync_at"] = nxt.isoformat() if nxt else None
    return {"tenants": items}


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: tenant names; empty or missing: every configured tenant
    tenants: list[str] = Field(default_factory=list, max_length=100)


@router.post("/sync", status_code=status.HTTP_202_ACCEPTED)
def trigger_sync(request: Request, _: Authorized, body: SyncRequest | None = None) -> dict[str, Any]:
    """Start a sync now on the scheduler's executor; 202 with its run id (see /sync-runs?run_id)."""
    settings = request.app.state.settings
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
    tenant: str | None = Query(None, max_length=63),
    run_status: str | None = Query(None, alias="status", max_length=20),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
) -> dict[str, Any]:
    """Sync runs, newest first: one row per tenant, source and run."""
    if tenant:
        known_tenant(request.app.state.settings, tenant)
    if run_status and run_status not in RUN_STATUSES:
        fail(status.HTTP_400_BAD_REQUEST, f"unknown status {run_status!r}: one of {', '.join(RUN_STATUSES)}", "status")
    total, rows = sync_runs(request.app.state.store, tenant=tenant, status=run_status, limit=limit, offset=offset)
    return {"total": total, "limit": limit, "offset": offset, "runs": rows}
