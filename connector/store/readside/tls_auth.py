"""TLS usage and authentication protocol per sender.

TLS, per sender, from the best source that covers it:

1. ``smtp_cs_report`` — ``smtp_cs_report_row`` of the range, per message: exact counts per TLS version;
2. ``imported_export`` — the EAC "SMTP AUTH clients" export an admin imported (``imported_tls_aggregate``), the
   newest one whose period overlaps the range: its message count and percentages; counts are
   ``round(messages * pct / 100)`` and its period may differ from the range (coverage says so). The export has
   no TLS 1.3 column, so the rest of its messages are counted as unknown;
3. ``none`` — a sender with sending volume but neither source: every message is ``tls_unknown_messages`` and the
   percentages are empty, never zero.

Authentication protocol, with the evidence it rests on: ``Basic`` when an SmtpCSReport row says Basic, or the
account had a successful Authenticated SMTP sign-in in the range (that client app is legacy/Basic auth only), or
the export says Basic; ``OAuth`` when the only evidence says OAuth; ``unknown`` otherwise (OAuth submissions leave
no sign-in, so a sender seen only in message trace stays unknown).
"""

import dataclasses
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, auth_key, ia, pct, rsd, sender_filter
from connector.store.readside.volume import period_parts, range_split, sender_totals

__all__ = [
    "auth_by_sender",
    "auth_subquery",
    "imported_subquery",
    "signins_subquery",
    "tls_by_sender",
    "tls_rows",
    "tls_subquery",
]

_COLS = ("tls10", "tls11", "tls12", "tls13")


def _int(v: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.cast(v, sa.Integer)


def imported_subquery(d: Dialect, params: ReportParams) -> sa.CTE:
    """The newest imported export line per sender whose period overlaps the range."""
    return d.shared(("imported", params), lambda: _imported(d, params))


def _imported(d: Dialect, params: ReportParams) -> sa.CTE:
    domain = d.domain(ia.c.sender_address)
    rank = (
        sa.func.row_number()
        .over(partition_by=ia.c.sender_address, order_by=(ia.c.period_end.desc(), ia.c.period_start.desc()))
        .label("rank")
    )
    ranked = (
        sa.select(
            ia.c.sender_address,
            sa.func.coalesce(domain, sa.func.lower(ia.c.domain)).label("sender_domain"),
            ia.c.messages,
            ia.c.tls10_pct,
            ia.c.tls11_pct,
            ia.c.tls12_pct,
            ia.c.auth_protocol,
            ia.c.period_start,
            ia.c.period_end,
            rank,
        )
        .where(
            ia.c.tenant == params.tenant,
            ia.c.period_start <= params.date_to,
            ia.c.period_end >= params.date_from,
            *sender_filter(params, ia.c.sender_address, domain),
        )
        .subquery("ranked")
    )
    return sa.select(ranked).where(ranked.c.rank == 1).cte("imported")


def tls_subquery(d: Dialect, params: ReportParams) -> sa.CTE:
    """Per sender SmtpCSReport counts: messages, tls10..tls13, unknown, basic, oauth, auth_unknown."""
    return d.shared(("cs_tls", params), lambda: _tls(d, params))


_CS_SUMS = ("messages", *_COLS, "tls_unknown", "basic", "oauth", "auth_unknown")


def _tls(d: Dialect, params: ReportParams) -> sa.CTE:

    def total(col: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.func.sum(col)

    split = range_split(d, params)
    if split is not None:
        # the whole months' sender-month rows and the other days' sender-day rows, summed per sender
        day_part = sa.select(
            rsd.c.sender_address,
            rsd.c.sender_domain,
            rsd.c.cs_file_domain,
            *(rsd.c[f"cs_{c}"].label(c) for c in _CS_SUMS),
        ).where(
            rsd.c.tenant == params.tenant,
            split.edge_days(rsd.c.utc_day),
            rsd.c.cs_rows > 0,
            *sender_filter(params, rsd.c.sender_address, rsd.c.sender_domain),
        )
        period_selects = [
            sa.select(
                p.table.c.sender_address,
                p.table.c.sender_domain,
                p.table.c.cs_file_domain,
                *(p.table.c[f"cs_{c}"].label(c) for c in _CS_SUMS),
            ).where(*p.where, p.table.c.cs_days > 0)
            for p in period_parts(params, split)
        ]
        parts = sa.union_all(day_part, *period_selects).subquery("cs_parts")
        return (
            sa.select(
                parts.c.sender_address,
                sa.func.coalesce(parts.c.sender_domain, sa.func.lower(sa.func.max(parts.c.cs_file_domain))).label(
                    "sender_domain"
                ),
                *(total(parts.c[c]).label(c) for c in _CS_SUMS),
            )
            .group_by(parts.c.sender_address, parts.c.sender_domain)
            .cte("cs_tls")
        )
    return (
        sa.select(
            rsd.c.sender_address,
            sa.func.coalesce(rsd.c.sender_domain, sa.func.lower(sa.func.max(rsd.c.cs_file_domain))).label(
                "sender_domain"
            ),
            total(rsd.c.cs_messages).label("messages"),
            *(total(rsd.c[f"cs_{c}"]).label(c) for c in _COLS),
            total(rsd.c.cs_tls_unknown).label("tls_unknown"),
            total(rsd.c.cs_basic).label("basic"),
            total(rsd.c.cs_oauth).label("oauth"),
            total(rsd.c.cs_auth_unknown).label("auth_unknown"),
        )
        .where(
            rsd.c.tenant == params.tenant,
            rsd.c.utc_day >= params.date_from,
            rsd.c.utc_day <= params.date_to,
            rsd.c.cs_rows > 0,
            *sender_filter(params, rsd.c.sender_address, rsd.c.sender_domain),
        )
        .group_by(rsd.c.sender_address, rsd.c.sender_domain)
        .cte("cs_tls")
    )


def signins_subquery(d: Dialect, params: ReportParams) -> sa.CTE:
    """Per account with an address and Authenticated SMTP sign-ins in the range: ``basic_signins`` (successful),
    ``failed``, ``blocked`` and ``last_signin_at``."""
    return d.shared(("signins", params), lambda: _signins(d, params))


def _signins(d: Dialect, params: ReportParams) -> sa.CTE:
    senders = [rsd.c.sender_address.in_(params.senders)] if params.senders else []
    split = range_split(d, params)
    if split is not None:
        # the whole months' sender-month rows and the other days' sender-day rows, summed per account
        cols = ("signins_ok", "signins_failed", "signins_blocked", "signin_last_at")
        day_part = sa.select(rsd.c.sender_address, *(rsd.c[c] for c in cols)).where(
            rsd.c.tenant == params.tenant,
            split.edge_days(rsd.c.utc_day),
            rsd.c.signin_rows > 0,
            rsd.c.sender_address.contains("@"),
            *senders,
        )
        # the accounts' sign-ins are filtered by address only (an account's domain filter applies to its volume)
        unfiltered = dataclasses.replace(params, domains=())
        period_selects = [
            sa.select(p.table.c.sender_address, *(p.table.c[c] for c in cols)).where(
                *p.where, p.table.c.signin_days > 0, p.table.c.sender_address.contains("@")
            )
            for p in period_parts(unfiltered, split)
        ]
        parts = sa.union_all(day_part, *period_selects).subquery("signin_parts")
        return (
            sa.select(
                parts.c.sender_address,
                sa.func.sum(parts.c.signins_ok).label("basic_signins"),
                sa.func.sum(parts.c.signins_failed).label("failed"),
                sa.func.sum(parts.c.signins_blocked).label("blocked"),
                sa.func.max(parts.c.signin_last_at).label("last_signin_at"),
            )
            .group_by(parts.c.sender_address)
            .cte("signins")
        )
    return (
        sa.select(
            rsd.c.sender_address,
            sa.func.sum(rsd.c.signins_ok).label("basic_signins"),
            sa.func.sum(rsd.c.signins_failed).label("failed"),
            sa.func.sum(rsd.c.signins_blocked).label("blocked"),
            sa.func.max(rsd.c.signin_last_at).label("last_signin_at"),
        )
        .where(
            rsd.c.tenant == params.tenant,
            rsd.c.utc_day >= params.date_from,
            rsd.c.utc_day <= params.date_to,
            rsd.c.signin_rows > 0,
            rsd.c.sender_address.contains("@"),
            *senders,
        )
        .group_by(rsd.c.sender_address)
        .cte("signins")
    )


def auth_subquery(d: Dialect, params: ReportParams, universe: sa.Subquery | sa.CTE) -> sa.Subquery:
    """Per address of ``universe.c.sender_address``: auth_protocol and its evidence columns."""
    t = tls_subquery(d, params)
    s = signins_subquery(d, params)
    imp = imported_subquery(d, params)
    cs_basic = sa.func.coalesce(t.c.basic, 0)
    cs_oauth = sa.func.coalesce(t.c.oauth, 0)
    sig = sa.func.coalesce(s.c.basic_signins, 0)
    exp = auth_key(imp.c.auth_protocol)
    protocol = sa.case(
        (sa.or_(cs_basic > 0, sig > 0, exp == sa.literal_column("'Basic'")), sa.literal_column("'Basic'")),
        (sa.or_(cs_oauth > 0, exp == sa.literal_column("'OAuth'")), sa.literal_column("'OAuth'")),
        else_=sa.literal_column("'unknown'"),
    )
    return (
        sa.select(
            universe.c.sender_address,
            protocol.label("auth_protocol"),
            _int(cs_basic).label("smtp_cs_basic_messages"),
            _int(cs_oauth).label("smtp_cs_oauth_messages"),
            _int(sig).label("basic_signins"),
            imp.c.auth_protocol.label("export_auth_protocol"),
        )
        .select_from(universe)
        .outerjoin(t, t.c.sender_address == universe.c.sender_address)
        .outerjoin(s, s.c.sender_address == universe.c.sender_address)
        .outerjoin(imp, imp.c.sender_address == universe.c.sender_address)
        .subquery("auth")
    )


def tls_rows(d: Dialect, params: ReportParams) -> sa.CTE:
    """One row per sender: TLS counts and percentages from the best source, plus ``tls_source``."""
    return d.shared(("tls_rows", params), lambda: _tls_rows(d, params))


def _tls_rows(d: Dialect, params: ReportParams) -> sa.CTE:
    t = tls_subquery(d, params)
    imp = imported_subquery(d, params)
    vol = sender_totals(d, params)
    from_cs = sa.select(
        t.c.sender_address,
        t.c.sender_domain,
        _int(t.c.messages).label("messages"),
        *(_int(getattr(t.c, c)).label(f"{c}_messages") for c in _COLS),
        _int(t.c.tls_unknown).label("tls_unknown_messages"),
        *(pct(getattr(t.c, c), t.c.messages).label(f"{c}_pct") for c in _COLS),
        sa.literal_column("'smtp_cs_report'").label("tls_source"),
    )
    known = sa.select(t.c.sender_address)

    def est(p: ColumnElement[Any]) -> ColumnElement[Any]:
        return sa.cast(sa.func.round(imp.c.messages * p / sa.literal_column("100.0")), sa.Integer)

    estimated = [est(imp.c.tls10_pct), est(imp.c.tls11_pct), est(imp.c.tls12_pct)]
    rest = imp.c.messages - sum((sa.func.coalesce(e, 0) for e in estimated), sa.literal_column("0"))
    from_export = sa.select(
        imp.c.sender_address,
        imp.c.sender_domain,
        _int(imp.c.messages).label("messages"),
        *(e.label(f"{c}_messages") for e, c in zip(estimated, _COLS, strict=False)),
        sa.cast(sa.null(), sa.Integer).label("tls13_messages"),
        _int(sa.case((rest > 0, rest), else_=0)).label("tls_unknown_messages"),
        sa.cast(imp.c.tls10_pct, sa.Float).label("tls10_pct"),
        sa.cast(imp.c.tls11_pct, sa.Float).label("tls11_pct"),
        sa.cast(imp.c.tls12_pct, sa.Float).label("tls12_pct"),
        sa.cast(sa.null(), sa.Float).label("tls13_pct"),
        sa.literal_column("'imported_export'").label("tls_source"),
    ).where(imp.c.sender_address.not_in(known))
    from_volume = sa.select(
        vol.c.sender_address,
        vol.c.sender_domain,
        _int(vol.c.messages).label("messages"),
        *(sa.cast(sa.null(), sa.Integer).label(f"{c}_messages") for c in _COLS),
        _int(vol.c.messages).label("tls_unknown_messages"),
        *(sa.cast(sa.null(), sa.Float).label(f"{c}_pct") for c in _COLS),
        sa.literal_column("'none'").label("tls_source"),
    ).where(vol.c.sender_address.not_in(known), vol.c.sender_address.not_in(sa.select(imp.c.sender_address)))
    return sa.union_all(from_cs, from_export, from_volume).cte("tls_rows")


def tls_by_sender(d: Dialect, params: ReportParams) -> Select[Any]:
    """``tls_usage_by_sender``: the documented columns, largest senders first."""
    rows = tls_rows(d, params)
    auth = auth_subquery(d, params, rows)
    return (
        sa.select(
            rows.c.sender_address,
            rows.c.sender_domain,
            rows.c.messages,
            *(rows.c[f"{c}_messages"] for c in _COLS),
            rows.c.tls_unknown_messages,
            *(rows.c[f"{c}_pct"] for c in _COLS),
            auth.c.auth_protocol,
        )
        .select_from(rows)
        .join(auth, auth.c.sender_address == rows.c.sender_address)
        .order_by(rows.c.messages.desc(), rows.c.sender_address)
    )


def auth_by_sender(d: Dialect, params: ReportParams) -> Select[Any]:
    """``auth_protocol_by_sender``: protocol and evidence for every sender of the TLS table."""
    rows = tls_rows(d, params)
    auth = auth_subquery(d, params, rows)
    return (
        sa.select(
            rows.c.sender_address,
            rows.c.sender_domain,
            auth.c.auth_protocol,
            auth.c.smtp_cs_basic_messages,
            auth.c.smtp_cs_oauth_messages,
            auth.c.basic_signins,
            auth.c.export_auth_protocol,
            rows.c.tls_source,
        )
        .select_from(rows)
        .join(auth, auth.c.sender_address == rows.c.sender_address)
        .order_by(rows.c.sender_address)
    )
