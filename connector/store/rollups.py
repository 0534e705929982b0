"""Keeping the rollups (``models/rollups.py``) equal to the raw rows, in the transaction that writes them.

Every write to ``message_trace``, ``smtp_cs_report_row`` or ``signin`` goes through the store's upsert (or, for the
sign-in-IP mark, :func:`touch`), which records the (tenant, UTC day, sender) keys it inserted or changed in the
transaction's :class:`RollupTracker`; a re-sent message-trace row or sign-in whose sender or time moved also records
the (tenant, day, sender) it leaves (:func:`moved_keys`, read before the write). Before the transaction commits
(``Store.transaction``), :func:`flush` recomputes exactly those keys from the raw rows (on SQLite one read of a
source's raw rows per day for all its rollups, through a temporary table of the connection; on PostgreSQL one
grouped query per rollup, day and chunk of senders; over the indexes the raw tables already have), then the touched
days' ``rollup_day`` and ``rollup_domain_day`` rows, the touched senders' ``rollup_sender`` rows and their months'
and weeks' ``rollup_sender_month`` and ``rollup_sender_week`` rows (every sender's, for a month or week with a day
that starts or stops resting on SmtpCSReport). Nothing is added or subtracted: every figure is recomputed from the
truth, so re-sent rows, updated rows, distinct counts and SmtpCSReport days replacing trace days stay exact. A write
outside a store transaction (a bare connection) is flushed right after its batch.

:func:`rebuild` recomputes a tenant's rollups from the raw rows day by day (bounded memory): ``smtpauth rollups
rebuild`` and the first open after the migration that created them.
"""

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from connector.store import changes
from connector.store.binding import execute_many
from connector.store.derived import TLS_KEYS, domain_of
from models import (
    DayRollup,
    DomainDayRollup,
    MessageTrace,
    RecipientDomainRollup,
    SenderDayRollup,
    SenderDayTlsRollup,
    SenderHourRollup,
    SenderMonthRollup,
    SenderRollup,
    SenderWeekRollup,
    SignIn,
    SigninOriginRollup,
    SmtpCsReportRow,
)
from models import Watermark as _Watermark

__all__ = [
    "BLOCKED_CODES",
    "NO_ERROR_CODE",
    "TRACKED_TABLES",
    "RollupTracker",
    "active_day",
    "can_move",
    "flush",
    "month_of",
    "moved_keys",
    "period_rows",
    "rebuild",
    "rebuild_if_pending",
    "touch",
    "touch_rows",
    "tracker_of",
    "week_of",
]

log = logging.getLogger(__name__)

#: AADSTS codes meaning the account itself is blocked (disabled, locked, blocked by Conditional Access)
BLOCKED_CODES = (50057, 50053, 53003)
#: ``rollup_signin_origin.error_code`` of a sign-in without an error code
NO_ERROR_CODE = -1
#: senders per recompute statement
CHUNK = 500
#: first key of the PostgreSQL advisory locks that serialize rollup recomputes per tenant
_LOCK_BASE = 0x524F4C4C  # "ROLL"
#: where a transaction's tracker lives in ``Connection.info``
_INFO_KEY = "smtpauth.rollups"


def _t(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


tr, cs, si = _t(MessageTrace), _t(SmtpCsReportRow), _t(SignIn)
rsd, rst, rday, rsnd = _t(SenderDayRollup), _t(SenderDayTlsRollup), _t(DayRollup), _t(SenderRollup)
rsh, rrd, rso = _t(SenderHourRollup), _t(RecipientDomainRollup), _t(SigninOriginRollup)
rsm, rsw, rdd = _t(SenderMonthRollup), _t(SenderWeekRollup), _t(DomainDayRollup)
_wm = _t(_Watermark)

#: raw table → the rollup source it feeds
TRACKED_TABLES = {tr.name: "trace", cs.name: "cs", si.name: "signin"}

_TRACE_COLS = ("trace_rows", "trace_messages", "trace_signin_ip_messages", "trace_hour_mask", "trace_hour_messages")
_CS_COLS = (
    "cs_rows",
    "cs_messages",
    "cs_tls10",
    "cs_tls11",
    "cs_tls12",
    "cs_tls13",
    "cs_tls_unknown",
    "cs_basic",
    "cs_oauth",
    "cs_auth_unknown",
    "cs_file_domain",
    "cs_legacy_client_ip",
)
_SIGNIN_COLS = (
    "signin_rows",
    "signins_ok",
    "signins_failed",
    "signins_blocked",
    "signin_last_at",
    "signin_ips",
    "signin_countries",
)
_COLS = {"trace": _TRACE_COLS, "cs": _CS_COLS, "signin": _SIGNIN_COLS}
_NULLABLE = {"cs_file_domain", "cs_legacy_client_ip", "signin_last_at"}


@dataclass
class RollupTracker:
    """The (tenant, day) → senders a transaction touched, per source."""

    keys: dict[str, dict[tuple[str, date], set[str]]] = field(
        default_factory=lambda: {"trace": defaultdict(set), "cs": defaultdict(set), "signin": defaultdict(set)}
    )

    def add(self, source: str, tenant: str, day: date, sender: str) -> None:
        self.keys[source][(tenant, day)].add(sender)

    def __bool__(self) -> bool:
        return any(self.keys.values())

    def clear(self) -> None:
        for by_day in self.keys.values():
            by_day.clear()


def tracker_of(conn: Connection) -> RollupTracker | None:
    tracker: RollupTracker | None = conn.info.get(_INFO_KEY)
    return tracker


def attach(conn: Connection) -> RollupTracker:
    """Start tracking the writes of ``conn``'s transaction (``Store.transaction`` does it)."""
    tracker = RollupTracker()
    conn.info[_INFO_KEY] = tracker
    return tracker


def detach(conn: Connection) -> None:
    conn.info.pop(_INFO_KEY, None)


def _signin_key(upn: str | None) -> str:
    return upn or ""


def touch_rows(conn: Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Record the rollup keys of ``rows`` (as written to ``table``, derived columns included)."""
    source = TRACKED_TABLES.get(table)
    if source is None or not rows:
        return
    tracker = tracker_of(conn)
    target = tracker if tracker is not None else RollupTracker()
    by_day = target.keys[source]
    try:
        if source == "signin":
            for row in rows:
                by_day[(row["tenant"], row["utc_day"])].add(_signin_key(row.get("user_principal_name")))
        else:
            for row in rows:
                by_day[(row["tenant"], row["utc_day"])].add(row["sender_address"])
    except KeyError as exc:
        from connector.errors import StorageError

        raise StorageError(f"rows written to {table} must carry {exc.args[0]!r}: the rollups are keyed on it") from None
    if tracker is None:
        flush(conn, target)


#: raw tables whose natural key leaves the day or the sender free to change on a re-send: table → its sender column
_MOVABLE = {tr.name: "sender_address", si.name: "user_principal_name"}


def can_move(table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Whether an upsert of ``rows`` into ``table`` could move stored rows to another day or sender (see
    :func:`moved_keys`)."""
    sender_col = _MOVABLE.get(table.name)
    return sender_col is not None and bool(rows) and sender_col in rows[0] and "utc_day" in rows[0]


def moved_keys(
    conn: Connection, table: sa.Table, key: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[str, date, str]]:
    """Before ``rows`` are upserted into ``table`` on ``key``: the (tenant, day, sender) keys of the stored rows
    they will replace whose day or sender differs. The upsert records them (:func:`touch`) after writing, so the
    rollups of the old key are recounted too (a re-sent message-trace row with another sender or time leaves its
    old sender-day)."""
    if not can_move(table, rows):
        return []
    sender_col = _MOVABLE[table.name]
    new = {tuple(r[k] for k in key): (r["utc_day"], r[sender_col]) for r in rows}
    if list(key[:1]) == ["tenant"] and len(key) == 2 and all(isinstance(k[1], str) for k in new):
        # the batch's ids as one parameter (a JSON array on SQLite, an array on PostgreSQL): no statement with
        # thousands of parameters to compile per batch
        by_tenant: dict[Any, list[Any]] = defaultdict(list)
        for k in new:
            by_tenant[k[0]].append(k[1])
        ids_param = sa.bindparam("ids", type_=sa.JSON() if conn.dialect.name == "sqlite" else sa.ARRAY(sa.String()))
        listed: ColumnElement[bool]
        if conn.dialect.name == "sqlite":
            listed = table.c[key[1]].in_(sa.select(sa.func.json_each(ids_param).table_valued("value").c.value))
        else:
            listed = table.c[key[1]] == sa.func.any(ids_param)
        stmt = sa.select(*(table.c[k] for k in key), table.c.tenant, table.c.utc_day, table.c[sender_col]).where(
            table.c.tenant == sa.bindparam("tenant"), listed
        )
        moved_fast: list[tuple[str, date, str]] = []
        for tenant_name, ids in by_tenant.items():
            for r in conn.execute(stmt, {"tenant": tenant_name, "ids": ids}):
                tenant, day, sender = r[2], r[3], r[4]
                if new.get((r[0], r[1])) != (day, sender):
                    moved_fast.append((tenant, day, _signin_key(sender) if table.name == si.name else sender))
        return moved_fast
    where = sa.tuple_(*(table.c[k] for k in key)).in_(list(new))
    moved: list[tuple[str, date, str]] = []
    found = conn.execute(
        sa.select(*(table.c[k] for k in key), table.c.tenant, table.c.utc_day, table.c[sender_col]).where(where)
    ).all()
    for r in found:
        tenant, day, sender = r[len(key)], r[len(key) + 1], r[len(key) + 2]
        if new.get(tuple(r[: len(key)])) != (day, sender):
            moved.append((tenant, day, _signin_key(sender) if table.name == si.name else sender))
    return moved


def touch(conn: Connection, table: str, keys: Iterable[tuple[str, date, str]]) -> None:
    """Record (tenant, day, sender) keys changed by a write that is not an upsert (an UPDATE)."""
    source = TRACKED_TABLES[table]
    tracker = tracker_of(conn)
    target = tracker if tracker is not None else RollupTracker()
    for tenant, day, sender in keys:
        target.add(source, tenant, day, sender)
    if tracker is None:
        flush(conn, target)


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def _chunks(items: Iterable[str], size: int | None = CHUNK) -> Iterator[list[str]]:
    """``items`` sorted, ``size`` at a time (all at once with None: SQLite's lists go as one JSON parameter)."""
    ordered = sorted(items)
    step = size or max(len(ordered), 1)
    for i in range(0, len(ordered), step):
        yield ordered[i : i + step]


def _listed(col: ColumnElement[Any], senders: list[str], *, sqlite_: bool) -> ColumnElement[bool]:
    """``col IN senders``: on SQLite the list is one JSON parameter read by ``json_each`` (no per-sender bind
    parameters, no limit on their number, one cached compiled statement whatever the count); elsewhere a list."""
    if sqlite_:
        values = sa.func.json_each(sa.bindparam(None, senders, type_=sa.JSON())).table_valued("value")
        return col.in_(sa.select(values.c.value))
    return col.in_(senders)


def _sum_if(cond: ColumnElement[bool], value: ColumnElement[Any]) -> ColumnElement[Any]:
    return sa.func.coalesce(sa.func.sum(sa.case((cond, value), else_=0)), 0)


def _hour_text(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """PostgreSQL: the UTC hour of ``col`` as two digits ('00'-'23'); SQLite's is ``strftime('%H', ...)`` in
    ``_TRACE_READ``."""
    return sa.func.to_char(sa.func.timezone(_lit("'UTC'"), col), _lit("'HH24'"), type_=sa.String)


def _trace_query(tenant: str, day: date, senders: list[str] | None) -> sa.Select[Any]:
    start, end = _bounds(day)
    msg = sa.func.coalesce(tr.c.message_id, tr.c.trace_id)
    hour = _hour_text(tr.c.received_at)
    q = sa.select(
        tr.c.sender_address.label("sender"),
        sa.func.count().label("trace_rows"),
        sa.func.count(sa.distinct(msg)).label("trace_messages"),
        sa.func.count(sa.distinct(sa.case((tr.c.from_smtp_signin_ip.is_(True), msg), else_=sa.null()))).label(
            "trace_signin_ip_messages"
        ),
        # the distinct powers of two of the hours summed: their OR (neither database has bit_or on both)
        sa.func.sum(sa.distinct(_lit("1").op("<<")(sa.cast(hour, sa.Integer)))).label("trace_hour_mask"),
        # distinct (hour, message) pairs: the hour is two characters, so the text is one pair's alone
        sa.func.count(sa.distinct(hour.concat(msg))).label("trace_hour_messages"),
    ).where(tr.c.tenant == tenant, tr.c.received_at >= start, tr.c.received_at < end)
    if senders is not None:
        q = q.where(tr.c.sender_address.in_(senders))
    return q.group_by(tr.c.sender_address)


def _cs_query(tenant: str, day: date, senders: list[str] | None) -> sa.Select[Any]:
    start, end = _bounds(day)
    n = cs.c.message_count
    legacy = cs.c.tls_bucket.in_(["TLS1.0", "TLS1.1"])
    q = sa.select(
        cs.c.sender_address.label("sender"),
        sa.func.count().label("cs_rows"),
        sa.func.coalesce(sa.func.sum(n), 0).label("cs_messages"),
        *(_sum_if(cs.c.tls_bucket == k, n).label(f"cs_tls1{k[5]}") for k in TLS_KEYS),
        _sum_if(cs.c.tls_bucket == "unknown", n).label("cs_tls_unknown"),
        _sum_if(cs.c.auth_bucket == "Basic", n).label("cs_basic"),
        _sum_if(cs.c.auth_bucket == "OAuth", n).label("cs_oauth"),
        _sum_if(cs.c.auth_bucket == "unknown", n).label("cs_auth_unknown"),
        sa.func.max(cs.c.sender_domain).label("cs_file_domain"),
        sa.func.max(sa.case((legacy, cs.c.client_ip), else_=sa.null())).label("cs_legacy_client_ip"),
    ).where(cs.c.tenant == tenant, cs.c.occurred_at >= start, cs.c.occurred_at < end)
    if senders is not None:
        q = q.where(cs.c.sender_address.in_(senders))
    return q.group_by(cs.c.sender_address)


def _signin_filter(senders: list[str]) -> ColumnElement[bool]:
    named = [s for s in senders if s]
    clauses: list[ColumnElement[bool]] = []
    if named:
        clauses.append(si.c.user_principal_name.in_(named))
    if len(named) < len(senders):
        clauses.append(si.c.user_principal_name.is_(None))
    return sa.or_(*clauses)


def _signin_query(tenant: str, day: date, senders: list[str] | None) -> sa.Select[Any]:
    start, end = _bounds(day)
    key = sa.func.coalesce(si.c.user_principal_name, "")
    q = sa.select(
        key.label("sender"),
        sa.func.count().label("signin_rows"),
        _sum_if(si.c.error_code == 0, sa.literal(1)).label("signins_ok"),
        _sum_if(si.c.error_code != 0, sa.literal(1)).label("signins_failed"),
        _sum_if(si.c.error_code.in_(BLOCKED_CODES), sa.literal(1)).label("signins_blocked"),
        sa.func.max(si.c.created_at).label("signin_last_at"),
        sa.func.count(sa.distinct(si.c.ip_address)).label("signin_ips"),
        sa.func.count(sa.distinct(si.c.country)).label("signin_countries"),
    ).where(si.c.tenant == tenant, si.c.created_at >= start, si.c.created_at < end)
    if senders is not None:
        q = q.where(_signin_filter(senders))
    return q.group_by(key)


_QUERIES = {"trace": _trace_query, "cs": _cs_query, "signin": _signin_query}


@lru_cache(maxsize=32)
def _upsert_stmt(table: sa.Table, dialect: str, key: tuple[str, ...], cols: tuple[str, ...]) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE SET cols``, built once (``execute_many`` compiles it once)."""
    ins = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return ins.on_conflict_do_update(index_elements=list(key), set_={c: ins.excluded[c] for c in cols})


_RST_INSERT = rst.insert()


def _write_source(conn: Connection, source: str, tenant: str, day: date, rows: Sequence[Mapping[str, Any]]) -> None:
    """Set ``source``'s columns of the (tenant, day, sender) rollup rows to the recomputed values."""
    if not rows:
        return
    cols = _COLS[source]
    stmt = _upsert_stmt(rsd, conn.dialect.name, ("tenant", "utc_day", "sender_address"), cols)
    execute_many(
        conn,
        stmt,
        [
            {
                "tenant": tenant,
                "utc_day": day,
                "sender_address": r["sender"],
                "sender_domain": domain_of(r["sender"]),
                **{c: r[c] if c in _NULLABLE else int(r[c] or 0) for c in cols},
            }
            for r in rows
        ],
    )


def _zero_source(conn: Connection, source: str, tenant: str, day: date, senders: list[str]) -> None:
    """Clear ``source``'s columns of rollup rows whose raw rows are gone."""
    if not senders:
        return
    values = {c: (None if c in _NULLABLE else 0) for c in _COLS[source]}
    listed = _listed(rsd.c.sender_address, senders, sqlite_=conn.dialect.name == "sqlite")
    conn.execute(rsd.update().where(rsd.c.tenant == tenant, rsd.c.utc_day == day, listed).values(**values))


def _recompute_tls(conn: Connection, tenant: str, day: date, senders: list[str] | None) -> None:
    """PostgreSQL: the TLS rollup of (tenant, day[, senders]), fetched and written back (SQLite: _recompute_cs)."""
    start, end = _bounds(day)
    delete = rst.delete().where(rst.c.tenant == tenant, rst.c.utc_day == day)
    where = [cs.c.tenant == tenant, cs.c.occurred_at >= start, cs.c.occurred_at < end]
    if senders is not None:
        delete = delete.where(rst.c.sender_address.in_(senders))
        where.append(cs.c.sender_address.in_(senders))
    conn.execute(delete)
    rows = conn.execute(
        sa.select(
            cs.c.sender_address,
            cs.c.tls_bucket,
            cs.c.auth_bucket,
            sa.func.max(cs.c.sender_domain),
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(cs.c.message_count), 0),
        )
        .where(*where)
        .group_by(cs.c.sender_address, cs.c.tls_bucket, cs.c.auth_bucket)
    ).all()
    if rows:
        execute_many(
            conn,
            _RST_INSERT,
            [
                {
                    "tenant": tenant,
                    "utc_day": day,
                    "sender_address": s,
                    "tls_bucket": tls or "unknown",
                    "auth_bucket": auth or "unknown",
                    "sender_domain": domain_of(s),
                    "cs_file_domain": fd,
                    "rows": int(n),
                    "messages": int(m),
                }
                for s, tls, auth, fd, n, m in rows
            ],
        )


def _lit(text: str) -> ColumnElement[Any]:
    # constants inlined, so that an expression in SELECT equals the same one in GROUP BY on PostgreSQL
    return sa.literal_column(text)


def _hour(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """PostgreSQL: the UTC hour of ``col`` (0-23), as the sender-day's hour mask counts it."""
    return sa.cast(_hour_text(col), sa.Integer)


def _domain(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """PostgreSQL: the lower-cased part after the last '@', NULL without '@' (SQLite's is in ``_TRACE_READ``)."""
    part = sa.func.substring(col, _lit("'[^@]*$'"))
    return sa.case((col.like(_lit("'%@%'")), sa.func.lower(part)), else_=sa.null())


@dataclass(frozen=True)
class _Slice:
    """The (tenant, day) being recomputed, and its senders (every sender with None)."""

    tenant: str
    day: date
    senders: list[str] | None


def _replace(
    conn: Connection, target: sa.Table, key: str, where: _Slice, select: sa.Select[Any], *, cols: list[str]
) -> None:
    """Delete ``target``'s rows of the slice and insert ``select``'s (tenant and day first)."""
    delete = target.delete().where(target.c.tenant == where.tenant, target.c.utc_day == where.day)
    if where.senders is not None:
        delete = delete.where(target.c[key].in_(where.senders))
    conn.execute(delete)
    conn.execute(target.insert().from_select(["tenant", "utc_day", *cols], select))


def _recompute_details(conn: Connection, source: str, tenant: str, day: date, senders: list[str] | None) -> None:
    """PostgreSQL: the insights' detail rollups of (tenant, day[, senders]): hours and recipient domains of message
    trace, origins of sign-ins (SQLite: ``_recompute_trace`` and ``_recompute_signin``)."""
    start, end = _bounds(day)
    part = _Slice(tenant, day, senders)
    consts = (sa.literal(tenant, sa.String), sa.literal(day, sa.Date))
    if source == "trace":
        where = [tr.c.tenant == tenant, tr.c.received_at >= start, tr.c.received_at < end]
        if senders is not None:
            where.append(tr.c.sender_address.in_(senders))
        msg = sa.func.count(sa.distinct(sa.func.coalesce(tr.c.message_id, tr.c.trace_id)))
        hour = _hour(tr.c.received_at)
        hours = (
            sa.select(*consts, tr.c.sender_address, hour, sa.func.count(), msg)
            .where(*where)
            .group_by(tr.c.sender_address, hour)
        )
        _replace(conn, rsh, "sender_address", part, hours, cols=["sender_address", "hour", "rows", "messages"])
        rdom = _domain(tr.c.recipient_address)
        domains = (
            sa.select(*consts, tr.c.sender_address, rdom, sa.func.count(), msg)
            .where(*where, rdom.is_not(None))
            .group_by(tr.c.sender_address, rdom)
        )
        cols = ["sender_address", "recipient_domain", "rows", "messages"]
        _replace(conn, rrd, "sender_address", part, domains, cols=cols)
    elif source == "signin":
        where = [
            si.c.tenant == tenant,
            si.c.created_at >= start,
            si.c.created_at < end,
            si.c.user_principal_name.is_not(None),
        ]
        if senders is not None:
            named = [s for s in senders if s]
            where.append(si.c.user_principal_name.in_(named))
        ip = sa.func.coalesce(si.c.ip_address, _lit("''"))
        country = sa.func.coalesce(si.c.country, _lit("''"))
        code = sa.func.coalesce(si.c.error_code, _lit(str(NO_ERROR_CODE)))
        origins = (
            sa.select(
                *consts,
                si.c.user_principal_name,
                ip,
                country,
                code,
                sa.func.count(),
                sa.func.min(si.c.created_at),
                sa.func.max(si.c.created_at),
            )
            .where(*where)
            .group_by(si.c.user_principal_name, ip, country, code)
        )
        cols = ["user_principal_name", "ip_address", "country", "error_code", "rows", "first_at", "last_at"]
        _replace(conn, rso, "user_principal_name", part, origins, cols=cols)


def _recompute(conn: Connection, source: str, tenant: str, day: date, senders: list[str] | None) -> set[str]:
    """Recompute ``source``'s columns for (tenant, day) and ``senders`` (every sender with None); return the
    senders whose rollup rows it wrote."""
    if conn.dialect.name == "sqlite":
        found = _SQLITE_RECOMPUTE[source](conn, tenant, day, senders)
        if senders is not None:
            _zero_source(conn, source, tenant, day, [s for s in senders if s not in found])
        return found
    result = conn.execute(_QUERIES[source](tenant, day, senders))
    names = list(result.keys())
    rows = [dict(zip(names, r, strict=True)) for r in result.all()]  # fetched at once, not row by row
    found = {str(r["sender"]) for r in rows}
    _write_source(conn, source, tenant, day, rows)
    if senders is not None:
        _zero_source(conn, source, tenant, day, [s for s in senders if s not in found])
    if source == "cs":
        _recompute_tls(conn, tenant, day, senders)
    else:
        _recompute_details(conn, source, tenant, day, senders)
    return found


#: SQLite: ``connector.store.derived.domain_of`` as an SQL function, so the rollup rows' sender domain is the one
#: the raw rows' derived columns get (Python's ``lower()``, not SQLite's ASCII-only one)
_DOMAIN_FN = "smtpauth_domain_of"
_DOMAIN_FN_INFO = "smtpauth.domain_of"


def _sqlite_domain_of(conn: Connection, col: ColumnElement[Any]) -> ColumnElement[Any]:
    record = conn.connection
    if not record.info.get(_DOMAIN_FN_INFO):
        dbapi: Any = record.driver_connection
        dbapi.create_function(_DOMAIN_FN, 1, domain_of, deterministic=True)
        record.info[_DOMAIN_FN_INFO] = True
    fn: ColumnElement[Any] = getattr(sa.func, _DOMAIN_FN)(col, type_=sa.String)
    return fn


#: SQLite: the TLS x auth groups of the (tenant, day[, senders]) being recomputed, read once from the raw rows and
#: summed from there into both rollups (a temporary table: the connection's own, never written to the database)
_CS_GROUPS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS smtpauth_cs_groups (sender_address TEXT NOT NULL, tls_bucket TEXT, "
    "auth_bucket TEXT, file_domain TEXT, rows INTEGER NOT NULL, messages INTEGER NOT NULL, legacy_ip TEXT)"
)
_CS_GROUPS_CLEAR = "DELETE FROM temp.smtpauth_cs_groups"
_CS_READ = (
    "INSERT INTO temp.smtpauth_cs_groups (sender_address, tls_bucket, auth_bucket, file_domain, rows, messages, "
    "legacy_ip) SELECT sender_address, tls_bucket, auth_bucket, max(sender_domain), count(*), "
    "coalesce(sum(message_count), 0), max(CASE WHEN tls_bucket IN ('TLS1.0', 'TLS1.1') THEN client_ip END) "
    "FROM smtp_cs_report_row WHERE tenant = ? AND occurred_at >= ? AND occurred_at < ?"
)
_CS_GROUPED = " GROUP BY sender_address, tls_bucket, auth_bucket"
_CS_TLS_DELETE = "DELETE FROM rollup_sender_day_tls WHERE tenant = ? AND utc_day = ?"
#: the senders' condition of a SQLite read of raw rows and of a delete of rollup rows keyed by ``sender_address``
#: (_CS_READ, _CS_TLS_DELETE, _TRACE_READ, the trace detail rollups' deletes): the list as one JSON parameter
_SENDERS_LISTED = " AND sender_address IN (SELECT value FROM json_each(?))"
_CS_TLS_WRITE = (
    "INSERT INTO rollup_sender_day_tls (tenant, utc_day, sender_address, tls_bucket, auth_bucket, sender_domain, "
    "cs_file_domain, rows, messages) SELECT ?, ?, sender_address, coalesce(nullif(tls_bucket, ''), 'unknown') "
    "AS tls_key, coalesce(nullif(auth_bucket, ''), 'unknown') AS auth_key, smtpauth_domain_of(sender_address), "
    "max(file_domain), sum(rows), sum(messages) FROM temp.smtpauth_cs_groups "
    "GROUP BY sender_address, tls_key, auth_key"
)
_CS_SENDER_DAY_WRITE = (
    "INSERT INTO rollup_sender_day (tenant, utc_day, sender_address, sender_domain, cs_rows, cs_messages, "
    "cs_tls10, cs_tls11, cs_tls12, cs_tls13, cs_tls_unknown, cs_basic, cs_oauth, cs_auth_unknown, cs_file_domain, "
    "cs_legacy_client_ip) "
    "SELECT ?, ?, sender_address, smtpauth_domain_of(sender_address), sum(rows), sum(messages), "
    "sum(CASE WHEN tls_bucket = 'TLS1.0' THEN messages ELSE 0 END), "
    "sum(CASE WHEN tls_bucket = 'TLS1.1' THEN messages ELSE 0 END), "
    "sum(CASE WHEN tls_bucket = 'TLS1.2' THEN messages ELSE 0 END), "
    "sum(CASE WHEN tls_bucket = 'TLS1.3' THEN messages ELSE 0 END), "
    "sum(CASE WHEN tls_bucket = 'unknown' THEN messages ELSE 0 END), "
    "sum(CASE WHEN auth_bucket = 'Basic' THEN messages ELSE 0 END), "
    "sum(CASE WHEN auth_bucket = 'OAuth' THEN messages ELSE 0 END), "
    "sum(CASE WHEN auth_bucket = 'unknown' THEN messages ELSE 0 END), "
    "max(file_domain), max(legacy_ip) FROM temp.smtpauth_cs_groups WHERE true GROUP BY sender_address "
    "ON CONFLICT (tenant, utc_day, sender_address) DO UPDATE SET cs_rows = excluded.cs_rows, "
    "cs_messages = excluded.cs_messages, cs_tls10 = excluded.cs_tls10, cs_tls11 = excluded.cs_tls11, "
    "cs_tls12 = excluded.cs_tls12, cs_tls13 = excluded.cs_tls13, cs_tls_unknown = excluded.cs_tls_unknown, "
    "cs_basic = excluded.cs_basic, cs_oauth = excluded.cs_oauth, cs_auth_unknown = excluded.cs_auth_unknown, "
    "cs_file_domain = excluded.cs_file_domain, cs_legacy_client_ip = excluded.cs_legacy_client_ip "
    "RETURNING sender_address"
)


def _sqlite_day_values(conn: Connection, raw_at: sa.Column[Any], day: date) -> tuple[Any, Any, Any]:
    """SQLite, for fixed SQL text run by ``exec_driver_sql``: ``day``'s bounds bound as ``raw_at``'s column type
    binds them, and ``day`` as the rollups' ``utc_day`` binds it; registers the domain function on ``conn``."""
    dialect = conn.dialect
    _sqlite_domain_of(conn, raw_at)
    start, end = _bounds(day)
    at = raw_at.type.dialect_impl(dialect).bind_processor(dialect)
    on = rsd.c.utc_day.type.dialect_impl(dialect).bind_processor(dialect)
    lo, hi = (at(start), at(end)) if at is not None else (start, end)
    return lo, hi, (on(day) if on is not None else day)


def _recompute_cs(conn: Connection, tenant: str, day: date, senders: list[str] | None) -> set[str]:
    """SQLite: the SmtpCSReport columns of ``rollup_sender_day`` and the ``rollup_sender_day_tls`` rows of (tenant,
    day[, senders]) from one read of the raw rows: their (sender, TLS bucket, auth bucket) groups go to a temporary
    table, and both rollups are summed from those groups (the same figures as ``_cs_query`` and the TLS query over
    the raw rows: counts and sums add up, maxima of maxima are maxima). Returns the senders written."""
    lo, hi, day_value = _sqlite_day_values(conn, cs.c.occurred_at, day)
    listed: tuple[Any, ...] = () if senders is None else (json.dumps(senders),)
    where = "" if senders is None else _SENDERS_LISTED
    conn.exec_driver_sql(_CS_GROUPS_DDL)
    conn.exec_driver_sql(_CS_GROUPS_CLEAR)
    conn.exec_driver_sql(_CS_READ + where + _CS_GROUPED, (tenant, lo, hi, *listed))
    conn.exec_driver_sql(_CS_TLS_DELETE + where, (tenant, day_value, *listed))
    conn.exec_driver_sql(_CS_TLS_WRITE, (tenant, day_value))
    written = conn.exec_driver_sql(_CS_SENDER_DAY_WRITE, (tenant, day_value)).scalars().all()
    conn.exec_driver_sql(_CS_GROUPS_CLEAR)
    return {str(s) for s in written}


#: SQLite: what the trace rollups need of each message-trace row of the (tenant, day[, senders]) being recomputed
#: (sender, UTC hour, message, recipient domain, sent from a sign-in IP), read once from the raw rows into a
#: temporary table of the connection, and the trace columns of ``rollup_sender_day``, ``rollup_sender_hour`` and
#: ``rollup_sender_recipient_domain`` counted from there: the figures of ``_trace_query`` and ``_recompute_details``
#: over the raw rows, whose expressions (the hour, the message ``coalesce(message_id, trace_id)``, the recipient
#: domain) are then computed once a row instead of once a rollup. Not grouped on the way in: nearly every row is a
#: group of its own (a message's recipients are in several domains), and grouping cost more than it saved.
_TRACE_ROWS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS smtpauth_trace_rows (sender_address TEXT, hour TEXT, msg TEXT, rdom TEXT, "
    "sip INTEGER)"
)
_TRACE_ROWS_CLEAR = "DELETE FROM temp.smtpauth_trace_rows"
#: the recipient domain is the lower-cased part after the last '@', NULL without '@' (``_domain``): an address with
#: one '@' is cut by ``instr``; one with more keeps what ``rtrim`` leaves when it strips every character of the
#: address but '@' from the right (exact, but at a cost of a character squared)
_TRACE_READ = (
    "INSERT INTO temp.smtpauth_trace_rows (sender_address, hour, msg, rdom, sip) "
    "SELECT sender_address, strftime('%H', received_at), coalesce(message_id, trace_id), "
    "CASE WHEN instr(recipient_address, '@') = 0 THEN NULL "
    "WHEN instr(substr(recipient_address, instr(recipient_address, '@') + 1), '@') = 0 "
    "THEN lower(substr(recipient_address, instr(recipient_address, '@') + 1)) "
    "ELSE lower(substr(recipient_address, length(rtrim(recipient_address, replace(recipient_address, '@', ''))) + 1)) "
    "END, from_smtp_signin_ip IS 1 FROM message_trace WHERE tenant = ? AND received_at >= ? AND received_at < ?"
)
_TRACE_SENDER_DAY_WRITE = (
    "INSERT INTO rollup_sender_day (tenant, utc_day, sender_address, sender_domain, trace_rows, trace_messages, "
    "trace_signin_ip_messages, trace_hour_mask, trace_hour_messages) "
    "SELECT ?, ?, sender_address, smtpauth_domain_of(sender_address), count(*), count(DISTINCT msg), "
    "count(DISTINCT CASE WHEN sip THEN msg END), sum(DISTINCT 1 << CAST(hour AS INTEGER)), "
    "count(DISTINCT hour || msg) FROM temp.smtpauth_trace_rows WHERE true GROUP BY sender_address "
    "ON CONFLICT (tenant, utc_day, sender_address) DO UPDATE SET trace_rows = excluded.trace_rows, "
    "trace_messages = excluded.trace_messages, trace_signin_ip_messages = excluded.trace_signin_ip_messages, "
    "trace_hour_mask = excluded.trace_hour_mask, trace_hour_messages = excluded.trace_hour_messages "
    "RETURNING sender_address"
)
_HOUR_DELETE = "DELETE FROM rollup_sender_hour WHERE tenant = ? AND utc_day = ?"
_HOUR_WRITE = (
    "INSERT INTO rollup_sender_hour (tenant, utc_day, sender_address, hour, rows, messages) "
    "SELECT ?, ?, sender_address, CAST(hour AS INTEGER), count(*), count(DISTINCT msg) "
    "FROM temp.smtpauth_trace_rows GROUP BY sender_address, hour"
)
_RDOM_DELETE = "DELETE FROM rollup_sender_recipient_domain WHERE tenant = ? AND utc_day = ?"
_RDOM_WRITE = (
    "INSERT INTO rollup_sender_recipient_domain (tenant, utc_day, sender_address, recipient_domain, rows, messages) "
    "SELECT ?, ?, sender_address, rdom, count(*), count(DISTINCT msg) FROM temp.smtpauth_trace_rows "
    "WHERE rdom IS NOT NULL GROUP BY sender_address, rdom"
)


def _recompute_trace(conn: Connection, tenant: str, day: date, senders: list[str] | None) -> set[str]:
    """SQLite: the message-trace columns of ``rollup_sender_day`` and the ``rollup_sender_hour`` and
    ``rollup_sender_recipient_domain`` rows of (tenant, day[, senders]) from one read of the raw rows (see
    ``_TRACE_READ``). Returns the senders written."""
    lo, hi, day_value = _sqlite_day_values(conn, tr.c.received_at, day)
    listed: tuple[Any, ...] = () if senders is None else (json.dumps(senders),)
    where = "" if senders is None else _SENDERS_LISTED
    conn.exec_driver_sql(_TRACE_ROWS_DDL)
    conn.exec_driver_sql(_TRACE_ROWS_CLEAR)
    conn.exec_driver_sql(_TRACE_READ + where, (tenant, lo, hi, *listed))
    conn.exec_driver_sql(_HOUR_DELETE + where, (tenant, day_value, *listed))
    conn.exec_driver_sql(_HOUR_WRITE, (tenant, day_value))
    conn.exec_driver_sql(_RDOM_DELETE + where, (tenant, day_value, *listed))
    conn.exec_driver_sql(_RDOM_WRITE, (tenant, day_value))
    written = conn.exec_driver_sql(_TRACE_SENDER_DAY_WRITE, (tenant, day_value)).scalars().all()
    conn.exec_driver_sql(_TRACE_ROWS_CLEAR)
    return {str(s) for s in written}


#: SQLite: the (account, IP, country, error code) groups of the sign-ins of the (tenant, day[, senders]) being
#: recomputed, read once from the raw rows (NULLs kept as they are) and summed from there into both the sign-in
#: columns of ``rollup_sender_day`` and ``rollup_signin_origin``
_SIGNIN_GROUPS_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS smtpauth_signin_groups (upn TEXT, ip TEXT, country TEXT, code INTEGER, "
    "rows INTEGER NOT NULL, first_at TEXT, last_at TEXT)"
)
_SIGNIN_GROUPS_CLEAR = "DELETE FROM temp.smtpauth_signin_groups"
_SIGNIN_READ = (
    "INSERT INTO temp.smtpauth_signin_groups (upn, ip, country, code, rows, first_at, last_at) "
    "SELECT user_principal_name, ip_address, country, error_code, count(*), min(created_at), max(created_at) "
    "FROM signin WHERE tenant = ? AND created_at >= ? AND created_at < ?"
)
#: the senders' condition of _SIGNIN_READ: the named accounts as one JSON parameter, sign-ins without one ("")
_SIGNIN_NAMED = " AND user_principal_name IN (SELECT value FROM json_each(?))"
_SIGNIN_UNNAMED = " AND user_principal_name IS NULL"
_SIGNIN_NAMED_OR_UNNAMED = (
    " AND (user_principal_name IN (SELECT value FROM json_each(?)) OR user_principal_name IS NULL)"
)
_SIGNIN_GROUPED = " GROUP BY user_principal_name, ip_address, country, error_code"
_ORIGIN_DELETE = "DELETE FROM rollup_signin_origin WHERE tenant = ? AND utc_day = ?"
_ORIGIN_LISTED = " AND user_principal_name IN (SELECT value FROM json_each(?))"
#: NO_ERROR_CODE and BLOCKED_CODES spelled in the SQL text (tests/store/test_rollups.py checks them)
_ORIGIN_WRITE = (
    "INSERT INTO rollup_signin_origin (tenant, utc_day, user_principal_name, ip_address, country, error_code, rows, "
    "first_at, last_at) SELECT ?, ?, upn, coalesce(ip, '') AS ip_key, coalesce(country, '') AS country_key, "
    "coalesce(code, -1) AS code_key, sum(rows), min(first_at), max(last_at) "
    "FROM temp.smtpauth_signin_groups WHERE upn IS NOT NULL GROUP BY upn, ip_key, country_key, code_key"
)
_SIGNIN_SENDER_DAY_WRITE = (
    "INSERT INTO rollup_sender_day (tenant, utc_day, sender_address, sender_domain, signin_rows, signins_ok, "
    "signins_failed, signins_blocked, signin_last_at, signin_ips, signin_countries) "
    "SELECT ?, ?, coalesce(upn, '') AS sender, smtpauth_domain_of(coalesce(upn, '')), sum(rows), "
    "sum(CASE WHEN code = 0 THEN rows ELSE 0 END), sum(CASE WHEN code != 0 THEN rows ELSE 0 END), "
    "sum(CASE WHEN code IN (50057, 50053, 53003) THEN rows ELSE 0 END), max(last_at), count(DISTINCT ip), "
    "count(DISTINCT country) FROM temp.smtpauth_signin_groups WHERE true GROUP BY sender "
    "ON CONFLICT (tenant, utc_day, sender_address) DO UPDATE SET signin_rows = excluded.signin_rows, "
    "signins_ok = excluded.signins_ok, signins_failed = excluded.signins_failed, "
    "signins_blocked = excluded.signins_blocked, signin_last_at = excluded.signin_last_at, "
    "signin_ips = excluded.signin_ips, signin_countries = excluded.signin_countries "
    "RETURNING sender_address"
)


def _recompute_signin(conn: Connection, tenant: str, day: date, senders: list[str] | None) -> set[str]:
    """SQLite: the sign-in columns of ``rollup_sender_day`` and the ``rollup_signin_origin`` rows of (tenant,
    day[, senders]) from one read of the raw rows: their (account, IP, country, error code) groups go to a
    temporary table, and both rollups are summed from those groups (the figures of ``_signin_query`` and of the
    origins' query over the raw rows: counts add up, distinct IPs and countries are distinct over the groups, and
    the origins' missing IP, country and code are the same placeholders). Returns the senders written (``""`` for
    sign-ins without an account)."""
    lo, hi, day_value = _sqlite_day_values(conn, si.c.created_at, day)
    read: tuple[Any, ...] = (tenant, lo, hi)
    if senders is None:
        where = origins = ""
        listed: tuple[Any, ...] = ()
    else:
        # as _signin_filter: the named accounts, and the sign-ins without one when "" is among the senders
        named = [s for s in senders if s]
        unnamed = len(named) < len(senders)
        if named:
            where = _SIGNIN_NAMED_OR_UNNAMED if unnamed else _SIGNIN_NAMED
            read += (json.dumps(named),)
        else:
            where = _SIGNIN_UNNAMED
        origins, listed = _ORIGIN_LISTED, (json.dumps(senders),)
    conn.exec_driver_sql(_SIGNIN_GROUPS_DDL)
    conn.exec_driver_sql(_SIGNIN_GROUPS_CLEAR)
    conn.exec_driver_sql(_SIGNIN_READ + where + _SIGNIN_GROUPED, read)
    conn.exec_driver_sql(_ORIGIN_DELETE + origins, (tenant, day_value, *listed))
    conn.exec_driver_sql(_ORIGIN_WRITE, (tenant, day_value))
    written = conn.exec_driver_sql(_SIGNIN_SENDER_DAY_WRITE, (tenant, day_value)).scalars().all()
    conn.exec_driver_sql(_SIGNIN_GROUPS_CLEAR)
    return {str(s) for s in written}


#: the SQLite recompute of each source: one read of its raw rows for all its rollups
_SQLITE_RECOMPUTE = {"trace": _recompute_trace, "cs": _recompute_cs, "signin": _recompute_signin}


def _is_empty() -> ColumnElement[bool]:
    return sa.and_(rsd.c.trace_rows == 0, rsd.c.cs_rows == 0, rsd.c.signin_rows == 0)


def _refresh_days(conn: Connection, days: Iterable[tuple[str, date]], now: datetime) -> set[tuple[str, date]]:
    """Recompute the ``rollup_day`` rows of ``days``; return those whose resting on SmtpCSReport changed (they had
    no SmtpCSReport rows and have some now, or the other way round)."""
    cols = ("trace_rows", "cs_rows", "signin_rows", "senders", "changed_at")
    stmt = _upsert_stmt(rday, conn.dialect.name, ("tenant", "utc_day"), cols)
    values = []
    flipped: set[tuple[str, date]] = set()
    for tenant, day in days:
        conn.execute(rsd.delete().where(rsd.c.tenant == tenant, rsd.c.utc_day == day, _is_empty()))
        before = conn.execute(
            sa.select(rday.c.cs_rows).where(rday.c.tenant == tenant, rday.c.utc_day == day)
        ).scalar_one_or_none()
        t, c, s, n = conn.execute(
            sa.select(
                sa.func.coalesce(sa.func.sum(rsd.c.trace_rows), 0),
                sa.func.coalesce(sa.func.sum(rsd.c.cs_rows), 0),
                sa.func.coalesce(sa.func.sum(rsd.c.signin_rows), 0),
                sa.func.count(),
            ).where(rsd.c.tenant == tenant, rsd.c.utc_day == day)
        ).one()
        if bool(before) != bool(c):
            flipped.add((tenant, day))
        _refresh_domain_day(conn, tenant, day)
        values.append(
            {
                "tenant": tenant,
                "utc_day": day,
                "trace_rows": int(t),
                "cs_rows": int(c),
                "signin_rows": int(s),
                "senders": int(n),
                "changed_at": now,
            }
        )
    execute_many(conn, stmt, values)
    return flipped


def _domain_parts(tenant: str, day: date) -> sa.CompoundSelect[Any]:
    """The ``rollup_domain_day`` rows (:data:`_DOMAIN_COLS`) of (tenant, day), summed from the day's sender-day
    rows."""
    consts = (sa.literal(tenant, sa.String), sa.literal(day, sa.Date))
    of_day = (rsd.c.tenant == tenant, rsd.c.utc_day == day)
    zero = _lit("0")

    def part(name: str, domain: ColumnElement[Any], messages: Any, ip: Any, *where: Any) -> sa.Select[Any]:
        has = sa.case((domain.is_(None), 0), else_=1)
        return (
            sa.select(
                *consts,
                _lit(f"'{name}'"),
                has,
                sa.func.coalesce(domain, _lit("''")),
                sa.func.count(),
                _sum_if(ip > 0, _lit("1")),
                sa.func.coalesce(sa.func.sum(messages), 0),
                sa.func.coalesce(sa.func.sum(ip), 0),
            )
            .where(*of_day, *where)
            .group_by(domain)
        )

    file_domain = sa.func.lower(rsd.c.cs_file_domain)  # as the sending-volume reads spell it
    return sa.union_all(
        part("cs", rsd.c.sender_domain, rsd.c.cs_messages, zero, rsd.c.cs_rows > 0, rsd.c.sender_domain.is_not(None)),
        part("cs_file", file_domain, rsd.c.cs_messages, zero, rsd.c.cs_rows > 0, rsd.c.sender_domain.is_(None)),
        part("trace", rsd.c.sender_domain, rsd.c.trace_messages, rsd.c.trace_signin_ip_messages, rsd.c.trace_rows > 0),
    )


_DOMAIN_COLS = ["tenant", "utc_day", "part", "has_domain", "domain", "senders", "ip_senders", "messages", "ip_messages"]


def _refresh_domain_day(conn: Connection, tenant: str, day: date) -> None:
    """Recompute the ``rollup_domain_day`` rows of (tenant, day) from its sender-day rows."""
    conn.execute(rdd.delete().where(rdd.c.tenant == tenant, rdd.c.utc_day == day))
    conn.execute(rdd.insert().from_select(_DOMAIN_COLS, _domain_parts(tenant, day)))


def _refresh_senders(conn: Connection, tenant: str, senders: Iterable[str]) -> None:
    cols = ("sender_domain", "trace_days", "cs_days", "signin_ok_days", "first_day", "last_day")
    stmt = _upsert_stmt(rsnd, conn.dialect.name, ("tenant", "sender_address"), cols)
    sqlite_ = conn.dialect.name == "sqlite"
    for chunk in _chunks(senders, None if sqlite_ else CHUNK):
        rows = conn.execute(
            sa.select(
                rsd.c.sender_address,
                sa.func.sum(sa.case((rsd.c.trace_rows > 0, 1), else_=0)),
                sa.func.sum(sa.case((rsd.c.cs_rows > 0, 1), else_=0)),
                sa.func.sum(sa.case((rsd.c.signins_ok > 0, 1), else_=0)),
                sa.func.min(rsd.c.utc_day),
                sa.func.max(rsd.c.utc_day),
            )
            .where(rsd.c.tenant == tenant, _listed(rsd.c.sender_address, chunk, sqlite_=sqlite_))
            .group_by(rsd.c.sender_address)
        ).all()
        found = {r[0] for r in rows}
        gone = [s for s in chunk if s not in found]
        if gone:
            listed = _listed(rsnd.c.sender_address, gone, sqlite_=sqlite_)
            conn.execute(rsnd.delete().where(rsnd.c.tenant == tenant, listed))
        if rows:
            execute_many(
                conn,
                stmt,
                [
                    {
                        "tenant": tenant,
                        "sender_address": s,
                        "sender_domain": domain_of(s),
                        "trace_days": int(a),
                        "cs_days": int(b),
                        "signin_ok_days": int(c),
                        "first_day": lo,
                        "last_day": hi,
                    }
                    for s, a, b, c, lo, hi in rows
                ],
            )


# --- the sender-month and sender-week rollups -----------------------------------------------------------------


def month_of(day: date) -> date:
    """The first day of ``day``'s calendar month."""
    return day.replace(day=1)


def _month_end(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def week_of(day: date) -> date:
    """The Monday of ``day``'s ISO week."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class _Period:
    """A sender-period rollup: its table, its key column, and a day's period (first and last day)."""

    table: sa.Table
    key: str
    start: Any
    end: Any


_PERIODS = (
    _Period(rsm, "month", month_of, _month_end),
    _Period(rsw, "week", week_of, lambda week: week + timedelta(days=6)),
)
_PERIOD_COLS = tuple(c.name for c in rsm.c if c.name not in ("tenant", "month", "sender_address"))


def active_day() -> ColumnElement[bool]:
    """A sender-day row with messages (message trace or SmtpCSReport) or a successful SMTP sign-in: the days the
    accounts table's ``last_active_date`` is the last of."""
    return sa.or_(rsd.c.trace_messages > 0, rsd.c.cs_messages > 0, rsd.c.signins_ok > 0)


def period_rows(
    tenant: str, first: date, last: date, senders: list[str] | None, *, sqlite_: bool = False
) -> sa.Select[Any]:
    """A sender-period rollup's columns (``rollup_sender_month``, ``rollup_sender_week``) of the tenant's days
    ``first`` to ``last`` for ``senders`` (all with None), summed from those days' ``rollup_sender_day`` rows; a day
    rests on SmtpCSReport when its ``rollup_day`` row counts any."""
    on_cs = rsd.c.cs_rows > 0
    # a day of the tenant that rests on no SmtpCSReport (no sender had SmtpCSReport rows that day)
    no_cs_day = sa.func.coalesce(rday.c.cs_rows, 0) == 0
    trace = sa.and_(no_cs_day, rsd.c.trace_messages > 0)
    trace_ip = sa.and_(no_cs_day, rsd.c.trace_signin_ip_messages > 0)
    signin = rsd.c.signin_rows > 0
    one: ColumnElement[Any] = sa.literal_column("1")

    def days(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return _sum_if(cond, one)

    def cs_sum(col: str) -> ColumnElement[Any]:
        return _sum_if(on_cs, rsd.c[col])

    query = (
        sa.select(
            rsd.c.sender_address,
            sa.func.max(rsd.c.sender_domain).label("sender_domain"),
            days(on_cs).label("cs_days"),
            *(cs_sum(c).label(c) for c in _CS_COLS if c not in ("cs_rows", *_NULLABLE)),
            sa.func.max(sa.case((on_cs, rsd.c.cs_file_domain))).label("cs_file_domain"),
            sa.func.max(
                sa.case((on_cs, sa.func.coalesce(rsd.c.sender_domain, sa.func.lower(rsd.c.cs_file_domain))))
            ).label("cs_volume_domain"),
            days(trace).label("trace_days"),
            _sum_if(trace, rsd.c.trace_messages).label("trace_messages"),
            days(trace_ip).label("trace_ip_days"),
            _sum_if(trace_ip, rsd.c.trace_signin_ip_messages).label("trace_ip_messages"),
            days(signin).label("signin_days"),
            _sum_if(signin, rsd.c.signins_ok).label("signins_ok"),
            _sum_if(signin, rsd.c.signins_failed).label("signins_failed"),
            _sum_if(signin, rsd.c.signins_blocked).label("signins_blocked"),
            sa.func.max(sa.case((signin, rsd.c.signin_last_at))).label("signin_last_at"),
            sa.func.max(sa.case((active_day(), rsd.c.utc_day))).label("last_active_day"),
        )
        .select_from(rsd.outerjoin(rday, sa.and_(rday.c.tenant == rsd.c.tenant, rday.c.utc_day == rsd.c.utc_day)))
        .where(rsd.c.tenant == tenant, rsd.c.utc_day >= first, rsd.c.utc_day <= last)
        .group_by(rsd.c.sender_address)
    )
    if senders is not None:
        query = query.where(_listed(rsd.c.sender_address, senders, sqlite_=sqlite_))
    return query


def _refresh_period(conn: Connection, period: _Period, tenant: str, start: date, senders: Iterable[str] | None) -> None:
    """Recompute (tenant, period starting on ``start``)'s rows of ``senders`` (every sender with None) from the
    sender-day rows: deleted, then inserted again from one grouped read inside the database."""
    sqlite_ = conn.dialect.name == "sqlite"
    table, key = period.table, period.table.c[period.key]
    parts: list[list[str] | None] = [None] if senders is None else list(_chunks(senders, None if sqlite_ else CHUNK))
    for part in parts:
        gone = table.delete().where(table.c.tenant == tenant, key == start)
        if part is not None:
            gone = gone.where(_listed(table.c.sender_address, part, sqlite_=sqlite_))
        conn.execute(gone)
        found = period_rows(tenant, start, period.end(start), part, sqlite_=sqlite_).subquery()
        select = sa.select(
            sa.literal(tenant, sa.String),
            sa.literal(start, sa.Date),
            found.c.sender_address,
            *(found.c[c] for c in _PERIOD_COLS),
        )
        names = ["tenant", period.key, "sender_address", *_PERIOD_COLS]
        conn.execute(table.insert().from_select(names, select))


def _refresh_periods(conn: Connection, tracker: RollupTracker, flipped: set[tuple[str, date]]) -> None:
    """The months and weeks of the keys ``tracker`` holds, for their senders; a month or week with a day in
    ``flipped`` (whose resting on SmtpCSReport changed, which decides every sender's message-trace part) for every
    sender."""
    for period in _PERIODS:
        whole: set[tuple[str, date]] = {(tenant, period.start(day)) for tenant, day in flipped}
        some: dict[tuple[str, date], set[str]] = defaultdict(set)
        for by_day in tracker.keys.values():
            for (tenant, day), names in by_day.items():
                key = (tenant, period.start(day))
                if key not in whole:
                    some[key] |= names
        for tenant, start in sorted(whole):
            _refresh_period(conn, period, tenant, start, None)
        for (tenant, start), names in sorted(some.items()):
            _refresh_period(conn, period, tenant, start, names)


def _lock(conn: Connection, tenant: str) -> None:
    """PostgreSQL: hold the tenant's rollup lock until this transaction ends."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_BASE, sa.func.hashtext(tenant))))


def flush(conn: Connection, tracker: RollupTracker, now: datetime | None = None) -> None:
    """Recompute every key ``tracker`` holds from the raw rows (in ``conn``'s transaction), then clear it."""
    if not tracker:
        return
    if conn.dialect.name == "postgresql":
        # concurrent writers of one tenant recompute one after the other, each until its commit: the later one
        # reads the rows the earlier one committed (READ COMMITTED takes a snapshot per statement). SQLite's
        # writers are serialized by BEGIN IMMEDIATE already.
        for tenant in sorted({tenant for by_day in tracker.keys.values() for tenant, _ in by_day}):
            _lock(conn, tenant)
    moment = now or datetime.now(UTC)
    days: set[tuple[str, date]] = set()
    senders: dict[str, set[str]] = defaultdict(set)
    for source, by_day in tracker.keys.items():
        for (tenant, day), names in sorted(by_day.items()):
            for chunk in _chunks(names, None if conn.dialect.name == "sqlite" else CHUNK):
                _recompute(conn, source, tenant, day, chunk)
            days.add((tenant, day))
            senders[tenant] |= names
    flipped = _refresh_days(conn, sorted(days), moment)
    for tenant, names in senders.items():
        _refresh_senders(conn, tenant, names)
    _refresh_periods(conn, tracker, flipped)
    tracker.clear()


# --- rebuild -------------------------------------------------------------------------------------------------


@dataclass
class RebuildResult:
    tenants: list[str] = field(default_factory=list)
    days: int = 0
    sender_days: int = 0


def _tenants(conn: Connection) -> list[str]:
    found: set[str] = set()
    for table in (tr, cs, si, rsd):
        found |= set(conn.execute(sa.select(table.c.tenant).distinct()).scalars())
    return sorted(found)


def _day_span(conn: Connection, tenant: str) -> tuple[date | None, date | None]:
    lows, highs = [], []
    for table in (tr, cs, si, rsd):
        lo, hi = conn.execute(
            sa.select(sa.func.min(table.c.utc_day), sa.func.max(table.c.utc_day)).where(table.c.tenant == tenant)
        ).one()
        if lo is not None:
            lows.append(lo if isinstance(lo, date) else date.fromisoformat(str(lo)))
            highs.append(hi if isinstance(hi, date) else date.fromisoformat(str(hi)))
    return (min(lows), max(highs)) if lows else (None, None)


def rebuild(
    engine: Engine,
    *,
    tenant: str | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    progress: Any = None,
) -> RebuildResult:
    """Recompute the rollups of ``tenant`` (every tenant with None) over [date_from, date_to] (every stored day
    with None) from the raw rows: one transaction per day, so memory holds one day's senders at most."""
    out = RebuildResult()
    with engine.connect() as conn:
        tenants = [tenant] if tenant else _tenants(conn)
    for name in tenants:
        with engine.connect() as conn:
            lo, hi = _day_span(conn, name)
        if lo is None or hi is None:
            continue
        first = max(lo, date_from) if date_from else lo
        last = min(hi, date_to) if date_to else hi
        out.tenants.append(name)
        touched: set[str] = set()
        day = first
        while day <= last:
            with engine.begin() as conn:
                _lock(conn, name)
                before = set(
                    conn.execute(
                        sa.select(rsd.c.sender_address).where(rsd.c.tenant == name, rsd.c.utc_day == day)
                    ).scalars()
                )
                conn.execute(rsd.delete().where(rsd.c.tenant == name, rsd.c.utc_day == day))
                conn.execute(rst.delete().where(rst.c.tenant == name, rst.c.utc_day == day))
                now_found: set[str] = set()
                for source in ("trace", "cs", "signin"):
                    now_found |= _recompute(conn, source, name, day, None)
                _refresh_days(conn, [(name, day)], datetime.now(UTC))
                if not now_found:
                    conn.execute(rday.delete().where(rday.c.tenant == name, rday.c.utc_day == day))
                touched |= before | now_found
                out.days += 1
                out.sender_days += len(now_found)
                changes.record(conn)
            if progress is not None:
                progress(name, day)
            day += timedelta(days=1)
        with engine.begin() as conn:
            _lock(conn, name)
            _refresh_senders(conn, name, touched)
            for period in _PERIODS:
                start = period.start(first)
                while start <= last:
                    _refresh_period(conn, period, name, start, None)
                    start = period.end(start) + timedelta(days=1)
            changes.record(conn)
    return out


def rebuild_if_pending(engine: Engine) -> bool:
    """Build the rollups once after the migration that created them asked for it; True if it ran."""
    where = sa.and_(_wm.c.tenant == "*", _wm.c.source == "rollups", _wm.c.key == "rebuild")
    with engine.connect() as conn:
        pending = conn.execute(sa.select(_wm.c.value).where(where)).scalar_one_or_none()
    if pending is None:
        return False
    log.info("building the rollups from the stored rows (once, after the upgrade)")
    rebuild(engine)
    with engine.begin() as conn:
        conn.execute(_wm.delete().where(where))
        changes.record(conn)
    return True
