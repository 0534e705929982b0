"""Coverage: which sources feed each section, how fresh they are, and why a section may be empty.

Read from ``coverage`` (what a source can deliver, and why not) and ``sync_run`` (its last run), plus a row count
of each source's table inside the report's range (the synced sources' counts from ``rollup_day``). An empty
section always carries a reason here, never a silent zero.
"""

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.store.readside.params import ReportParams
from connector.store.readside.sql import cov, ia, kpi, mp, rday, run, uc, ud

__all__ = ["SECTION_SOURCES", "CoverageRow", "coverage_rows", "empty_reason"]

#: the sources behind each section of the report (names as in the ``coverage`` and ``sync_run`` tables)
SECTION_SOURCES: dict[str, tuple[str, ...]] = {
    "kpi": ("usage_apps_kpi", "usage_user_counts"),
    "sending_volume": ("smtp_cs_report", "message_trace", "usage_user_detail", "signins"),
    "tls_usage": ("smtp_cs_report", "eac_export"),
    "auth_protocol": ("smtp_cs_report", "signins", "eac_export"),
    "accounts": ("usage_user_detail", "signins", "message_trace", "smtp_cs_report", "exchange_posture"),
    "findings": ("signins", "message_trace", "smtp_cs_report"),
}

#: sources that are files an admin imports, not synced: their freshness is the newest imported period
_IMPORTED = {"eac_export"}


@dataclass(frozen=True)
class CoverageRow:
    section: str
    source: str
    status: str
    rows_in_range: int
    data_as_of: str | None
    last_run_status: str | None
    last_run_at: str | None
    reason: str | None
    fix: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _count(conn: Connection, params: ReportParams, source: str) -> int:
    t = params.tenant
    queries: dict[str, Any] = {
        "usage_apps_kpi": sa.select(sa.func.count())
        .select_from(kpi)
        .where(kpi.c.tenant == t, kpi.c.report_refresh_date.between(params.date_from, params.date_to)),
        "usage_user_counts": sa.select(sa.func.count())
        .select_from(uc)
        .where(uc.c.tenant == t, uc.c.report_date.between(params.date_from, params.date_to)),
        "usage_user_detail": sa.select(sa.func.count())
        .select_from(ud)
        .where(ud.c.tenant == t, ud.c.smtp_app.is_(True), ud.c.report_refresh_date <= params.date_to),
        "eac_export": sa.select(sa.func.count())
        .select_from(ia)
        .where(ia.c.tenant == t, ia.c.period_start <= params.date_to, ia.c.period_end >= params.date_from),
        "exchange_posture": sa.select(sa.func.count())
        .select_from(mp)
        .where(mp.c.tenant == t, mp.c.snapshot_date <= params.date_to),
    }
    return int(conn.execute(queries[source]).scalar_one())


#: the synced sources whose raw-row counts come from the per-day rollup
_ROLLUP_COUNTS = {"signins": "signin_rows", "message_trace": "trace_rows", "smtp_cs_report": "cs_rows"}


def _rollup_counts(conn: Connection, params: ReportParams) -> dict[str, int]:
    sums = conn.execute(
        sa.select(*(sa.func.coalesce(sa.func.sum(rday.c[c]), 0) for c in _ROLLUP_COUNTS.values())).where(
            rday.c.tenant == params.tenant, rday.c.utc_day.between(params.date_from, params.date_to)
        )
    ).one()
    return {source: int(n) for source, n in zip(_ROLLUP_COUNTS, sums, strict=True)}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def coverage_rows(conn: Connection, params: ReportParams) -> list[CoverageRow]:
    """One row per (section, source)."""
    sources = sorted({s for names in SECTION_SOURCES.values() for s in names})
    coverage = {
        r.source: r
        for r in conn.execute(
            sa.select(cov.c.source, cov.c.status, cov.c.reason, cov.c.fix, cov.c.data_as_of).where(
                cov.c.tenant == params.tenant, cov.c.source.in_(sources)
            )
        )
    }
    newest = (
        sa.select(run.c.source, sa.func.max(run.c.started_at).label("started"))
        .where(run.c.tenant == params.tenant, run.c.source.in_(sources))
        .group_by(run.c.source)
        .subquery()
    )
    runs = {
        r.source: r
        for r in conn.execute(
            sa.select(run.c.source, run.c.status, run.c.ended_at, run.c.started_at, run.c.error_message).join(
                newest,
                sa.and_(
                    newest.c.source == run.c.source,
                    newest.c.started == run.c.started_at,
                    run.c.tenant == params.tenant,
                ),
            )
        )
    }
    newest_import = conn.execute(
        sa.select(sa.func.max(ia.c.period_end)).where(ia.c.tenant == params.tenant)
    ).scalar_one_or_none()
    counts = _rollup_counts(conn, params)
    counts.update({s: _count(conn, params, s) for s in sources if s not in counts})
    out: list[CoverageRow] = []
    for section, names in SECTION_SOURCES.items():
        for source in names:
            c, r, n = coverage.get(source), runs.get(source), counts[source]
            if source in _IMPORTED:
                status = "ok" if n else "not_imported"
                reason = None if n else "no admin center export covering the range was imported"
                fix = None if n else "export the SMTP AUTH clients report in the Exchange admin center and import it"
                as_of = _iso(newest_import)
            elif c is None and r is None:
                status, as_of = "never_synced", None
                reason, fix = (
                    "this source has never run for the tenant",
                    "run `smtpauth sync` (opt-in sources: see docs)",
                )
            else:
                status = c.status if c is not None else (r.status if r is not None else "unknown")
                reason = c.reason if c is not None else (r.error_message if r is not None else None)
                fix = c.fix if c is not None else None
                as_of = _iso(c.data_as_of) if c is not None else None
            if status == "ok" and n == 0:
                reason = reason or "the source ran but holds no rows in the range"
            elif status == "failed" and n > 0:  # older data is still valid: say so before why the last run failed
                reason = f"data as of {as_of or 'an earlier run'}; last run failed: {reason or 'see the sync runs'}"
            out.append(
                CoverageRow(
                    section=section,
                    source=source,
                    status=status,
                    rows_in_range=n,
                    data_as_of=as_of,
                    last_run_status=r.status if r is not None else None,
                    last_run_at=_iso(r.ended_at or r.started_at) if r is not None else None,
                    reason=reason,
                    fix=fix,
                )
            )
    return out


def empty_reason(rows: list[CoverageRow], section: str) -> str:
    """Why a section has no rows, from its sources' coverage."""
    # a source that holds rows in the range is not why the section is empty (a filter is), even if its last run
    # failed
    parts = [
        f"{r.source}: {r.status}" + (f" ({r.reason})" if r.reason else "")
        for r in rows
        if r.section == section and r.rows_in_range == 0
    ]
    if not parts:
        return "the sources hold data, but none matches the range and filters"
    return "; ".join(parts)
