"""Accounts: one row per account joining every source, with a status a person can act on.

``messages`` is the sending volume of the range (as ``sending_volume_sender_totals``), ``legacy_tls_messages``
comes from the TLS table. Sources: the usage report (accounts with a non-empty SMTP App cell; concealed names are
never joined), the Authenticated SMTP sign-ins of the range, the sending volume and TLS/auth of the range, and the
newest mailbox posture snapshot (``Get-CASMailbox``): the posture is a state, so a snapshot taken after the end of
the range still says how the mailbox is set now (``posture_snapshot_date`` says when).

Statuses, most urgent first (``STATUSES``; ``ACTIONS`` says what to do):

``blocked_but_attempting``  failed sign-ins, none successful, and the account is disabled (AADSTS50057), blocked
                           by policy (50053/53003) or has SMTP AUTH turned off: a device still trying
``blocked_now``             SMTP AUTH is off for the mailbox now (its newest posture snapshot), but Basic auth was
                           used in the range: the client has failed since (``last_active_date``)
``basic_in_use``            Basic authentication seen: breaks when Microsoft turns Basic off for SMTP AUTH (end
                           of December 2026)
``legacy_tls_in_use``       TLS 1.0/1.1 submissions: only the legacy endpoint accepts them
``oauth_only``              OAuth only: nothing to do
``failed_signins_only``     failed sign-ins only (wrong password): someone else trying the account (spray)
``enabled_but_unused``      SMTP AUTH enabled on the mailbox, no SMTP AUTH activity: turn it off
``in_use_protocol_unknown`` SMTP AUTH activity without evidence of the protocol
``no_activity_in_range``    known from earlier usage, nothing in the range
"""

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, mp, rsd, ud
from connector.store.readside.tls_auth import auth_subquery, signins_subquery, tls_rows
from connector.store.readside.volume import RangeSplit, period_parts, range_split, sender_totals
from connector.store.rollups import active_day

__all__ = ["ACTIONS", "STATUSES", "accounts", "accounts_count"]

ACTIONS = {
    "blocked_but_attempting": "Find the device or app still signing in and reconfigure or retire it.",
    "blocked_now": "Blocked now, in use until {last}: SMTP AUTH is off for this mailbox, so the client fails since; "
    "move it to OAuth or another relay, or retire it.",
    "basic_in_use": "Move the client to OAuth or another relay before Basic auth for SMTP AUTH is switched off "
    "(end of December 2026).",
    "legacy_tls_in_use": "Update the client to TLS 1.2 or later; TLS 1.0/1.1 only work on smtp-legacy.office365.com.",
    "oauth_only": "Nothing to do.",
    "failed_signins_only": "Failed sign-ins only: check for a password spray; keep SMTP AUTH off if unused.",
    "enabled_but_unused": "Turn SMTP AUTH off for this mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled "
    "$true).",
    "in_use_protocol_unknown": "Request an SmtpCSReport or import the admin center export to learn the protocol.",
    "no_activity_in_range": "No SMTP AUTH activity in the range; consider turning SMTP AUTH off.",
}
STATUSES = tuple(ACTIONS)


def _lit(text: str) -> ColumnElement[Any]:
    return sa.literal_column(text)


def _posture(params: ReportParams) -> sa.Subquery:
    newest = sa.select(sa.func.max(mp.c.snapshot_date)).where(mp.c.tenant == params.tenant).scalar_subquery()
    return (
        sa.select(
            sa.func.lower(mp.c.user_principal_name).label("addr"),
            mp.c.effective_enabled,
            mp.c.snapshot_date,
        )
        .where(mp.c.tenant == params.tenant, mp.c.snapshot_date == newest)
        .subquery("posture")
    )


def _usage(params: ReportParams) -> sa.Subquery:
    addr = sa.func.lower(ud.c.user_principal_name)
    return (
        sa.select(
            addr.label("addr"),
            sa.func.max(ud.c.display_name).label("display_name"),
            sa.func.max(ud.c.last_activity_date).label("last_activity_date"),
        )
        .where(
            ud.c.tenant == params.tenant,
            ud.c.smtp_app.is_(True),
            ud.c.concealed.is_(False),
            ud.c.user_principal_name.contains("@"),
            ud.c.report_refresh_date <= params.date_to,
        )
        .group_by(addr)
        .subquery("usage")
    )


def _last_active_by_day(params: ReportParams, addr: ColumnElement[Any]) -> ColumnElement[Any]:
    """The last day of the range the account ``addr`` sent (message trace or SmtpCSReport) or signed in
    successfully: its sender-days read backwards from the range's end (index on sender, day) up to the first."""
    return (
        sa.select(rsd.c.utc_day)
        .where(
            rsd.c.tenant == params.tenant,
            rsd.c.sender_address == addr,
            rsd.c.utc_day >= params.date_from,
            rsd.c.utc_day <= params.date_to,
            active_day(),
        )
        .order_by(rsd.c.utc_day.desc())
        .limit(1)
        .scalar_subquery()
    )


def _last_active_by_period(params: ReportParams, split: RangeSplit) -> sa.Subquery:
    """(sender_address, last_active_date) of the range read through ``split``: the last active day of its whole
    months and weeks (``last_active_day`` of their rows) and of its other days, per sender; the same days as
    :func:`_last_active_by_day`, without one look-up per account. Unfiltered: the accounts it is joined to are."""
    unfiltered = dataclasses.replace(params, domains=(), senders=())
    parts: list[Select[Any]] = [
        sa.select(rsd.c.sender_address, rsd.c.utc_day.label("day")).where(
            rsd.c.tenant == params.tenant, split.edge_days(rsd.c.utc_day), active_day()
        )
    ]
    for p in period_parts(unfiltered, split):
        parts.append(
            sa.select(p.table.c.sender_address, p.table.c.last_active_day).where(
                *p.where, p.table.c.last_active_day.is_not(None)
            )
        )
    days = sa.union_all(*parts).subquery("active_days")
    return (
        sa.select(days.c.sender_address, sa.func.max(days.c.day).label("last_active_date"))
        .group_by(days.c.sender_address)
        .subquery("last_active")
    )


def _universe(
    d: Dialect, params: ReportParams, *, usage: sa.Subquery, sig: sa.CTE, posture: sa.Subquery, tls: sa.CTE
) -> sa.CTE:
    """The accounts of the range (one row each: address, domain): the usage report's, the signed-in, the ones with
    TLS or volume figures, and the mailboxes with SMTP AUTH on, filtered."""
    parts = [sa.select(usage.c.addr), sa.select(sig.c.sender_address), sa.select(tls.c.sender_address)]
    parts.append(sa.select(posture.c.addr).where(posture.c.effective_enabled.is_(True)))
    universe_q = sa.union(*parts).subquery("u")
    domain = d.domain(universe_q.c.addr)
    filters = []
    if params.senders:
        filters.append(universe_q.c.addr.in_(params.senders))
    if params.domains:
        filters.append(domain.in_(params.domains))
    # a CTE: the auth columns and the table read it, the database computes it once
    return (
        sa.select(universe_q.c.addr.label("sender_address"), domain.label("sender_domain"))
        .where(*filters)
        .cte("accounts_u")
    )


def accounts_count(d: Dialect, params: ReportParams) -> Select[Any]:
    """The row count of :func:`accounts` (one row per account of the range), for paging: its accounts counted,
    without the per-account figures."""
    usage, sig, posture, tls = _usage(params), signins_subquery(d, params), _posture(params), tls_rows(d, params)
    return sa.select(sa.func.count()).select_from(_universe(d, params, usage=usage, sig=sig, posture=posture, tls=tls))


def accounts(d: Dialect, params: ReportParams) -> Select[Any]:
    """``accounts``: one row per account (see the module docstring for the columns' sources and statuses)."""
    usage, sig, posture, tls = _usage(params), signins_subquery(d, params), _posture(params), tls_rows(d, params)
    vol = sender_totals(d, params)
    universe = _universe(d, params, usage=usage, sig=sig, posture=posture, tls=tls)
    auth = auth_subquery(d, params, universe)
    addr = universe.c.sender_address
    # PostgreSQL: from the periods' last active days (a look-up per account costs 11 µs there: 18 ms for 1,600
    # accounts, against 7 ms); SQLite's look-ups are cheaper than that read (5 ms against 11 ms)
    split = range_split(d, params) if d.name == "postgresql" else None
    by_period = _last_active_by_period(params, split) if split is not None else None
    last_active = by_period.c.last_active_date if by_period is not None else _last_active_by_day(params, addr)
    ok = sa.func.coalesce(sig.c.basic_signins, 0)
    failed = sa.func.coalesce(sig.c.failed, 0)
    messages = sa.func.coalesce(vol.c.messages, 0)
    legacy = sa.func.coalesce(tls.c.tls10_messages, 0) + sa.func.coalesce(tls.c.tls11_messages, 0)
    protocol = sa.func.coalesce(auth.c.auth_protocol, _lit("'unknown'"))
    active = sa.or_(messages > 0, ok > 0)
    status = sa.case(
        (
            sa.and_(
                failed > 0,
                ok == 0,
                sa.or_(sa.func.coalesce(sig.c.blocked, 0) > 0, posture.c.effective_enabled.is_(False)),
            ),
            _lit("'blocked_but_attempting'"),
        ),
        (
            sa.and_(sa.or_(protocol == _lit("'Basic'"), ok > 0), posture.c.effective_enabled.is_(False)),
            _lit("'blocked_now'"),
        ),
        (protocol == _lit("'Basic'"), _lit("'basic_in_use'")),
        (legacy > 0, _lit("'legacy_tls_in_use'")),
        (protocol == _lit("'OAuth'"), _lit("'oauth_only'")),
        (sa.and_(failed > 0, ok == 0, messages == 0, usage.c.addr.is_(None)), _lit("'failed_signins_only'")),
        (sa.and_(sa.not_(active), posture.c.effective_enabled.is_(True)), _lit("'enabled_but_unused'")),
        (active, _lit("'in_use_protocol_unknown'")),
        else_=_lit("'no_activity_in_range'"),
    )
    query = (
        sa.select(
            addr,
            universe.c.sender_domain,
            usage.c.display_name,
            status.label("status"),
            protocol.label("auth_protocol"),
            sa.cast(messages, sa.Integer).label("messages"),
            sa.cast(legacy, sa.Integer).label("legacy_tls_messages"),
            sa.func.coalesce(tls.c.tls_source, _lit("'none'")).label("tls_source"),
            sa.cast(ok, sa.Integer).label("basic_signins"),
            sa.cast(failed, sa.Integer).label("failed_signins"),
            sig.c.last_signin_at,
            (usage.c.addr.is_not(None)).label("usage_report_smtp"),
            usage.c.last_activity_date.label("usage_last_activity_date"),
            posture.c.effective_enabled.label("smtp_auth_enabled"),
            posture.c.snapshot_date.label("posture_snapshot_date"),
            last_active.label("last_active_date"),
        )
        .select_from(universe)
        .outerjoin(usage, usage.c.addr == addr)
        .outerjoin(sig, sig.c.sender_address == addr)
        .outerjoin(tls, tls.c.sender_address == addr)
        .outerjoin(vol, vol.c.sender_address == addr)
        .outerjoin(posture, posture.c.addr == addr)
        .outerjoin(auth, auth.c.sender_address == addr)
    )
    if by_period is not None:
        query = query.outerjoin(by_period, by_period.c.sender_address == addr)
    return query.order_by(addr)
