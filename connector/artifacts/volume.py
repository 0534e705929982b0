"""Sending volume: SMTP AUTH messages per sender per UTC day, and per sender domain per day.

Which source a figure rests on, decided per day:

- a day with ``smtp_cs_report_row`` rows (an SmtpCSReport was loaded for it) counts ``SUM(message_count)`` of
  those rows: exact SMTP AUTH submissions;
- any other day counts ``COUNT(DISTINCT message_id)`` of the message-trace rows of the SMTP AUTH senders (the
  accounts the usage report, a successful Authenticated SMTP sign-in or an SmtpCSReport showed using SMTP AUTH).
  Message trace cannot tell how a message was submitted (API notes section 3), so this is *all* mail of those
  senders; with ``trace_signin_ip_only`` only rows whose fromIP was one of the sender's successful SMTP sign-in
  IPs count (Basic submissions; OAuth leaves no sign-in, so OAuth senders drop to zero).

``smtp_cs_days`` lists the days that rest on SmtpCSReport rows; summary.json and the coverage table repeat it.
"""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from connector.artifacts.params import ReportParams
from connector.artifacts.sql import Dialect, cs, sender_filter, si, tr, ud

__all__ = [
    "SOURCE_SMTP_CS",
    "SOURCE_TRACE",
    "smtp_cs_days",
    "smtp_senders",
    "volume_by_domain_day",
    "volume_by_sender_day",
    "volume_by_sender_total",
    "volume_sender_day_subquery",
]

SOURCE_SMTP_CS = "smtp_cs_report"
SOURCE_TRACE = "message_trace"


def _in_range(col: ColumnElement[Any], params: ReportParams) -> ColumnElement[bool]:
    return sa.and_(col >= params.start, col < params.end)


def smtp_senders(params: ReportParams) -> sa.Subquery:
    """Addresses known to use SMTP AUTH (concealed usage-report names are never used)."""
    usage = sa.select(sa.func.lower(ud.c.user_principal_name).label("addr")).where(
        ud.c.tenant == params.tenant,
        ud.c.smtp_app.is_(True),
        ud.c.concealed.is_(False),
        ud.c.user_principal_name.contains("@"),
    )
    signins = sa.select(sa.func.lower(si.c.user_principal_name)).where(
        si.c.tenant == params.tenant, si.c.error_code == 0, si.c.user_principal_name.contains("@")
    )
    reported = sa.select(cs.c.sender_address).where(cs.c.tenant == params.tenant)
    return sa.union(usage, signins, reported).subquery("smtp_senders")


def _cs_days(d: Dialect, params: ReportParams) -> Select[Any]:
    return (
        sa.select(d.day(cs.c.occurred_at))
        .where(cs.c.tenant == params.tenant, _in_range(cs.c.occurred_at, params))
        .distinct()
    )


def volume_sender_day_subquery(d: Dialect, params: ReportParams) -> sa.Subquery:
    """(date, sender_address, sender_domain, source, messages) of every sender-day with messages."""
    cs_day = d.day(cs.c.occurred_at)
    cs_domain = d.domain(cs.c.sender_address)
    from_cs = (
        sa.select(
            cs_day.label("date"),
            cs.c.sender_address.label("sender_address"),
            sa.func.coalesce(cs_domain, sa.func.lower(sa.func.max(cs.c.sender_domain))).label("sender_domain"),
            sa.literal_column(f"'{SOURCE_SMTP_CS}'").label("source"),
            sa.cast(sa.func.sum(cs.c.message_count), sa.Integer).label("messages"),
        )
        .where(
            cs.c.tenant == params.tenant,
            _in_range(cs.c.occurred_at, params),
            *sender_filter(params, cs.c.sender_address, cs_domain),
        )
        .group_by(cs_day, cs.c.sender_address, cs_domain)
    )
    tr_day = d.day(tr.c.received_at)
    tr_domain = d.domain(tr.c.sender_address)
    senders = smtp_senders(params)
    where = [
        tr.c.tenant == params.tenant,
        _in_range(tr.c.received_at, params),
        tr.c.sender_address.in_(sa.select(senders.c.addr)),
        tr_day.not_in(_cs_days(d, params)),
        *sender_filter(params, tr.c.sender_address, tr_domain),
    ]
    if params.trace_signin_ip_only:
        where.append(tr.c.from_smtp_signin_ip.is_(True))
    from_trace = (
        sa.select(
            tr_day.label("date"),
            tr.c.sender_address.label("sender_address"),
            tr_domain.label("sender_domain"),
            sa.literal_column(f"'{SOURCE_TRACE}'").label("source"),
            sa.func.count(sa.distinct(sa.func.coalesce(tr.c.message_id, tr.c.trace_id))).label("messages"),
        )
        .where(*where)
        .group_by(tr_day, tr.c.sender_address, tr_domain)
    )
    return sa.union_all(from_cs, from_trace).subquery("volume")


def volume_by_sender_day(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_by_sender``: date, sender_address, sender_domain, messages."""
    v = volume_sender_day_subquery(d, params)
    return sa.select(v.c.date, v.c.sender_address, v.c.sender_domain, v.c.messages).order_by(
        v.c.date, v.c.sender_address
    )


def volume_by_domain_day(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_by_domain``: date, sender_domain, messages (senders without a domain: NULL domain)."""
    v = volume_sender_day_subquery(d, params)
    return (
        sa.select(v.c.date, v.c.sender_domain, sa.cast(sa.func.sum(v.c.messages), sa.Integer).label("messages"))
        .group_by(v.c.date, v.c.sender_domain)
        .order_by(v.c.date, v.c.sender_domain)
    )


def volume_by_sender_total(d: Dialect, params: ReportParams) -> Select[Any]:
    """``sending_volume_sender_totals``: sender_address, sender_domain, messages, active_days (the details table)."""
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
        .order_by(messages.desc(), v.c.sender_address)
    )


def smtp_cs_days(d: Dialect, params: ReportParams) -> Select[Any]:
    """The days of the range that rest on SmtpCSReport rows (every other day rests on message trace)."""
    return _cs_days(d, params).order_by(d.day(cs.c.occurred_at))
