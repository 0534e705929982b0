"""The aggregate queries the rules rest on (SQLAlchemy Core; the database does the counting).

Each returns small rows: per account and day, per account and hour, per (IP, account, day). Daily volumes, TLS and
the baseline hour profiles come from the sender-day rollup; the judged hours, recipient domains and sign-in origins
from their own rollups (bounded by the window, whatever the history), and a bounded sample of ids is kept as
evidence.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement

from connector.store.readside.sql import Dialect, rrd, rsd, rsh, rso, si, tr

__all__ = [
    "SenderDay",
    "Window",
    "earliest",
    "failures",
    "hourly",
    "origins",
    "sample_ids",
    "sample_ids_many",
    "sender_days",
    "tls_daily",
    "volume_daily",
]

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


def earliest(conn: Connection, tenant: str) -> tuple[datetime | None, datetime | None]:
    """The oldest stored message-trace row and sign-in of the tenant (how far back history goes)."""
    t = conn.execute(sa.select(sa.func.min(tr.c.received_at)).where(tr.c.tenant == tenant)).scalar()
    s = conn.execute(sa.select(sa.func.min(si.c.created_at)).where(si.c.tenant == tenant)).scalar()
    return t, s


@dataclass(frozen=True)
class SenderDay:
    """What the rules read of one sender-day rollup row."""

    sender: str
    day: date
    domain: str | None
    trace_rows: int
    trace_messages: int
    cs_rows: int
    cs_messages: int
    #: SmtpCSReport messages over TLS 1.0/1.1, and one client IP of them
    cs_legacy: int
    cs_legacy_ip: str | None
    #: the UTC hours with message trace (bit ``h`` for hour ``h``), and the distinct messages of each hour summed
    hour_mask: int = 0
    hour_messages: int = 0


def sender_days(conn: Connection, w: Window) -> list[SenderDay]:
    """The sender-day rollup rows of the baseline and the judged days with message trace or SmtpCSReport rows: one
    read for :func:`volume_daily`, :func:`external_domains` and :func:`tls_daily`."""
    q = sa.select(
        rsd.c.sender_address,
        rsd.c.utc_day,
        rsd.c.sender_domain,
        rsd.c.trace_rows,
        rsd.c.trace_messages,
        rsd.c.cs_rows,
        rsd.c.cs_messages,
        rsd.c.cs_tls10 + rsd.c.cs_tls11,
        rsd.c.cs_legacy_client_ip,
        rsd.c.trace_hour_mask,
        rsd.c.trace_hour_messages,
    ).where(
        rsd.c.tenant == w.tenant,
        rsd.c.utc_day >= w.baseline_start.date(),
        rsd.c.utc_day <= w.end.date(),
        sa.or_(rsd.c.trace_rows > 0, rsd.c.cs_rows > 0),
    )
    return [
        SenderDay(str(s), _as_date(dd), dom, int(tr_), int(t_n), int(c_rows), int(c_n or 0), int(k or 0), ip, m, h)
        for s, dd, dom, tr_, t_n, c_rows, c_n, k, ip, m, h in conn.execute(q)
    ]


def volume_daily(days: Sequence[SenderDay]) -> list[tuple[str, date, int]]:
    """(sender, day, distinct messages) over the baseline and the judged days, from the sender-day rollup."""
    return [(r.sender, r.day, r.trace_messages) for r in days if r.trace_rows > 0]


def hourly(
    conn: Connection, w: Window, days: Sequence[SenderDay]
) -> tuple[dict[str, tuple[frozenset[int], int, int]], list[tuple[str, date, int, int, int]]]:
    """Baseline hour profile per sender (the UTC hours it sent in, its messages, its weekend messages), folded from
    the baseline's sender-day rows (:func:`sender_days`: the hours as a bit mask and their messages), and judged
    (sender, day, hour, weekend, messages) from the sender-hour rollup."""
    judged_first = w.judged_start.date()
    masks: dict[str, int] = {}
    totals: dict[str, int] = {}
    weekends: dict[str, int] = {}
    for r in days:
        if r.day >= judged_first or r.trace_rows == 0:
            continue
        masks[r.sender] = masks.get(r.sender, 0) | r.hour_mask
        totals[r.sender] = totals.get(r.sender, 0) + r.hour_messages
        on_weekend = r.hour_messages if r.day.weekday() >= 5 else 0
        weekends[r.sender] = weekends.get(r.sender, 0) + on_weekend
    b = {s: (frozenset(h for h in range(24) if m >> h & 1), totals[s], weekends[s]) for s, m in masks.items()}
    judged = sa.select(rsh.c.sender_address, rsh.c.utc_day, rsh.c.hour, rsh.c.messages).where(
        rsh.c.tenant == w.tenant, rsh.c.utc_day >= judged_first, rsh.c.utc_day <= w.end.date()
    )
    j = []
    for s, dd, h, n in conn.execute(judged):
        day = _as_date(dd)
        j.append((str(s), day, int(h), 1 if day.weekday() >= 5 else 0, int(n)))
    return b, j


def external_domains(
    conn: Connection, w: Window, days: Sequence[SenderDay]
) -> tuple[dict[str, tuple[int, int]], list[tuple[str, date, int]]]:
    """Per sender (baseline messages, distinct external recipient domains in the baseline), and judged
    (sender, day, distinct external recipient domains). Internal: the domains of the tenant's own senders since
    the baseline started. From the sender-day and recipient-domain rollups."""
    first, judged_first, last = w.baseline_start.date(), w.judged_start.date(), w.end.date()
    traced = [r for r in days if r.trace_rows > 0]
    own = sorted({str(r.domain) for r in traced if r.domain is not None})
    ext = sa.and_(rrd.c.tenant == w.tenant, rrd.c.recipient_domain.not_in(own))
    base_q = (
        sa.select(rrd.c.sender_address, sa.func.count(sa.distinct(rrd.c.recipient_domain)))
        .where(ext, rrd.c.utc_day >= first, rrd.c.utc_day < judged_first)
        .group_by(rrd.c.sender_address)
    )
    judged_q = (
        sa.select(rrd.c.sender_address, rrd.c.utc_day, sa.func.count())
        .where(ext, rrd.c.utc_day >= judged_first, rrd.c.utc_day <= last)
        .group_by(rrd.c.sender_address, rrd.c.utc_day)
    )
    base_domains = {str(s): int(k) for s, k in conn.execute(base_q)}
    judged_domains = {(str(s), _as_date(dd)): int(k) for s, dd, k in conn.execute(judged_q)}
    messages: dict[str, int] = {}
    judged: list[tuple[str, date, int]] = []
    for r in traced:
        if r.day < judged_first:
            messages[r.sender] = messages.get(r.sender, 0) + r.trace_messages
        else:
            judged.append((r.sender, r.day, judged_domains.get((r.sender, r.day), 0)))
    b = {s: (n, base_domains.get(s, 0)) for s, n in messages.items()}
    return b, judged


def origins(conn: Connection, w: Window) -> list[tuple[str, str | None, str | None, datetime, datetime, int, int]]:
    """Successful sign-ins per (account, IP, country): first, last, count, count in the baseline; from the
    sign-in origin rollup."""
    in_base = sa.case((rso.c.utc_day < w.judged_start.date(), rso.c.rows), else_=0)
    q = (
        sa.select(
            rso.c.user_principal_name,
            rso.c.ip_address,
            rso.c.country,
            sa.func.min(rso.c.first_at),
            sa.func.max(rso.c.last_at),
            sa.func.sum(rso.c.rows),
            sa.func.sum(in_base),
        )
        .where(
            rso.c.tenant == w.tenant,
            rso.c.error_code == 0,
            rso.c.utc_day >= w.baseline_start.date(),
            rso.c.utc_day <= w.end.date(),
        )
        .group_by(rso.c.user_principal_name, rso.c.ip_address, rso.c.country)
    )
    return [
        (str(u), ip or None, c or None, _utc(a), _utc(b), int(n), int(nb or 0))
        for u, ip, c, a, b, n, nb in conn.execute(q)
    ]


def failures(
    conn: Connection, d: Dialect, w: Window, codes: Sequence[int]
) -> list[tuple[str | None, str, date, int, int, datetime, datetime]]:
    """Failed sign-ins of the judged days per (IP, account, day, error code): count, first, last; from the
    sign-in origin rollup."""
    q = (
        sa.select(
            rso.c.ip_address,
            rso.c.user_principal_name,
            rso.c.utc_day,
            rso.c.error_code,
            sa.func.sum(rso.c.rows),
            sa.func.min(rso.c.first_at),
            sa.func.max(rso.c.last_at),
        )
        .where(
            rso.c.tenant == w.tenant,
            rso.c.error_code.in_(list(codes)),
            rso.c.utc_day >= w.judged_start.date(),
            rso.c.utc_day <= w.end.date(),
        )
        .group_by(rso.c.ip_address, rso.c.user_principal_name, rso.c.utc_day, rso.c.error_code)
    )
    return [
        (ip or None, str(u), _as_date(dd), int(code), int(n), _utc(a), _utc(b))
        for ip, u, dd, code, n, a, b in conn.execute(q)
    ]


def tls_daily(days: Sequence[SenderDay]) -> list[tuple[str, date, int, int, str | None]]:
    """SmtpCSReport (sender, day, messages, TLS 1.0/1.1 messages, one client IP of the legacy ones), from the
    sender-day rollup."""
    return [(r.sender, r.day, r.cs_messages, r.cs_legacy, r.cs_legacy_ip) for r in days if r.cs_rows > 0]


#: one statement for every candidate's sample (built once: hundreds of candidates cost hundreds of executions only)
_SAMPLE_IDS = (
    sa.select(sa.func.coalesce(tr.c.message_id, tr.c.trace_id))
    .where(
        tr.c.tenant == sa.bindparam("tenant"),
        tr.c.sender_address == sa.bindparam("sender"),
        tr.c.received_at >= sa.bindparam("start", type_=tr.c.received_at.type),
        tr.c.received_at < sa.bindparam("end", type_=tr.c.received_at.type),
    )
    .distinct()
    .limit(SAMPLE_IDS)
)
#: PostgreSQL: the same rows, with the window spelled as (sender, time) bounds that only the (tenant, sender, time)
#: index can use. The window is usually the day a sync just stored, past the range the planner's statistics know
#: (they are refreshed after a tenth of the table has changed: weeks of nightly syncs), so with the plain bounds it
#: estimates one row and reads the whole day of every sender on the (tenant, time) index for each candidate
#: (EXPLAIN ANALYZE, 300,000-user tenant: 114,476 rows filtered, ~200 ms a candidate, 60 s for 929). Ordered, so
#: that which ids a sender with more than SAMPLE_IDS messages shows no longer depends on the plan: the smallest.
_SAMPLE_IDS_PG = (
    sa.select(sa.func.coalesce(tr.c.message_id, tr.c.trace_id).label("id"))
    .where(
        tr.c.tenant == sa.bindparam("tenant"),
        tr.c.sender_address == sa.bindparam("sender"),
        sa.tuple_(tr.c.sender_address, tr.c.received_at)
        >= sa.tuple_(sa.bindparam("sender"), sa.bindparam("start", type_=tr.c.received_at.type)),
        sa.tuple_(tr.c.sender_address, tr.c.received_at)
        < sa.tuple_(sa.bindparam("sender"), sa.bindparam("end", type_=tr.c.received_at.type)),
    )
    .distinct()
    .order_by(sa.column("id"))
    .limit(SAMPLE_IDS)
)


def sample_ids(conn: Connection, tenant: str, sender: str, start: datetime, end: datetime) -> list[str]:
    """A few message ids of ``sender`` in ``[start, end)``: evidence a person can look up in message trace."""
    query = _SAMPLE_IDS_PG if conn.dialect.name == "postgresql" else _SAMPLE_IDS
    found = conn.execute(query, {"tenant": tenant, "sender": sender, "start": start, "end": end})
    return sorted(str(r[0]) for r in found)


#: windows per statement of :func:`sample_ids_many` on PostgreSQL
SAMPLE_BATCH = 500


def _sample_ids_pg_many() -> sa.Select[Any]:
    """The windows as arrays (``senders``, ``starts``, ``ends``), one row per window numbered from 1 (``n``), and
    each window's ids by the same bounded, ordered read as ``_SAMPLE_IDS_PG``, in a LATERAL join. Parameters, not
    a VALUES list: the statement is compiled once, whatever the number of windows."""
    stamp = tr.c.received_at.type
    w = (
        sa.func.unnest(
            sa.bindparam("senders", type_=postgresql.ARRAY(sa.String())),
            sa.bindparam("starts", type_=postgresql.ARRAY(stamp)),
            sa.bindparam("ends", type_=postgresql.ARRAY(stamp)),
        )
        .table_valued(
            sa.column("sender", sa.String()),
            sa.column("w_start", stamp),
            sa.column("w_end", stamp),
            with_ordinality="n",
            name="w",
        )
        .render_derived()
    )
    ids = (
        sa.select(sa.func.coalesce(tr.c.message_id, tr.c.trace_id).label("id"))
        .where(
            tr.c.tenant == sa.bindparam("tenant"),
            tr.c.sender_address == w.c.sender,
            sa.tuple_(tr.c.sender_address, tr.c.received_at) >= sa.tuple_(w.c.sender, w.c.w_start),
            sa.tuple_(tr.c.sender_address, tr.c.received_at) < sa.tuple_(w.c.sender, w.c.w_end),
        )
        .distinct()
        .order_by(sa.column("id"))
        .limit(SAMPLE_IDS)
        .lateral("ids")
    )
    return sa.select(w.c.n, ids.c.id).select_from(w.join(ids, sa.true()))


_SAMPLE_IDS_PG_MANY = _sample_ids_pg_many()

#: PostgreSQL: windows sharing one span (most findings of a nightly run judge the day just stored) that many
#: senders or more are read together, in one pass over the span's rows (:data:`_SAMPLE_IDS_PG_SPAN`)
SPAN_READ_MIN = 50


def _sample_ids_pg_span() -> sa.Select[Any]:
    """Every sender's smallest SAMPLE_IDS distinct ids in one span (``start``, ``end``): one read of the span's rows
    in time order, where the windows one by one read each sender's rows on as many table pages as they are rows
    (the rows of a day are stored in the order they arrived, every sender's spread over the whole day)."""
    ids = (
        sa.select(tr.c.sender_address, sa.func.coalesce(tr.c.message_id, tr.c.trace_id).label("id"))
        .where(
            tr.c.tenant == sa.bindparam("tenant"),
            tr.c.received_at >= sa.bindparam("start", type_=tr.c.received_at.type),
            tr.c.received_at < sa.bindparam("end", type_=tr.c.received_at.type),
        )
        .distinct()
        .subquery("ids")
    )
    rank = sa.func.row_number().over(partition_by=ids.c.sender_address, order_by=ids.c.id)
    ranked = sa.select(ids.c.sender_address, ids.c.id, rank.label("n")).subquery("ranked")
    return sa.select(ranked.c.sender_address, ranked.c.id).where(ranked.c.n <= SAMPLE_IDS)


_SAMPLE_IDS_PG_SPAN = _sample_ids_pg_span()


def sample_ids_many(
    conn: Connection, tenant: str, windows: Sequence[tuple[str, datetime, datetime]]
) -> dict[tuple[str, datetime, datetime], list[str]]:
    """:func:`sample_ids` of each (sender, start, end). PostgreSQL: the windows of a span shared by SPAN_READ_MIN
    senders or more in one read of the span; the others one statement per SAMPLE_BATCH windows, not one round trip
    per candidate."""
    unique = list(dict.fromkeys(windows))
    if conn.dialect.name != "postgresql":
        return {w: sample_ids(conn, tenant, *w) for w in unique}
    found: dict[tuple[str, datetime, datetime], list[str]] = {w: [] for w in unique}
    spans: dict[tuple[datetime, datetime], set[str]] = defaultdict(set)
    for sender, start, end in unique:
        spans[(start, end)].add(sender)
    alone = []
    for (start, end), senders in spans.items():
        if len(senders) < SPAN_READ_MIN:
            alone += [(sender, start, end) for sender in senders]
            continue
        for sender, value in conn.execute(_SAMPLE_IDS_PG_SPAN, {"tenant": tenant, "start": start, "end": end}):
            if sender in senders:
                found[(sender, start, end)].append(str(value))
    for i in range(0, len(alone), SAMPLE_BATCH):
        chunk = alone[i : i + SAMPLE_BATCH]
        arrays = {
            "tenant": tenant,
            "senders": [sender for sender, _, _ in chunk],
            "starts": [start for _, start, _ in chunk],
            "ends": [end for _, _, end in chunk],
        }
        for n, value in conn.execute(_SAMPLE_IDS_PG_MANY, arrays):
            found[chunk[n - 1]].append(str(value))
    return {key: sorted(values) for key, values in found.items()}


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
