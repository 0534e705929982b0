"""Request validation shared by the routes: clear 4xx errors naming the parameter."""

from datetime import date, timedelta
from typing import Any, NoReturn

from fastapi import HTTPException, status

from connector.artifacts import ReportParams, parse_date
from connector.config import Settings
from connector.errors import ConfigError

__all__ = ["DEFAULT_RANGE_DAYS", "fail", "known_tenant", "report_params"]

DEFAULT_RANGE_DAYS = 30


def fail(code: int, message: str, param: str | None = None) -> NoReturn:
    detail: dict[str, Any] = {"error": message}
    if param:
        detail["param"] = param
    raise HTTPException(code, detail=detail)


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
    except ConfigError:
        fail(status.HTTP_400_BAD_REQUEST, f"{value[:40]!r} is not a date: use YYYY-MM-DD", param)


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
            today=today,
        )
    except ConfigError as exc:
        message = str(exc).split(": ", 1)[-1] if exc.key else str(exc)
        for flag in ("--from", "--to", "--domain", "--sender", "--format"):
            message = message.replace(flag, flag.removeprefix("--"))
        fail(status.HTTP_400_BAD_REQUEST, message, _param(exc.key))
