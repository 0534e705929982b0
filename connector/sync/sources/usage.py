"""Graph email-apps usage reports (API notes section 1): who used the SMTP app, daily SMTP users, the 7-day KPI.

CSV (v1.0) is the default: the report answers 302 and the file is fetched from a pre-authenticated URL without our
token; it is spooled to a temporary file (memory stays flat for 300,000 users) and only loaded once complete. Beta
JSON is the alternative (``[sync] usage_format = "json"``).

Per-user rows are kept only for accounts with SMTP activity: the rest of the tenant is counted (rows seen) but not
stored, since this connector is about SMTP AUTH and a 300,000-user tenant would otherwise add 300,000 rows a day.
"""

import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, BinaryIO, cast

from connector.config import TenantSettings
from connector.errors import BadRequestError
from connector.http.families import REPORTS_JSON, reports_csv_family
from connector.sources import usage_reports as norm
from connector.sources._base import BytesSource, Normalized
from connector.sources.drift import DriftRecorder
from connector.store import runs
from connector.sync.context import SourceRun, TenantContext
from connector.sync.sources.cloud import cloud_refusals
from models import UsageAppsKpi, UsageUserCounts, UsageUserDetail

__all__ = ["UsageAppsKpiSource", "UsageCountsSource", "UsageDetailSource"]

#: reports are spooled in memory up to this size, then to a temporary file
SPOOL_BYTES = 8 * 1024 * 1024
DETAIL_API = "getEmailAppUsageUserDetail"
COUNTS_API = "getEmailAppUsageUserCounts"
APPS_API = "getEmailAppUsageAppsUserCounts"
DETAIL_KEY = ("tenant", "report_view", "user_principal_name")
#: watermark value of a per-date view that Graph no longer served when we asked
UNAVAILABLE = "unavailable"


def _as_of(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


class _Tracker:
    """Remembers the newest ``report_refresh_date`` among rows as they stream past."""

    def __init__(self) -> None:
        self.refresh: date | None = None

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        day = row.get("report_refresh_date")
        if isinstance(day, date) and (self.refresh is None or day > self.refresh):
            self.refresh = day
        return row


def _fetch_report(
    ctx: TenantContext,
    run: SourceRun,
    api: str,
    arg: str,
    *,
    etag_key: str | None,
    csv_normalizer: Callable[[BytesSource], Iterator[Normalized]],
    json_normalizer: Callable[[Mapping[str, Any]], Iterator[Normalized]],
    model: Any,
    key: tuple[str, ...],
    keep: Callable[[dict[str, Any]], bool] | None = None,
    extra_watermarks: Callable[[date | None], Iterable[tuple[str, str]]] = lambda _: (),
) -> tuple[bool, date | None]:
    """Fetch one report view and load it. Returns (modified, newest refresh date among its rows)."""
    tenant = ctx.tenant.name
    source = run.source
    tracker = _Tracker()
    if ctx.options.usage_format == "json":
        for page in ctx.client.iter_pages(
            f"beta/reports/{api}({arg})", params={"$format": "application/json"}, family=REPORTS_JSON
        ):
            run.note_request(page.request_id)
            with ctx.store.transaction() as tx:
                run.load(tx, model, key, json_normalizer(page.body), keep=keep, transform=tracker)
        with ctx.store.transaction() as tx:
            for wk, wv in extra_watermarks(tracker.refresh):
                runs.set_watermark(tx, tenant, source, wk, wv, now=ctx.clock.now())
        return True, tracker.refresh

    with ctx.store.read() as conn:
        etag = runs.get_watermark(conn, tenant, source, etag_key) if etag_key else None
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        result = ctx.client.download_report(
            f"v1.0/reports/{api}({arg})", family=reports_csv_family(api), dest=cast(BinaryIO, spool), etag=etag
        )
        run.note_request(result.request_id)
        if result.not_modified:
            return False, None
        spool.seek(0)
        with ctx.store.transaction() as tx:
            run.load(tx, model, key, csv_normalizer(spool), keep=keep, transform=tracker)
            now = ctx.clock.now()
            if etag_key and result.etag:
                runs.set_watermark(tx, tenant, source, etag_key, result.etag, now=now)
            for wk, wv in extra_watermarks(tracker.refresh):
                runs.set_watermark(tx, tenant, source, wk, wv, now=now)
    return True, tracker.refresh


def _day_mark(view: str, refresh: date) -> Callable[[date | None], Iterable[tuple[str, str]]]:
    # the per-date view is captured: remember with which refresh it was read
    return lambda _newest: [(f"date:{view}", refresh.isoformat())]


def _smtp_rows(row: dict[str, Any]) -> bool:
    return bool(row.get("smtp_app"))


class UsageDetailSource:
    """``getEmailAppUsageUserDetail``: the D7 snapshot, then each per-date view not captured yet."""

    name = norm.USER_DETAIL.name
    permission = norm.USER_DETAIL.permission
    opt_in = False
    period = "D7"

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        tenant = ctx.tenant.name

        def detail_csv(view: str) -> Callable[[BytesSource], Iterator[Normalized]]:
            return lambda src: norm.normalize_user_detail_csv(src, tenant=tenant, view=view, drift=run.drift)

        def detail_json(view: str) -> Callable[[Mapping[str, Any]], Iterator[Normalized]]:
            return lambda page: norm.normalize_user_detail_json(page, tenant=tenant, view=view)

        modified, refresh = _fetch_report(
            ctx,
            run,
            DETAIL_API,
            f"period='{self.period}'",
            etag_key=f"etag:{self.period}",
            csv_normalizer=detail_csv(self.period),
            json_normalizer=detail_json(self.period),
            model=UsageUserDetail,
            key=DETAIL_KEY,
            keep=_smtp_rows,
            extra_watermarks=_refresh_mark,
        )
        refresh = refresh or _stored_refresh(ctx, self.name)
        if refresh is None:
            run.coverage_reason = "the usage report has no rows yet (Microsoft refreshes it every 24-48 h)"
            return
        run.data_as_of = _as_of(refresh)
        if not modified:
            run.coverage_reason = f"report not refreshed since {refresh.isoformat()}: nothing new to load"
        missed = self._capture_days(ctx, run, refresh, detail_csv, detail_json)
        if missed:
            run.coverage_reason = (
                f"per-day detail was no longer served by Microsoft for {len(missed)} day(s) in the last "
                f"{ctx.options.usage_detail_days}: {', '.join(missed[:5])}{' ...' if len(missed) > 5 else ''}"
            )

    def _capture_days(
        self,
        ctx: TenantContext,
        run: SourceRun,
        refresh: date,
        detail_csv: Callable[[str], Callable[[BytesSource], Iterator[Normalized]]],
        detail_json: Callable[[str], Callable[[Mapping[str, Any]], Iterator[Normalized]]],
    ) -> list[str]:
        """Fetch every per-date view still served and not captured yet, oldest first (it expires first).

        A day Graph no longer serves is remembered as ``unavailable`` (asking again would only spend the
        report's request budget); the days in the window marked so are returned for coverage.
        """
        tenant = ctx.tenant.name
        days = [refresh - timedelta(days=i) for i in range(ctx.options.usage_detail_days - 1, -1, -1)]
        with ctx.store.read() as conn:
            marks = {d: runs.get_watermark(conn, tenant, self.name, f"date:{d}") for d in days}
        for day in [d for d in days if marks[d] is None]:
            view = day.isoformat()
            try:
                _fetch_report(
                    ctx,
                    run,
                    DETAIL_API,
                    f"date={view}",
                    etag_key=None,
                    csv_normalizer=detail_csv(view),
                    json_normalizer=detail_json(view),
                    model=UsageUserDetail,
                    key=DETAIL_KEY,
                    keep=_smtp_rows,
                    extra_watermarks=_day_mark(view, refresh),
                )
            except BadRequestError:
                # Graph serves per-date views for about 28 days (API notes section 1): this one is gone
                with ctx.store.transaction() as tx:
                    runs.set_watermark(tx, tenant, self.name, f"date:{view}", UNAVAILABLE, now=ctx.clock.now())
                marks[day] = UNAVAILABLE
        return [d.isoformat() for d in days if marks[d] == UNAVAILABLE]


def _refresh_mark(day: date | None) -> Iterable[tuple[str, str]]:
    return [("refresh_date", day.isoformat())] if day else []


def _stored_refresh(ctx: TenantContext, source: str) -> date | None:
    with ctx.store.read() as conn:
        stored = runs.get_watermark(conn, ctx.tenant.name, source, "refresh_date")
    return date.fromisoformat(stored) if stored else None


class _CountsReport:
    """One whole report view (no per-user rows): download, load, remember its refresh date."""

    name: str
    permission: str
    opt_in = False
    api: str
    period: str
    model: Any
    key: tuple[str, ...]

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    def normalize_csv(self, source: BytesSource, tenant: str, drift: DriftRecorder) -> Iterator[Normalized]:
        raise NotImplementedError

    def normalize_json(self, page: Mapping[str, Any], tenant: str) -> Iterator[Normalized]:
        raise NotImplementedError

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        tenant = ctx.tenant.name
        # the v1.0 pages of these two reports list the global service only; the beta (JSON) pages every cloud
        guard: AbstractContextManager[None] = (
            cloud_refusals(ctx.tenant, self.name) if ctx.options.usage_format == "csv" else nullcontext()
        )
        with guard:
            _, refresh = _fetch_report(
                ctx,
                run,
                self.api,
                f"period='{self.period}'",
                etag_key=f"etag:{self.period}",
                csv_normalizer=lambda src: self.normalize_csv(src, tenant, run.drift),
                json_normalizer=lambda page: self.normalize_json(page, tenant),
                model=self.model,
                key=self.key,
                extra_watermarks=_refresh_mark,
            )
        run.data_as_of = _as_of(refresh or _stored_refresh(ctx, self.name))


class UsageCountsSource(_CountsReport):
    """``getEmailAppUsageUserCounts(period='D180')``: SMTP users per day.

    Always the longest period: one small file, and late corrections by Microsoft to any day still served reach
    us. A shorter period would also change ``report_period`` on every stored day for nothing.
    """

    name = norm.USER_COUNTS.name
    permission = norm.USER_COUNTS.permission
    api = COUNTS_API
    period = "D180"
    model = UsageUserCounts
    key = norm.USER_COUNTS.key

    def normalize_csv(self, source: BytesSource, tenant: str, drift: DriftRecorder) -> Iterator[Normalized]:
        return norm.normalize_user_counts_csv(source, tenant=tenant, drift=drift)

    def normalize_json(self, page: Mapping[str, Any], tenant: str) -> Iterator[Normalized]:
        return norm.normalize_user_counts_json(page, tenant=tenant)


class UsageAppsKpiSource(_CountsReport):
    """``getEmailAppUsageAppsUserCounts(period='D7')``: the admin center widget, one value kept per refresh."""

    name = norm.APPS_USER_COUNTS.name
    permission = norm.APPS_USER_COUNTS.permission
    api = APPS_API
    period = "D7"
    model = UsageAppsKpi
    key = norm.APPS_USER_COUNTS.key

    def normalize_csv(self, source: BytesSource, tenant: str, drift: DriftRecorder) -> Iterator[Normalized]:
        return norm.normalize_apps_user_counts_csv(source, tenant=tenant, period=self.period, drift=drift)

    def normalize_json(self, page: Mapping[str, Any], tenant: str) -> Iterator[Normalized]:
        return norm.normalize_apps_user_counts_json(page, tenant=tenant, period=self.period)
