"""The dashboard figures: accounts that used SMTP AUTH in the last 7 days (with history), and the flyout.

``smtp_accounts_7d`` is ``usage_apps_kpi.smtp_app`` of the D7 period (``getEmailAppUsageAppsUserCounts``), one
value per report refresh date we stored: the history grows with every sync. ``daily_smtp_users`` is
``usage_user_counts.smtp_app`` per day. The flyout is the last 7 days of the range (ending ``date_to``): sending
volume as the volume section counts it and TLS usage from SmtpCSReport / imported exports.
"""

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Select

from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, kpi, uc
from connector.store.readside.tls_auth import tls_rows
from connector.store.readside.volume import volume_sender_day_subquery

__all__ = ["flyout", "kpi_history", "latest_kpi"]


def kpi_history(params: ReportParams) -> Select[Any]:
    """``kpi_history``: date, smtp_accounts_7d (None on days without a stored refresh), daily_smtp_users."""
    d7 = (
        sa.select(kpi.c.report_refresh_date.label("date"), kpi.c.smtp_app.label("smtp_accounts_7d"))
        .where(kpi.c.tenant == params.tenant, kpi.c.period == "D7")
        .where(kpi.c.report_refresh_date.between(params.date_from, params.date_to))
        .subquery("d7")
    )
    daily = (
        sa.select(uc.c.report_date.label("date"), uc.c.smtp_app.label("daily_smtp_users"))
        .where(uc.c.tenant == params.tenant, uc.c.report_date.between(params.date_from, params.date_to))
        .subquery("daily")
    )
    days = sa.union(sa.select(d7.c.date), sa.select(daily.c.date)).subquery("days")
    return (
        sa.select(days.c.date, d7.c.smtp_accounts_7d, daily.c.daily_smtp_users)
        .select_from(days)
        .outerjoin(d7, d7.c.date == days.c.date)
        .outerjoin(daily, daily.c.date == days.c.date)
        .order_by(days.c.date)
    )


def latest_kpi(conn: Connection, params: ReportParams) -> dict[str, Any]:
    """The newest D7 figure refreshed on or before ``date_to`` (None when the usage report never loaded)."""
    row = conn.execute(
        sa.select(kpi.c.report_refresh_date, kpi.c.smtp_app)
        .where(kpi.c.tenant == params.tenant, kpi.c.period == "D7", kpi.c.report_refresh_date <= params.date_to)
        .order_by(kpi.c.report_refresh_date.desc())
        .limit(1)
    ).first()
    if row is None:
        return {"smtp_accounts_7d": None, "as_of": None}
    return {"smtp_accounts_7d": row.smtp_app, "as_of": row.report_refresh_date.isoformat()}


def flyout(conn: Connection, d: Dialect, params: ReportParams) -> dict[str, Any]:
    """Volume and TLS of the last 7 days of the range."""
    first: date = max(params.date_from, params.date_to - timedelta(days=6))
    week = params.with_range(first, params.date_to)
    v = volume_sender_day_subquery(d, week)
    volume = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(v.c.messages), 0), sa.func.count(sa.distinct(v.c.sender_address)))
    ).one()
    t = tls_rows(d, week)
    cols = ("tls10_messages", "tls11_messages", "tls12_messages", "tls13_messages", "tls_unknown_messages")
    known = t.c.tls_source != sa.literal_column("'none'")
    sums = conn.execute(
        sa.select(
            *(sa.func.coalesce(sa.func.sum(sa.case((known, t.c[c]), else_=None)), 0) for c in cols),
            sa.func.coalesce(sa.func.sum(sa.case((known, t.c.messages), else_=None)), 0),
        )
    ).one()
    tls = dict(zip(cols, (int(x) for x in sums[:5]), strict=True))
    with_tls = int(sums[5])
    return {
        "from": first.isoformat(),
        "to": params.date_to.isoformat(),
        "messages": int(volume[0]),
        "senders": int(volume[1]),
        "messages_with_tls_data": with_tls,
        "tls": tls,
        "tls_pct": {
            k.replace("_messages", "_pct"): (round(100 * n / with_tls, 2) if with_tls else None) for k, n in tls.items()
        },
    }
