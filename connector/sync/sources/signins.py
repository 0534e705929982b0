"""Entra sign-in logs, ``clientAppUsed eq 'Authenticated SMTP'`` (API notes section 2).

Incremental from the ``created_until`` watermark, re-reading ``signin_overlap_minutes`` before it because sign-ins
arrive late; rows are de-duplicated on their id by the upsert. Time is cut into slices, oldest first; a slice's
pages are stored as they arrive, grouped into transactions that are committed before the sync waits on the network
(:mod:`connector.sync.writer`), and the watermark moves after the slice's last page. A slice that keeps timing out
or being throttled is halved; an expired skiptoken restarts the slice from its start (never resumes the token).
"""

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from connector.config import TenantSettings
from connector.errors import ExpiredLinkError, RetryableError
from connector.http.families import SIGNINS
from connector.http.paging import Page
from connector.sources.signins import SIGNINS as SIGNINS_SPEC
from connector.sources.signins import normalize_signins_page
from connector.store import runs
from connector.sync.context import SourceRun, TenantContext
from connector.sync.prefetch import prefetched
from connector.sync.sources.base import odata_datetime
from connector.sync.writer import GroupWriter
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
        # one producer walks the slices and their pages ahead of the store: the next slice's first request is in
        # flight while this slice's last page is stored
        items = prefetched(
            self._items(ctx, start=start, now=now, slice_len=slice_len, min_len=min_len), name="signins-fetch"
        )
        with GroupWriter(ctx.store, run) as writer:
            for item in writer.each(items):
                if isinstance(item, Page):
                    run.note_request(item.request_id)
                    with writer.step() as tx:
                        run.load(
                            tx,
                            SignIn,
                            ("tenant", "signin_id"),
                            normalize_signins_page(item.body, tenant=tenant, drift=run.drift),
                        )
                else:
                    # a slice is complete: the watermark moves after its last rows
                    with writer.step() as tx:
                        runs.set_watermark(tx, tenant, self.name, WATERMARK, item.isoformat(), now=ctx.clock.now())
        run.data_as_of = now

    def _items(
        self, ctx: TenantContext, *, start: datetime, now: datetime, slice_len: timedelta, min_len: timedelta
    ) -> Iterator[Page | datetime]:
        """The pages of every slice, oldest first, each slice followed by its end (a datetime).

        Runs in the prefetch thread. A slice whose next link expired restarts from its start; a slice that keeps
        timing out or being throttled is halved (pages it already gave are stored again, which the upsert absorbs).
        """
        tenant = ctx.tenant.name
        restarts = 0
        while start < now:
            end = min(start + slice_len, now)
            params = {"$filter": signin_filter(start, end), "$top": str(ctx.options.signin_page_size)}
            try:
                yield from ctx.client.iter_pages("v1.0/auditLogs/signIns", params=params, family=SIGNINS)
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
            yield end
            start = end
