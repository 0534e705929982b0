"""Wire a tenant's context from the settings: HTTP client, MSAL token provider, Graph client, store."""

import logging
from pathlib import Path

import httpx

from connector.auth import MsalTokenProvider
from connector.clock import Clock
from connector.config import Settings, TenantSettings
from connector.http.client import GraphClient, build_http_client
from connector.http.ratelimit import RateLimiter
from connector.store.store import Store, open_store
from connector.sync.context import TenantContext

__all__ = ["build_client", "build_context", "make_limiter", "open_settings_store"]

log = logging.getLogger("smtpauth.sync")


def make_limiter(settings: Settings, clock: Clock) -> RateLimiter:
    """One limiter for the whole process: its windows are keyed by (tenant, family)."""
    if not settings.http.pace_requests:
        return RateLimiter.off(clock)
    return RateLimiter(clock, time_scale=settings.http.rate_limit_time_scale)


def token_cache_path(settings: Settings, tenant: TenantSettings) -> Path:
    return settings.data_dir / "token-cache" / f"{tenant.name}.json"


def build_client(
    settings: Settings,
    tenant: TenantSettings,
    *,
    clock: Clock,
    limiter: RateLimiter,
    transport: httpx.BaseTransport | None = None,
    persist_tokens: bool = True,
) -> tuple[GraphClient, MsalTokenProvider, httpx.Client]:
    """The Graph client of one tenant. Raises ConfigError (credential, CA bundle)."""
    credential = tenant.load_credential()
    http = build_http_client(tenant, settings.http, transport=transport)
    tokens = MsalTokenProvider(
        tenant,
        credential,
        http_client=http,
        cache_path=token_cache_path(settings, tenant) if persist_tokens else None,
    )
    client = GraphClient.for_tenant(tenant, tokens, http, settings=settings.http, limiter=limiter, clock=clock)
    return client, tokens, http


def build_context(
    settings: Settings,
    tenant: TenantSettings,
    store: Store,
    *,
    clock: Clock,
    limiter: RateLimiter,
    transport: httpx.BaseTransport | None = None,
) -> TenantContext:
    client, _tokens, http = build_client(settings, tenant, clock=clock, limiter=limiter, transport=transport)
    return TenantContext(tenant, client, store, clock, settings.sync, on_close=http.close)


def open_settings_store(settings: Settings) -> Store:
    """Open (and migrate) the configured database, creating the data directory for SQLite."""
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open_store(settings.database_url, settings.database.busy_timeout_seconds)
