"""Request validation shared by the routes: clear 4xx errors naming the parameter."""

import json
import threading
import time
from datetime import date, timedelta
from typing import Any, NoReturn

from fastapi import HTTPException, Request, status

from connector.artifacts import ReportParams, parse_date
from connector.config import Settings
from connector.errors import ConfigError
from connector.service.readcache import Answer, ReadCache
from connector.store.readside.domains import known_domains
from connector.store.readside.domains import refuse_unknown_domains as refuse_known
from connector.store.readside.sql import Dialect
from connector.store.store import Store

__all__ = ["DEFAULT_RANGE_DAYS", "TenantDirectory", "current_settings", "fail", "known_tenant", "report_params"]

DEFAULT_RANGE_DAYS = 30


def fail(code: int, message: str, param: str | None = None) -> NoReturn:
    detail: dict[str, Any] = {"error": message}
    if param:
        detail["param"] = param
    raise HTTPException(code, detail=detail)


class TenantDirectory:
    """The configuration with the tenant registry merged in, re-read at most every ``ttl`` seconds.

    Tenants added through the API or `smtpauth tenants` on another machine show up without a restart.
    """

    def __init__(self, settings: Settings, store: Store, *, ttl: float = 5.0) -> None:
        self.base = settings
        self.store = store
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[float, Settings] | None = None

    def settings(self) -> Settings:
        from connector.tenants import with_registry

        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] > self.ttl:
                self._cached = (now, with_registry(self.base, self.store))
            return self._cached[1]

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None


def current_settings(request: Request) -> Settings:
    """The settings of a request: the configuration plus the registry's tenants."""
    directory: TenantDirectory = request.app.state.tenants
    return directory.settings()


def _param(key: str | None) -> str | None:
    return key.removeprefix("--") if key else None


def known_tenant(settings: Settings, name: str) -> str:
    """404 for a tenant that is not configured."""
    if name not in {t.name for t in settings.tenants}:
        known = ", ".join(t.name for t in settings.tenants) or "none configured"
        fail(status.HTTP_404_NOT_FOUND, f"unknown tenant {name!r} (configured: {known})", "tenant")
    return name


def _date(value: str | None, param: str) -> date | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_date(value, param)
    except ConfigError as exc:
        fail(status.HTTP_400_BAD_REQUEST, str(exc).split(": ", 1)[-1] if exc.key else str(exc), param)


def report_params(
    settings: Settings,
    *,
    tenant: str,
    date_from: str | None,
    date_to: str | None,
    today: date,
    domains: list[str] | None = None,
    senders: list[str] | None = None,
    formats: list[str] | None = None,
    signin_ip_only: bool | None = None,
    granularity: str | None = None,
) -> ReportParams:
    """Validated ReportParams; the range defaults to the 30 days ending yesterday. 404 unknown tenant, 400 else."""
    known_tenant(settings, tenant)
    end = _date(date_to, "to") or today - timedelta(days=1)
    start = _date(date_from, "from") or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    try:
        return ReportParams.build(
            settings,
            tenant=tenant,
            date_from=start,
            date_to=end,
            domains=domains or [],
            senders=senders or [],
            formats=formats or None,
            trace_signin_ip_only=signin_ip_only,
            granularity=granularity,
            today=today,
        )
    except ConfigError as exc:
        message = str(exc).split(": ", 1)[-1] if exc.key else str(exc)
        for flag in ("--from", "--to", "--domain", "--sender", "--format", "--granularity"):
            message = message.replace(flag, flag.removeprefix("--"))
        fail(status.HTTP_400_BAD_REQUEST, message, _param(exc.key))


def refuse_unknown_domains(request: Request, params: ReportParams, param: str = "domain") -> None:
    """400 for a domain filter that no data of the tenant has shown (it can only give empty tables), naming the
    known domains, as the CLI's ``--domain``. The known domains are read once per database change (the read cache),
    not per request; a tenant without any data yet is not checked."""
    if not params.domains:
        return
    store: Store = request.app.state.store
    cache: ReadCache = request.app.state.read_cache

    def compute() -> Answer:
        with store.read() as conn:
            known = known_domains(conn, Dialect(store.dialect), params.tenant)
        return Answer(json.dumps(sorted(known)).encode("utf-8"))

    known = set(json.loads(cache.get(("known_domains", params.tenant), compute).body))
    try:
        refuse_known(known, params.tenant, params.domains)
    except ConfigError as exc:
        fail(status.HTTP_400_BAD_REQUEST, exc.detail, param)
