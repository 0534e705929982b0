"""Entra sign-in logs, ``clientAppUsed eq 'Authenticated SMTP'`` (API notes section 2).

Incremental from the ``created_until`` watermark, re-reading ``signin_overlap_minutes`` before it because sign-ins
arrive late; rows are de-duplicated on their id by the upsert. Time is cut into slices, oldest first; a slice's
pages are stored as they arrive, grouped into transactions that are committed before the sync waits on the network
(:mod:`connector.sync.writer`), and the watermark moves after the slice's last page. A slice that keeps timing out
or being throttled is halved; an expired skiptoken restarts the slice from its start (never resumes the token).
"""

import logging
from datetime import datetime, timedelta

from connector.config import TenantSettings
from connector.errors import ExpiredLinkError, RetryableError
from connector.http.families import SIGNINS
from connector.sources.signins import SIGNINS as SIGNINS_SPEC
from connector.sources.signins import normalize_signins_page
from connector.store import runs
from connector.sync.context import SourceRun, TenantContext
from connector.sync.prefetch import prefetched
from connector.sync.sources.base import odata_datetime
from connector.sync.writer import WAIT_FOR_NEXT_PAGE, GroupWriter
from models import SignIn

__all__ = ["SignInsSource", "signin_filter"]

log = logging.getLogger("smtpauth.sync")

WATERMARK = "created_until"
#: restarts of one slice after expired skiptokens before the run gives up (the next run retries)
MAX_SLICE_RESTARTS = 3


def signin_filter(start: datetime, end: datetime) -> str:
    """The OData filter of one slice: ``start <= createdDateTime <= end``."""
    since, until = odata_datetime(start), odata_datetime(end)
    return f"clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge {since} and createdDateTime le {until}"


class SignInsSource:
    name = SIGNINS_SPEC.name
    permission = SIGNINS_SPEC.permission
    opt_in = False

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        opts = ctx.options
        tenant = ctx.tenant.name
        now = ctx.clock.now().replace(microsecond=0)
        oldest = now - timedelta(days=opts.signin_backfill_days) + timedelta(minutes=5)
        with ctx.store.read() as conn:
            mark = runs.get_watermark(conn, tenant, self.name, WATERMARK)
        start = oldest
        if mark is not None:
            start = max(oldest, datetime.fromisoformat(mark) - timedelta(minutes=opts.signin_overlap_minutes))
        slice_len = timedelta(hours=opts.signin_slice_hours)
        min_len = timedelta(minutes=opts.signin_min_slice_minutes)
        with GroupWriter(ctx.store, run) as writer:
            self._slices(ctx, run, writer, start=start, now=now, slice_len=slice_len, min_len=min_len)
        run.data_as_of = now

    def _slices(
        self,
        ctx: TenantContext,
        run: SourceRun,
        writer: GroupWriter,
        *,
        start: datetime,
        now: datetime,
        slice_len: timedelta,
        min_len: timedelta,
    ) -> None:
        tenant = ctx.tenant.name
        restarts = 0
        while start < now:
            end = min(start + slice_len, now)
            try:
                self._slice(ctx, run, writer, start, end)
            except ExpiredLinkError:
                restarts += 1
                if restarts > MAX_SLICE_RESTARTS:
                    raise
                log.info("%s/signins: skiptoken expired, restarting slice at %s", tenant, odata_datetime(start))
                continue
            except RetryableError:
                # retries are exhausted for this slice size: Graph times out on large queries (504), so ask for less
                if slice_len / 2 < min_len:
                    raise
                slice_len = slice_len / 2
                log.info("%s/signins: shrinking slices to %s", tenant, slice_len)
                continue
            restarts = 0
            start = end

    def _slice(self, ctx: TenantContext, run: SourceRun, writer: GroupWriter, start: datetime, end: datetime) -> None:
        tenant = ctx.tenant.name
        params = {"$filter": signin_filter(start, end), "$top": str(ctx.options.signin_page_size)}
        pages = prefetched(ctx.client.iter_pages("v1.0/auditLogs/signIns", params=params, family=SIGNINS))
        try:
            while True:
                writer.pause(pages.ready(WAIT_FOR_NEXT_PAGE))
                page = next(pages, None)
                if page is None:
                    break
                run.note_request(page.request_id)
                with writer.step() as tx:
                    run.load(tx, SignIn, ("tenant", "signin_id"), normalize_signins_page(page.body, tenant=tenant))
            # the slice is complete: the watermark moves after its last rows (same transaction, or a later one)
            with writer.step() as tx:
                runs.set_watermark(tx, tenant, self.name, WATERMARK, end.isoformat(), now=ctx.clock.now())
        finally:
            pages.close()
