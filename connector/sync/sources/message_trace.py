"""Graph message trace for the senders known to use SMTP AUTH (API notes section 3).

Senders are the accounts the usage report shows with SMTP activity (names not concealed) and the accounts with a
successful Authenticated SMTP sign-in. For each, windows of at most 10 days from its watermark (or from the
backfill start, never more than 90 days back) up to now; the watermark of a sender moves after the last page of
each window (pages are grouped into transactions as in :mod:`connector.sync.writer`). Each row is stored marked
when its ``fromIP`` is one of that sender's successful SMTP sign-in IPs near that time, so volume can be shown both
as "all mail of SMTP AUTH senders" and "mail submitted from their SMTP AUTH clients"; rows stored without the mark
(by an import, or by an older version) are marked by the next sync.
"""

import bisect
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.config import TenantSettings
from connector.errors import ExpiredLinkError
from connector.http.families import MESSAGE_TRACE
from connector.http.paging import Page
from connector.sources.message_trace import MESSAGE_TRACE as TRACE_SPEC
from connector.sources.message_trace import normalize_message_trace_page
from connector.store import rollups, runs
from connector.sync.context import SourceRun, TenantContext
from connector.sync.prefetch import prefetched
from connector.sync.sources.base import odata_datetime
from connector.sync.sources.cloud import cloud_refusals, offered
from connector.sync.writer import GroupWriter
from models import MessageTrace, SignIn, UsageUserDetail

__all__ = ["MessageTraceSource", "known_smtp_senders", "mark_signin_ips", "signin_ip_times", "trace_filter"]

log = logging.getLogger("smtpauth.sync")

MAX_WINDOW_RESTARTS = 3
TRACE_PATH = "v1.0/admin/exchange/tracing/messageTraces"
#: without it Graph answers ``unknownFutureValue`` instead of the newer statuses such as ``recalled`` (section 9)
TRACE_HEADERS = {"Prefer": "include-unknown-enum-members"}

_trace: sa.Table = MessageTrace.__table__  # type: ignore[attr-defined]
_signin: sa.Table = SignIn.__table__  # type: ignore[attr-defined]
_detail: sa.Table = UsageUserDetail.__table__  # type: ignore[attr-defined]


def _quote(value: str) -> str:
    # OData string literal: a single quote is doubled
    return value.replace("'", "''")


def trace_filter(sender: str, start: datetime, end: datetime) -> str:
    since, until = odata_datetime(start), odata_datetime(end)
    return f"receivedDateTime ge {since} and receivedDateTime le {until} and senderAddress eq '{_quote(sender)}'"


def _last_hour(now: datetime) -> str:
    since, until = odata_datetime(now - timedelta(hours=1)), odata_datetime(now)
    return f"receivedDateTime ge {since} and receivedDateTime le {until}"


def known_smtp_senders(conn: Connection, tenant: str) -> list[str]:
    """Lower-case addresses of the accounts seen using SMTP AUTH; concealed identifiers are never used."""
    from_usage = sa.select(_detail.c.user_principal_name.label("addr")).where(
        _detail.c.tenant == tenant,
        _detail.c.smtp_app.is_(True),
        _detail.c.concealed.is_(False),
        _detail.c.user_principal_name.contains("@"),
    )
    from_signins = sa.select(_signin.c.user_principal_name.label("addr")).where(
        _signin.c.tenant == tenant,
        _signin.c.error_code == 0,
        _signin.c.user_principal_name.is_not(None),
    )
    union = sa.union(from_usage, from_signins).subquery()
    addr = sa.func.lower(union.c.addr)
    rows = conn.execute(sa.select(addr).distinct().order_by(addr)).scalars()
    return [r for r in rows if r and "@" in r]


def _near(times: list[datetime] | None, moment: datetime, window: timedelta) -> bool:
    """Is any of the sorted ``times`` within ``window`` of ``moment``?"""
    if not times:
        return False
    i = bisect.bisect_left(times, moment - window)
    return i < len(times) and times[i] <= moment + window


def signin_ip_times(conn: Connection, tenant: str, sender: str, since: datetime) -> dict[str, list[datetime]]:
    """The sender's successful Authenticated SMTP sign-ins since ``since``: sorted times per IP address."""
    out: dict[str, list[datetime]] = {}
    for ip, created in conn.execute(
        sa.select(_signin.c.ip_address, _signin.c.created_at).where(
            _signin.c.tenant == tenant,
            _signin.c.user_principal_name == sender,
            _signin.c.error_code == 0,
            _signin.c.ip_address.is_not(None),
            _signin.c.created_at >= since,
        )
    ):
        out.setdefault(ip, []).append(created)
    for times in out.values():
        times.sort()
    return out


def senders_with_unmarked_rows(conn: Connection, tenant: str) -> set[str]:
    """Senders with rows stored without the sign-in-IP mark (imported, or stored by an older version)."""
    query = sa.select(_trace.c.sender_address).where(_trace.c.tenant == tenant, _trace.c.from_smtp_signin_ip.is_(None))
    return set(conn.execute(query.distinct()).scalars())


def mark_signin_ips(conn: Connection, tenant: str, sender: str, since: datetime, window: timedelta) -> int:
    """Set ``from_smtp_signin_ip`` on the sender's rows received since ``since`` and on any row not marked yet;
    return how many changed.

    A row is marked when the sender had a successful Authenticated SMTP sign-in from the row's ``fromIP`` within
    ``window`` of its receipt. Done in Python per sender (a handful of IPs, bounded rows) so the date arithmetic
    is the same on SQLite and PostgreSQL.
    """
    # rows of a run that stopped before marking them are caught up whatever their date
    candidates = sa.and_(
        _trace.c.tenant == tenant,
        _trace.c.sender_address == sender,
        sa.or_(_trace.c.received_at >= since, _trace.c.from_smtp_signin_ip.is_(None)),
    )
    oldest = conn.execute(sa.select(sa.func.min(_trace.c.received_at)).where(candidates)).scalar()
    if oldest is None:
        return 0
    signins = signin_ip_times(conn, tenant, sender, oldest - window)
    changes: list[dict[str, object]] = []
    days: set[date] = set()
    for row_id, from_ip, received, flag in conn.execute(
        sa.select(_trace.c.id, _trace.c.from_ip, _trace.c.received_at, _trace.c.from_smtp_signin_ip).where(candidates)
    ):
        matched = _near(signins.get(from_ip), received, window)
        if flag is not matched:
            changes.append({"row_id": row_id, "flag": matched})
            days.add(received.astimezone(UTC).date())
    if changes:
        conn.execute(
            sa.update(_trace)
            .where(_trace.c.id == sa.bindparam("row_id"))
            .values(from_smtp_signin_ip=sa.bindparam("flag")),
            changes,
        )
        # the mark counts in the rollups (messages from a sign-in IP): recomputed for the days it changed
        rollups.touch(conn, _trace.name, ((tenant, day, sender) for day in days))
    return len(changes)


class MessageTraceSource:
    name = TRACE_SPEC.name
    permission = TRACE_SPEC.permission
    opt_in = False

    def enabled(self, tenant: TenantSettings) -> bool:
        return True

    def run(self, ctx: TenantContext, run: SourceRun) -> None:
        tenant = ctx.tenant
        opts = ctx.options
        now = ctx.clock.now().replace(microsecond=0)
        if not offered(tenant, self.name):
            # documented for the global service only: one small request lets Microsoft answer for this cloud
            with cloud_refusals(tenant, self.name):
                ctx.client.get_json(
                    TRACE_PATH,
                    params={"$filter": _last_hour(now), "$top": "1"},
                    family=MESSAGE_TRACE,
                    headers=TRACE_HEADERS,
                )
        # Graph refuses a start more than 90 days back; keep a margin for the time the request takes
        oldest = now - timedelta(days=opts.message_trace_backfill_days) + timedelta(minutes=10)
        with ctx.store.read() as conn:
            senders = known_smtp_senders(conn, tenant.name)
            unmarked = senders_with_unmarked_rows(conn, tenant.name)
        if not senders:
            run.coverage_reason = "no account has been seen using SMTP AUTH yet: nothing to trace"
            run.data_as_of = now
            return
        match = timedelta(hours=opts.signin_ip_match_hours)
        plan = _Plan(budget=opts.message_trace_max_requests)
        # one producer walks every sender's windows and pages a few items ahead of the store, so the request for the
        # next window is in flight while this one is stored (most windows are a single page)
        items = prefetched(self._items(ctx, senders, oldest, now, plan), depth=4, name="message-trace-fetch")
        ip_times: dict[str, list[datetime]] = {}

        def mark(row: dict[str, Any]) -> dict[str, Any]:
            row["from_smtp_signin_ip"] = _near(ip_times.get(row["from_ip"]), row["received_at"], match)
            return row

        with GroupWriter(ctx.store, run) as writer:
            for item in writer.each(items):
                if item.kind == "sender":
                    with ctx.store.read() as conn:
                        ip_times = signin_ip_times(conn, tenant.name, item.sender, item.moment - match)
                elif item.page is not None:
                    run.note_request(item.page.request_id)
                    with writer.step() as tx:
                        run.load(
                            tx,
                            MessageTrace,
                            ("tenant", "trace_id"),
                            normalize_message_trace_page(item.page.body, tenant=tenant.name, drift=run.drift),
                            transform=mark,
                        )
                elif item.kind == "window":
                    # the window is complete: its watermark moves after its last rows
                    with writer.step() as tx:
                        runs.set_watermark(
                            tx,
                            tenant.name,
                            self.name,
                            f"sender:{item.sender}",
                            item.moment.isoformat(),
                            now=ctx.clock.now(),
                        )
                elif item.sender in unmarked:
                    with writer.step() as tx:
                        mark_signin_ips(tx, tenant.name, item.sender, item.moment, match)
        run.data_as_of = now
        if plan.pending:
            run.coverage_status = "stale"
            run.coverage_reason = (
                f"{plan.pending} of {len(senders)} senders not traced up to now: the per-run request budget "
                f"({opts.message_trace_max_requests}) was reached; the next run continues"
            )

    def _items(
        self, ctx: TenantContext, senders: list[str], oldest: datetime, now: datetime, plan: "_Plan"
    ) -> Iterator["_Item"]:
        """Every sender's windows, in order: ``sender`` (with the start of its first window), its pages, ``window``
        (with the window's end) after each window's last page, and ``done`` (with the first start) per sender.

        Runs in the prefetch thread: it reads each sender's watermark itself (the sender's rows are written only
        after its items), restarts a window whose next link expired, and stops at the request budget.
        """
        opts = ctx.options
        tenant = ctx.tenant.name
        window = timedelta(days=opts.message_trace_window_days)
        for sender in senders:
            with ctx.store.read() as conn:
                mark = runs.get_watermark(conn, tenant, self.name, f"sender:{sender}")
            start = oldest
            if mark is not None:
                start = max(oldest, datetime.fromisoformat(mark) - timedelta(hours=opts.message_trace_overlap_hours))
            first = start
            yield _Item("sender", sender, first)
            while start < now:
                if plan.budget <= 0:
                    plan.pending += 1
                    break
                end = min(start + window, now)
                for attempt in range(MAX_WINDOW_RESTARTS + 1):
                    params = {"$filter": trace_filter(sender, start, end), "$top": str(opts.message_trace_page_size)}
                    pages = ctx.client.iter_pages(
                        TRACE_PATH, params=params, family=MESSAGE_TRACE, headers=TRACE_HEADERS
                    )
                    try:
                        for page in pages:
                            plan.budget -= 1
                            yield _Item("page", sender, start, page)
                    except ExpiredLinkError:
                        if attempt == MAX_WINDOW_RESTARTS:
                            raise
                        at = odata_datetime(start)
                        log.info("%s/message_trace: next link expired, restarting window at %s", tenant, at)
                    else:
                        break
                yield _Item("window", sender, end)
                start = end
            yield _Item("done", sender, first)


@dataclass(slots=True)
class _Plan:
    """The request budget left, and the senders the producer could not finish within it."""

    budget: int
    pending: int = 0


@dataclass(frozen=True, slots=True)
class _Item:
    """One step of the message-trace walk (see ``MessageTraceSource._items``)."""

    kind: str
    sender: str
    moment: datetime
    #: set for a ``page`` item only
    page: Page | None = None
