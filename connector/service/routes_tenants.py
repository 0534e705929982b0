"""The tenant registry over HTTP: add, import a CSV, remove, and the admin-consent link of a tenant.

Registry rows never hold a secret: a value that looks like one is refused (400) and never echoed back.
"""

from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from connector.errors import ConfigError
from connector.service.auth import Authorized
from connector.service.inputs import TenantDirectory, current_settings, fail, known_tenant
from connector.tenants import TenantEntry, add_tenant, consent_url, import_csv, list_registry, remove_tenant

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/tenants", tags=["tenants"])

#: largest CSV accepted by /import (service.max_body_bytes also applies)
_MAX_CSV = 1_048_576


class TenantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=63)
    tenant_id: str = Field(max_length=253)
    cloud: str = Field(default="global", max_length=20)
    credential: str = Field(max_length=1024)
    client_id: str | None = Field(default=None, max_length=36)
    schedule: str | None = Field(default=None, max_length=100)
    timezone: str | None = Field(default=None, max_length=64)
    primary_domain: str | None = Field(default=None, max_length=253)
    exchange_admin: bool = False


def _entry_json(entry: TenantEntry) -> dict[str, Any]:
    return {**entry.model_dump(mode="json"), "origin": "registry"}


def _bad(exc: ConfigError) -> None:
    message = str(exc).split(": ", 1)[-1] if exc.key else str(exc)
    fail(status.HTTP_400_BAD_REQUEST, message, exc.key)


def _refresh(request: Request) -> None:
    directory: TenantDirectory = request.app.state.tenants
    directory.invalidate()


@router.get("/registry")
def registry(request: Request, _: Authorized) -> dict[str, Any]:
    """The registry's tenants (the configuration's are in GET /api/v1/tenants, origin "config")."""
    return {"tenants": [_entry_json(e) for e in list_registry(request.app.state.store)]}


@router.post("", status_code=status.HTTP_201_CREATED)
def add(request: Request, body: TenantBody, _: Authorized, replace: bool = Query(False)) -> dict[str, Any]:
    """Add a tenant to the registry (``?replace=true`` updates a row of that name)."""
    settings = request.app.state.settings
    try:
        entry = TenantEntry.parse(body.model_dump(exclude_none=True))
        add_tenant(request.app.state.store, settings, entry, now=request.app.state.runner.clock.now(), replace=replace)
    except ConfigError as exc:
        if "already in the registry" in str(exc):
            fail(status.HTTP_409_CONFLICT, str(exc).split(": ", 1)[-1], "name")
        _bad(exc)
    _refresh(request)
    return _entry_json(entry)


@router.post("/import")
async def import_(request: Request, _: Authorized) -> dict[str, Any]:
    """Add or update every row of a CSV body (``Content-Type: text/csv``); all or nothing."""
    if not request.headers.get("content-type", "").startswith("text/csv"):
        fail(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send the file as text/csv")
    raw = await request.body()
    if len(raw) > _MAX_CSV:
        fail(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "the CSV is larger than 1 MiB: split it")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(status.HTTP_400_BAD_REQUEST, "the CSV is not UTF-8 text")
    try:
        added, updated = import_csv(
            request.app.state.store,
            request.app.state.settings,
            text,
            now=request.app.state.runner.clock.now(),
            source="body",
        )
    except ConfigError as exc:
        _bad(exc)
    _refresh(request)
    return {"added": added, "updated": updated}


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def remove(request: Request, name: str, _: Authorized) -> None:
    """Remove a tenant from the registry (its synced data stays)."""
    try:
        remove_tenant(request.app.state.store, request.app.state.settings, name[:63])
    except ConfigError as exc:
        code = status.HTTP_409_CONFLICT if "[[tenants]]" in str(exc) else status.HTTP_404_NOT_FOUND
        fail(code, str(exc).split(": ", 1)[-1], "name")
    _refresh(request)


@router.get("/{name}/consent-url")
def consent(
    request: Request, name: str, _: Authorized, redirect_uri: str | None = Query(None, max_length=400)
) -> dict[str, Any]:
    """The admin-consent link of the tenant's app (to send to the tenant's administrator)."""
    settings = current_settings(request)
    tenant = settings.tenant(known_tenant(settings, name[:63]))
    return {"tenant": tenant.name, "client_id": tenant.client_id, "url": consent_url(tenant, redirect_uri=redirect_uri)}
