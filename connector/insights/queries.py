"""The aggregate queries the rules rest on (SQLAlchemy Core; the database does the counting).

Each returns small rows: per account and day, per account and hour, per (IP, account, day). Daily volumes and
TLS come from the sender-day rollup; the hour profiles, recipient domains and sign-in origins read the raw rows
of the window (bounded by it, whatever the history), and a bounded sample of ids is kept as evidence.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from connector.store.readside.sql import Dialect, rsd, si, tr

__all__ = ["Window", "earliest", "failures", "hourly", "origins", "sample_ids", "tls_daily", "volume_daily"]

#: ids kept as evidence per finding
SAMPLE_IDS = 20


@dataclass(frozen=True)
class Window:
    """The judged days and the baseline before them, as UTC instants."""

    tenant: str
    baseline_start: datetime
    judged_start: datetime
    end: datetime


def _lit(text: str) -> ColumnElement[Any]:
    return sa.literal_column(text)


def hour_of(d: Dialect, col: ColumnElement[Any]) -> ColumnElement[Any]:
    if d.name == "sqlite":
        return sa.cast(sa.func.strftime(_lit("'%H'"), col), sa.Integer)
    return sa.cast(sa.extract("hour", sa.func.timezone(_lit("'UTC'"), col)), sa.Integer)


def is_weekend(d: Dialect, col: ColumnElement[Any]) -> ColumnElement[Any]:
    if d.name == "sqlite":
        dow = sa.cast(sa.func.strftime(_lit("'%w'"), col), sa.Integer)
    else:
        dow = sa.cast(sa.extract("dow", sa.func.timezone(_lit("'UTC'"), col)), sa.Integer)
    return sa.case((dow.in_([_lit("0"), _lit("6")]), _lit("1")), else_=_lit("0"))


def _msg() -> ColumnElement[Any]:
    """Distinct messages: ``count(DISTINCT coalesce(message_id, trace_id))``, written so that it reads only
    ``message_id`` (distinct ids, plus one per row without an id) and ``ix_message_trace_sender`` answers it."""
    no_id = sa.case((tr.c.message_id.is_(None), _lit("1")), else_=_lit("0"))
    return sa.func.count(sa.distinct(tr.c.message_id)) + sa.func.coalesce(sa.func.sum(no_id), _lit("0"))


def _received(d: Dialect) -> ColumnElement[Any]:
    """``received_at`` for a WHERE clause of a per-sender aggregate. On SQLite a unary ``+`` keeps the planner off
    ``ix_message_trace_time`` (whose every hit costs a read of the table row), so it scans the covering
    ``ix_message_trace_sender`` instead: several times faster over a large tenant."""
    if d.name == "sqlite":
        return sa.literal_column(f"+{tr.name}.{tr.c.received_at.name}", type_=tr.c.received_at.type)
    return tr.c.received_at


def earliest(conn: Connection, tenant: str) -> tuple[datetime | None, datetime | None]:
    """The oldest stored message-trace row and sign-in of the tenant (how far back history goes)."""
    t = conn.execute(sa.select(sa.func.min(tr.c.received_at)).where(tr.c.tenant == tenant)).scalar()
    s = conn.execute(sa.select(sa.func.min(si.c.created_at)).where(si.c.tenant == tenant)).scalar()
    return t, s


def volume_daily(conn: Connection, d: Dialect, w: Window) -> list[tuple[str, date, int]]:
    """(sender, day, distinct messages) over the baseline and the judged days, from the sender-day rollup."""
    q = sa.select(rsd.c.sender_address, rsd.c.utc_day, rsd.c.trace_messages).where(
        rsd.c.tenant == w.tenant,
        rsd.c.utc_day >= w.baseline_start.date(),
        rsd.c.utc_day <= w.end.date(),
        rsd.c.trace_rows > 0,
    )
    return [(str(a), _as_date(b), int(c)) for a, b, c in conn.execute(q)]


def hourly(conn: Connection, d: Dialect, w: Window) -> tuple[list[tuple[str, int, int, int]], list[Any]]:
    """Baseline (sender, hour, weekend, messages) and judged (sender, day, hour, weekend, messages)."""
    hour, weekend = hour_of(d, tr.c.received_at), is_weekend(d, tr.c.received_at)
    base = (
        sa.select(tr.c.sender_address, hour, weekend, _msg())
        .where(tr.c.tenant == w.tenant, _received(d) >= w.baseline_start, _received(d) < w.judged_start)
        .group_by(tr.c.sender_address, hour, weekend)
    )
    day = d.day(tr.c.received_at)
    judged = (
        sa.select(tr.c.sender_address, day, hour, weekend, _msg())
        .where(tr.c.tenant == w.tenant, _received(d) >= w.judged_start, _received(d) < w.end)
        .group_by(tr.c.sender_address, day, hour, weekend)
    )
    b = [(str(s), int(h), int(we), int(n)) for s, h, we, n in conn.execute(base)]
    j = [(str(s), _as_date(dd), int(h), int(we), int(n)) for s, dd, h, we, n in conn.execute(judged)]
    return b, j


def external_domains(
    conn: Connection, d: Dialect, w: Window
) -> tuple[dict[str, tuple[int, int]], list[tuple[str, date, int]]]:
    """Per sender (baseline messages, distinct external recipient domains in the baseline), and judged
    (sender, day, distinct external recipient domains). Internal: the domains of the tenant's own senders."""
    # the tenant's own domains, read once (the sender index covers it) instead of a subquery per use
    senders = (
        sa.select(tr.c.sender_address).where(tr.c.tenant == w.tenant, tr.c.received_at >= w.baseline_start).distinct()
    )
    own = sorted({str(a).rpartition("@")[2].lower() for a in conn.execute(senders).scalars() if a and "@" in a})
    rdom = d.domain(tr.c.recipient_address)
    ext = sa.case((sa.and_(rdom.is_not(None), rdom.not_in(own)), rdom), else_=sa.null())
    base = (
        sa.select(tr.c.sender_address, _msg(), sa.func.count(sa.distinct(ext)))
        .where(tr.c.tenant == w.tenant, tr.c.received_at >= w.baseline_start, tr.c.received_at < w.judged_start)
        .group_by(tr.c.sender_address)
    )
    day = d.day(tr.c.received_at)
    judged = (
        sa.select(tr.c.sender_address, day, sa.func.count(sa.distinct(ext)))
        .where(tr.c.tenant == w.tenant, tr.c.received_at >= w.judged_start, tr.c.received_at < w.end)
        .group_by(tr.c.sender_address, day)
    )
    b = {str(s): (int(n), int(k)) for s, n, k in conn.execute(base)}
    j = [(str(s), _as_date(dd), int(k)) for s, dd, k in conn.execute(judged)]
    return b, j


def origins(conn: Connection, w: Window) -> list[tuple[str, str | None, str | None, datetime, datetime, int, int]]:
    """Successful sign-ins per (account, IP, country): first, last, count, count in the baseline."""
    in_base = sa.case((si.c.created_at < w.judged_start, 1), else_=0)
    q = (
        sa.select(
            si.c.user_principal_name,
            si.c.ip_address,
            si.c.country,
            sa.func.min(si.c.created_at),
            sa.func.max(si.c.created_at),
            sa.func.count(),
            sa.func.sum(in_base),
        )
        .where(
            si.c.tenant == w.tenant,
            si.c.error_code == 0,
            si.c.user_principal_name.is_not(None),
            si.c.created_at >= w.baseline_start,
            si.c.created_at < w.end,
        )
        .group_by(si.c.user_principal_name, si.c.ip_address, si.c.country)
    )
    return [(str(u), ip, c, _utc(a), _utc(b), int(n), int(nb or 0)) for u, ip, c, a, b, n, nb in conn.execute(q)]


def failures(
    conn: Connection, d: Dialect, w: Window, codes: Sequence[int]
) -> list[tuple[str | None, str, date, int, int, datetime, datetime]]:
    """Failed sign-ins of the judged days per (IP, account, day, error code): count, first, last."""
    day = d.day(si.c.created_at)
    q = (
        sa.select(
            si.c.ip_address,
            si.c.user_principal_name,
            day,
            si.c.error_code,
            sa.func.count(),
            sa.func.min(si.c.created_at),
            sa.func.max(si.c.created_at),
        )
        .where(
            si.c.tenant == w.tenant,
            si.c.error_code.in_(list(codes)),
            si.c.user_principal_name.is_not(None),
            si.c.created_at >= w.judged_start,
            si.c.created_at < w.end,
        )
        .group_by(si.c.ip_address, si.c.user_principal_name, day, si.c.error_code)
    )
    return [
        (ip, str(u), _as_date(dd), int(code), int(n), _utc(a), _utc(b)) for ip, u, dd, code, n, a, b in conn.execute(q)
    ]


def tls_daily(conn: Connection, d: Dialect, w: Window) -> list[tuple[str, date, int, int, str | None]]:
    """SmtpCSReport (sender, day, messages, TLS 1.0/1.1 messages, one client IP of the legacy ones), from the
    sender-day rollup."""
    q = sa.select(
        rsd.c.sender_address,
        rsd.c.utc_day,
        rsd.c.cs_messages,
        rsd.c.cs_tls10 + rsd.c.cs_tls11,
        rsd.c.cs_legacy_client_ip,
    ).where(
        rsd.c.tenant == w.tenant,
        rsd.c.utc_day >= w.baseline_start.date(),
        rsd.c.utc_day <= w.end.date(),
        rsd.c.cs_rows > 0,
    )
    return [(str(s), _as_date(dd), int(n or 0), int(k or 0), ip) for s, dd, n, k, ip in conn.execute(q)]


def sample_ids(conn: Connection, tenant: str, sender: str, start: datetime, end: datetime) -> list[str]:
    """A few message ids of ``sender`` in ``[start, end)``: evidence a person can look up in message trace."""
    q = (
        sa.select(sa.func.coalesce(tr.c.message_id, tr.c.trace_id))
        .where(tr.c.tenant == tenant, tr.c.sender_address == sender, tr.c.received_at >= start, tr.c.received_at < end)
        .distinct()
        .limit(SAMPLE_IDS)
    )
    return sorted(str(r[0]) for r in conn.execute(q))


def sample_signins(
    conn: Connection, tenant: str, accounts: Sequence[str], ips: Sequence[str | None], *, start: datetime, end: datetime
) -> list[str]:
    """A few sign-in ids of ``accounts`` from ``ips`` in ``[start, end]``."""
    clauses = [si.c.tenant == tenant, si.c.created_at >= start, si.c.created_at <= end]
    if accounts:
        clauses.append(si.c.user_principal_name.in_(list(accounts)))
    real_ips = [ip for ip in ips if ip is not None]
    if real_ips:
        clauses.append(si.c.ip_address.in_(real_ips))
    q = sa.select(si.c.signin_id).where(*clauses).order_by(si.c.created_at).limit(SAMPLE_IDS)
    return [str(r[0]) for r in conn.execute(q)]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
