"""Sending volume: SMTP AUTH messages per sender per UTC day, and per sender domain per day.

Which source a figure rests on, decided per day:

- a day with ``smtp_cs_report_row`` rows (an SmtpCSReport was loaded for it) counts ``SUM(message_count)`` of
  those rows: exact SMTP AUTH submissions;
- any other day counts ``COUNT(DISTINCT message_id)`` of the message-trace rows of the SMTP AUTH senders (the
  accounts the usage report, a successful Authenticated SMTP sign-in or an SmtpCSReport showed using SMTP AUTH).
  Message trace cannot tell how a message was submitted (API notes section 3), so this is *all* mail of those
  senders; with ``trace_signin_ip_only`` only rows whose fromIP was one of the sender's successful SMTP sign-in
  IPs count (Basic submissions; OAuth leaves no sign-in, so OAuth senders drop to zero).

All of it is read from the rollups (``rollup_sender_day``, ``rollup_day``, ``rollup_sender``); the per-sender
figures of a range's whole calendar months from ``rollup_sender_month`` (one row per sender and month, which keeps
the per-day choice of source: :class:`RangeSplit`).

``sending_volume_by_sender`` has a row per sender per day, ISO week or calendar month (``ReportParams.sender_period``:
per day up to 92 days, per month beyond, unless asked), summed in SQL from the same sender-day rows; a period cut
by the range (the first and last month of most ranges) counts only its days in the range, and its row says which
(``date`` to ``period_end``).

``smtp_cs_days`` lists the days that rest on SmtpCSReport rows; summary.json and the coverage table repeat it.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, rday, rdd, rsd, rsm, rsnd, rsw, sender_filter, ud

__all__ = [
    "SOURCE_SMTP_CS",
    "SOURCE_TRACE",
    "PeriodPart",
    "RangeSplit",
    "period_parts",
    "range_split",
    "sender_totals",
    "smtp_cs_days",
    "smtp_senders",
    "volume_by_domain_day",
    "volume_by_sender_count",
    "volume_by_sender_day",
    "volume_by_sender_period",
    "volume_by_sender_total",
    "volume_sender_day_subquery",
]

SOURCE_SMTP_CS = "smtp_cs_report"
SOURCE_TRACE = "message_trace"


def _in_range(col: ColumnElement[Any], params: ReportParams) -> ColumnElement[bool]:
    return sa.and_(col >= params.date_from, col <= params.date_to)


@dataclass(frozen=True)
class RangeSplit:
    """A range as its whole calendar months (``months``: the first and the last, their first days; None without
    one), the whole ISO weeks of the rest (``weeks``: runs of (first Monday, last Monday), each inside one calendar
    month) and the days left (``edges``: (from, to) ranges)."""

    months: tuple[date, date] | None
    weeks: tuple[tuple[date, date], ...]
    edges: tuple[tuple[date, date], ...]

    def edge_days(self, col: ColumnElement[Any]) -> ColumnElement[bool]:
        """``col`` is one of the edge days: listed (at most 24 days), so that each is one look-up of the rollup's
        (tenant, day) key; a disjunction of ranges would make SQLite read every day of the tenant. An empty list
        when there are none: the statement keeps its shape (see :func:`period_parts`)."""
        days = [a + timedelta(days=k) for a, b in self.edges for k in range((b - a).days + 1)]
        return col.in_(days)


@dataclass(frozen=True)
class PeriodPart:
    """The rows of one sender-period rollup a range reads: its table, its key column (the period's first day) and
    the WHERE clauses (tenant, periods, ``params``' sender filters)."""

    table: sa.Table
    key: ColumnElement[Any]
    where: list[ColumnElement[bool]]


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _split_weeks(a: date, b: date) -> tuple[tuple[date, date] | None, list[tuple[date, date]]]:
    """The whole ISO weeks of the days ``a`` to ``b`` (first and last Monday; None without one) and the days left."""
    monday = a + timedelta(days=-a.weekday() % 7)
    sunday = b - timedelta(days=(b.weekday() + 1) % 7)
    if monday + timedelta(days=6) > sunday:
        return None, [(a, b)]
    rest = []
    if a < monday:
        rest.append((a, monday - timedelta(days=1)))
    if sunday < b:
        rest.append((sunday + timedelta(days=1), b))
    return (monday, sunday - timedelta(days=6)), rest


def range_split(d: Dialect, params: ReportParams) -> RangeSplit | None:
    """The whole months of ``params``' range, the whole weeks of each of its partial months, and its other days;
    None when the range holds neither a whole month nor a whole week (or ``d`` reads every day)."""
    if not d.months:
        return None
    lo, hi = params.date_from, params.date_to
    first = lo if lo.day == 1 else _next_month(lo)
    end = _next_month(hi) - timedelta(days=1)  # the last day of hi's month
    last = hi.replace(day=1) if hi == end else (hi.replace(day=1) - timedelta(days=1)).replace(day=1)
    pieces = []  # the range's days outside its whole months, cut at month boundaries
    if first <= last:
        if lo < first:
            pieces.append((lo, first - timedelta(days=1)))
        if _next_month(last) <= hi:
            pieces.append((_next_month(last), hi))
    else:
        while lo <= hi:
            piece_end = min(hi, _next_month(lo) - timedelta(days=1))
            pieces.append((lo, piece_end))
            lo = piece_end + timedelta(days=1)
    weeks, edges = [], []
    for a, b in pieces:
        run, rest = _split_weeks(a, b)
        if run is not None:
            weeks.append(run)
        edges += rest
    if first > last and not weeks:
        return None
    return RangeSplit((first, last) if first <= last else None, tuple(weeks), tuple(edges))


def period_parts(params: ReportParams, split: RangeSplit) -> list[PeriodPart]:
    """The sender-month rows of ``split``'s whole months and the sender-week rows of its whole weeks, with
    ``params``' sender filters.

    Both parts always, the months and the Mondays listed (an empty list without any), as the edge days are: every
    range read through a split is then the same statement with other values, which SQLAlchemy compiles once (and
    the service's warming of the default range compiles for every other range)."""
    months = []
    if split.months is not None:
        month = split.months[0]
        while month <= split.months[1]:
            months.append(month)
            month = _next_month(month)
    where = [rsm.c.tenant == params.tenant, rsm.c.month.in_(months)]
    where += sender_filter(params, rsm.c.sender_address, rsm.c.sender_domain)
    parts = [PeriodPart(rsm, rsm.c.month, where)]
    # listed: a few Mondays, one key look-up each
    mondays = [a + timedelta(weeks=k) for a, b in split.weeks for k in range((b - a).days // 7 + 1)]
    where = [rsw.c.tenant == params.tenant, rsw.c.week.in_(mondays)]
    where += sender_filter(params, rsw.c.sender_address, rsw.c.sender_domain)
    parts.append(PeriodPart(rsw, rsw.c.week, where))
    return parts


def smtp_senders(params: ReportParams) -> sa.Subquery:
    """Addresses known to use SMTP AUTH (concealed usage-report names are never used): the usage report's SMTP
    users, and every sender with a successful Authenticated SMTP sign-in or an SmtpCSReport row on any day."""
    usage = sa.select(sa.func.lower(ud.c.user_principal_name).label("addr")).where(
        ud.c.tenant == params.tenant,
        ud.c.smtp_app.is_(True),
        ud.c.concealed.is_(False),
        ud.c.user_principal_name.contains("@"),
    )
    seen = sa.select(rsnd.c.sender_address).where(
        rsnd.c.tenant == params.tenant,
        sa.or_(sa.and_(rsnd.c.signin_ok_days > 0, rsnd.c.sender_address.contains("@")), rsnd.c.cs_days > 0),
    )
    return sa.union(usage, seen).subquery("smtp_senders")


def _cs_days(params: ReportParams) -> Select[Any]:
    return sa.select(rday.c.utc_day).where(
        rday.c.tenant == params.tenant, _in_range(rday.c.utc_day, params), rday.c.cs_rows > 0
    )


def volume_sender_day_subquery(d: Dialect, params: ReportParams, split: RangeSplit | None = None) -> sa.Subquery:
    """(date, sender_address, sender_domain, source, messages) of every sender-day with messages (of ``split``'s
    edge days only, when given).

    One pass over the range's sender-day rollup rows: a row with SmtpCSReport rows counts them (its day rests on
    SmtpCSReport); any other row counts its message trace when its day has no SmtpCSReport rows at all and the
    sender is known to use SMTP AUTH."""
    days = _in_range(rsd.c.utc_day, params) if split is None else split.edge_days(rsd.c.utc_day)
    in_range = [rsd.c.tenant == params.tenant, days]
    filters = sender_filter(params, rsd.c.sender_address, rsd.c.sender_domain)
    senders = smtp_senders(params)
    messages = rsd.c.trace_signin_ip_messages if params.trace_signin_ip_only else rsd.c.trace_messages
    from_cs = rsd.c.cs_rows > 0
    from_trace = sa.and_(
        messages > 0,
        rsd.c.sender_address.in_(sa.select(senders.c.addr)),
        rsd.c.utc_day.not_in(_cs_days(params)),
    )
    return (
        sa.select(
            rsd.c.utc_day.label("date"),
            rsd.c.sender_address.label("sender_address"),
            sa.case(
                (from_cs, sa.func.coalesce(rsd.c.sender_domain, sa.func.lower(rsd.c.cs_file_domain))),
                else_=rsd.c.sender_domain,
            ).label("sender_domain"),
            sa.case(
                (from_cs, sa.literal_column(f"'{SOURCE_SMTP_CS}'")), else_=sa.literal_column(f"'{SOURCE_TRACE}'")
            ).label("source"),
            sa.cast(sa.case((from_cs, rsd.c.cs_messages), else_=messages), sa.Integer).label("messages"),
        )
        .where(*in_range, sa.or_(from_cs, from_trace), *filters)
        .subquery("volume")
    )


def _volume_parts(d: Dialect, params: ReportParams, split: RangeSplit) -> sa.Subquery:
    """(date, sender_address, sender_domain, messages, days): the volume of ``split``'s edge days one row per
    sender-day (``days`` = 1), and of each whole month or week one row per sender and source (the SmtpCSReport part
    over the sender's days with SmtpCSReport rows, the message-trace part over the period's days resting on message
    trace, for an SMTP AUTH sender), ``date`` being the period's first day. Summed per sender, the same figures as
    the sender's days."""
    v = volume_sender_day_subquery(d, params, split)
    one: ColumnElement[Any] = sa.literal_column("1")
    parts = [sa.select(v.c.date, v.c.sender_address, v.c.sender_domain, v.c.messages, one.label("days"))]
    if params.trace_signin_ip_only:
        messages, days = "trace_ip_messages", "trace_ip_days"
    else:
        messages, days = "trace_messages", "trace_days"
    senders = smtp_senders(params)
    for period in period_parts(params, split):
        t = period.table
        parts.append(
            sa.select(
                period.key.label("date"),
                t.c.sender_address,
                t.c.cs_volume_domain.label("sender_domain"),
                t.c.cs_messages.label("messages"),
                t.c.cs_days.label("days"),
            ).where(*period.where, t.c.cs_days > 0)
        )
        parts.append(
            sa.select(
                period.key.label("date"),
                t.c.sender_address,
                t.c.sender_domain,
                t.c[messages].label("messages"),
                t.c[days].label("days"),
            ).where(*period.where, t.c[days] > 0, t.c.sender_address.in_(sa.select(senders.c.addr)))
        )
    return sa.union_all(*parts).subquery("volume_parts")


def volume_by_sender_day(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_by_sender``: date, sender_address, sender_domain, messages."""
    v = volume_sender_day_subquery(d, params)
    return sa.select(v.c.date, v.c.sender_address, v.c.sender_domain, v.c.messages).order_by(
        v.c.date, v.c.sender_address
    )


def volume_by_sender_period(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_by_sender``: date (the period's first day in the range), sender_address, sender_domain,
    messages, period_end (its last day in the range), period (day, week, month), active_days (days with messages).

    Per day: the rows of :func:`volume_by_sender_day`. Per week or month: those rows summed per (period, sender), in
    SQL, from the sender-day rollup."""
    v = volume_sender_day_subquery(d, params)
    period = params.sender_period
    label: ColumnElement[Any] = sa.literal_column(f"'{period}'")
    if period == "day":
        return sa.select(
            v.c.date,
            v.c.sender_address,
            v.c.sender_domain,
            v.c.messages,
            v.c.date.label("period_end"),
            label.label("period"),
            sa.literal_column("1").label("active_days"),
        ).order_by(v.c.date, v.c.sender_address)
    rows = sender_periods(d, params)
    first = sa.literal(params.date_from, sa.Date)
    last = sa.literal(params.date_to, sa.Date)
    start, end = rows.c.period_start, d.period_end(rows.c.period_start, period)
    return sa.select(
        sa.type_coerce(sa.case((start < first, first), else_=start), sa.Date).label("date"),
        rows.c.sender_address,
        rows.c.sender_domain,
        rows.c.messages,
        sa.type_coerce(sa.case((end > last, last), else_=end), sa.Date).label("period_end"),
        label.label("period"),
        rows.c.active_days,
    ).order_by(rows.c.period_start, rows.c.sender_address)


def _sender_periods(d: Dialect, params: ReportParams) -> sa.CTE:
    split = range_split(d, params) if params.sender_period == "month" else None
    if split is not None:
        # whole months from their sender-month rows, the range's other days from their sender-days
        p = _volume_parts(d, params, split)
        start = d.period_start(p.c.date, "month")
        return (
            sa.select(
                start.label("period_start"),
                p.c.sender_address,
                sa.func.max(p.c.sender_domain).label("sender_domain"),
                sa.cast(sa.func.sum(p.c.messages), sa.Integer).label("messages"),
                sa.cast(sa.func.sum(p.c.days), sa.Integer).label("active_days"),
            )
            .group_by(start, p.c.sender_address)
            .cte("vol_period")
        )
    v = volume_sender_day_subquery(d, params)
    rows = sa.select(v, d.period_start(v.c.date, params.sender_period).label("period_start")).subquery("dated")
    return (
        sa.select(
            rows.c.period_start,
            rows.c.sender_address,
            sa.func.max(rows.c.sender_domain).label("sender_domain"),
            sa.cast(sa.func.sum(rows.c.messages), sa.Integer).label("messages"),
            sa.func.count(rows.c.date).label("active_days"),
        )
        .group_by(rows.c.period_start, rows.c.sender_address)
        .cte("vol_period")
    )


def sender_periods(d: Dialect, params: ReportParams) -> sa.CTE:
    """(period_start, sender_address, sender_domain, messages, active_days) per week or month of
    ``params.sender_period`` and sender, as one CTE per (dialect, params): the sender table's rows, and what
    :func:`sender_totals` sums for such a range (a sender's months instead of its days)."""
    return d.shared(("vol_period", params), lambda: _sender_periods(d, params))


@dataclass(frozen=True)
class _DomainDayParts:
    """What a range reads of the domain-day rollup: its SmtpCSReport parts, its message-trace parts on the days
    resting on message trace, and the sender-days to take off them (senders with message trace not known to use
    SMTP AUTH: a message-trace sync fetches the known senders, so they are few)."""

    cs: list[ColumnElement[bool]]
    trace: list[ColumnElement[bool]]
    others: list[ColumnElement[bool]]
    #: rsd's column of the messages counted on a day resting on message trace
    messages: ColumnElement[Any]


def _domain_day_parts(params: ReportParams) -> _DomainDayParts:
    common = [rdd.c.tenant == params.tenant, _in_range(rdd.c.utc_day, params)]
    cs_part: ColumnElement[bool] = rdd.c.part.in_(["cs", "cs_file"])
    trace_part: ColumnElement[bool] = rdd.c.part == "trace"
    if params.domains:  # the senders' own domain: a sender without one is never in the filter
        cs_part = sa.and_(rdd.c.part == "cs", rdd.c.domain.in_(params.domains))
        trace_part = sa.and_(trace_part, rdd.c.has_domain == 1, rdd.c.domain.in_(params.domains))
    members = smtp_senders(params)
    others = sa.select(rsnd.c.sender_address).where(
        rsnd.c.tenant == params.tenant,
        rsnd.c.trace_days > 0,
        rsnd.c.sender_address.not_in(sa.select(members.c.addr)),
    )
    messages = rsd.c.trace_signin_ip_messages if params.trace_signin_ip_only else rsd.c.trace_messages
    return _DomainDayParts(
        cs=[*common, cs_part],
        trace=[*common, trace_part, rdd.c.utc_day.not_in(_cs_days(params))],
        others=[
            rsd.c.tenant == params.tenant,
            _in_range(rsd.c.utc_day, params),
            messages > 0,
            rsd.c.utc_day.not_in(_cs_days(params)),
            rsd.c.sender_address.in_(others),
            *sender_filter(params, rsd.c.sender_address, rsd.c.sender_domain),
        ],
        messages=messages,
    )


def _volume_by_domain_day_rollup(params: ReportParams) -> Select[Any]:
    """:func:`volume_by_domain_day` from the domain-day rollup: on a day resting on SmtpCSReport its SmtpCSReport
    parts (a (day, domain) with such senders is listed even at 0 messages); on any other day the message trace of
    every sender with trace rows, less that of the senders not known to use SMTP AUTH (:class:`_DomainDayParts`),
    a (day, domain) listed when some SMTP AUTH sender has messages. Summed per (day, domain), the same rows as the
    sender-day read."""
    p = _domain_day_parts(params)
    domain = sa.case((rdd.c.has_domain == 1, rdd.c.domain), else_=sa.null())
    one: ColumnElement[Any] = sa.literal_column("1")
    zero: ColumnElement[Any] = sa.literal_column("0")
    trace_messages = rdd.c.ip_messages if params.trace_signin_ip_only else rdd.c.messages
    parts = sa.union_all(
        sa.select(
            rdd.c.utc_day.label("date"), domain.label("sender_domain"), rdd.c.messages.label("m"), one.label("cs")
        ).where(*p.cs),
        sa.select(rdd.c.utc_day, domain, trace_messages, zero).where(*p.trace),
        sa.select(rsd.c.utc_day, rsd.c.sender_domain, -p.messages, zero).where(*p.others),
    ).subquery("domain_parts")
    total = sa.func.sum(parts.c.m)
    return (
        sa.select(parts.c.date, parts.c.sender_domain, sa.cast(total, sa.Integer).label("messages"))
        .group_by(parts.c.date, parts.c.sender_domain)
        .having(sa.or_(sa.func.max(parts.c.cs) == 1, total > 0))
        .order_by(parts.c.date, parts.c.sender_domain)
    )


def volume_by_sender_count(d: Dialect, params: ReportParams) -> Select[Any] | None:
    """The row count of :func:`volume_by_sender_period` for a range read per day (one row per sender-day with
    messages), from the domain-day rollup: its parts' sender-days, less the other senders' (the same rows the
    chart takes off). None when the table is per week or month, its senders are filtered, or ``d`` reads every
    sender-day: the caller counts the table's rows then."""
    if not d.months or params.senders or params.sender_period != "day":
        return None
    p = _domain_day_parts(params)
    trace_senders = rdd.c.ip_senders if params.trace_signin_ip_only else rdd.c.senders
    parts = sa.union_all(
        sa.select(sa.func.coalesce(sa.func.sum(rdd.c.senders), 0).label("n")).where(*p.cs),
        sa.select(sa.func.coalesce(sa.func.sum(trace_senders), 0)).where(*p.trace),
        sa.select(-sa.func.count()).select_from(rsd).where(*p.others),
    ).subquery("counted")
    return sa.select(sa.cast(sa.func.sum(parts.c.n), sa.Integer))


def volume_by_domain_day(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_by_domain``: date, sender_domain, messages (senders without a domain: NULL domain). From the
    domain-day rollup (:func:`_volume_by_domain_day_rollup`) unless the senders are filtered or ``d`` reads every
    sender-day."""
    if d.months and not params.senders:
        return _volume_by_domain_day_rollup(params)
    v = volume_sender_day_subquery(d, params)
    return (
        sa.select(v.c.date, v.c.sender_domain, sa.cast(sa.func.sum(v.c.messages), sa.Integer).label("messages"))
        .group_by(v.c.date, v.c.sender_domain)
        .order_by(v.c.date, v.c.sender_domain)
    )


def volume_by_sender_total(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_sender_totals``: sender_address, sender_domain, messages, active_days (the details table),
    read from :func:`sender_totals`, which the TLS, auth and accounts tables join."""
    vol = sender_totals(d, params)
    return sa.select(vol).order_by(vol.c.messages.desc(), vol.c.sender_address)


def _summed(rows: sa.Subquery | sa.CTE, days: str) -> sa.CTE:
    """``rows`` (per sender and period or part) summed per sender: domain, messages, active days (column ``days``)."""
    return (
        sa.select(
            rows.c.sender_address,
            sa.func.max(rows.c.sender_domain).label("sender_domain"),
            sa.cast(sa.func.sum(rows.c.messages), sa.Integer).label("messages"),
            sa.cast(sa.func.sum(rows.c[days]), sa.Integer).label("active_days"),
        )
        .group_by(rows.c.sender_address)
        .cte("vol")
    )


def _sender_totals(d: Dialect, params: ReportParams) -> sa.CTE:
    if params.sender_period != "day":
        # the sums of the sender's weeks or months (which the sender table reads too): the same figures
        return _summed(sender_periods(d, params), "active_days")
    split = range_split(d, params)
    if split is not None:
        return _summed(_volume_parts(d, params, split), "days")
    v = volume_sender_day_subquery(d, params)
    messages = sa.cast(sa.func.sum(v.c.messages), sa.Integer)
    return (
        sa.select(
            v.c.sender_address,
            sa.func.max(v.c.sender_domain).label("sender_domain"),
            messages.label("messages"),
            sa.func.count(v.c.date).label("active_days"),
        )
        .group_by(v.c.sender_address)
        .cte("vol")
    )


def smtp_cs_days(d: Dialect, params: ReportParams) -> Select[Any]:
    """The days of the range that rest on SmtpCSReport rows (every other day rests on message trace)."""
    return _cs_days(params).order_by(rday.c.utc_day)


def sender_totals(d: Dialect, params: ReportParams) -> sa.CTE:
    """``volume_by_sender_total`` as one CTE per (dialect, params), shared by the tables that join it."""
    return d.shared(("vol", params), lambda: _sender_totals(d, params))
