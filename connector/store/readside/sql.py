"""SQL building blocks shared by the read side: the tables (raw, snapshot and rollup), percentages, and the
filters of a :class:`ReportParams`. SQLAlchemy Core only: every figure is aggregated by the database, on SQLite
and PostgreSQL alike.

``Dialect.day``/``domain`` and ``tls_key``/``auth_key`` spell the derived columns' rules in SQL; the reads use the
stored columns and the rollups instead (``connector.store.derived``), these remain for checks and small tables."""

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement, ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal

from connector.store.readside.params import ReportParams
from models import (
    Coverage,
    DayRollup,
    DomainDayRollup,
    ImportedTlsAggregate,
    MailboxSmtpPosture,
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
    SyncRun,
    UsageAppsKpi,
    UsageUserCounts,
    UsageUserDetail,
)

__all__ = [
    "AUTH_KEYS",
    "TLS_KEYS",
    "Dialect",
    "auth_key",
    "cov",
    "cs",
    "ia",
    "kpi",
    "mp",
    "pct",
    "rday",
    "rdd",
    "rrd",
    "rsd",
    "rsh",
    "rsm",
    "rsnd",
    "rso",
    "rst",
    "rsw",
    "run",
    "sender_filter",
    "si",
    "tls_key",
    "tr",
    "uc",
    "ud",
]


def _t(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


cs = _t(SmtpCsReportRow)
tr = _t(MessageTrace)
si = _t(SignIn)
ud = _t(UsageUserDetail)
uc = _t(UsageUserCounts)
kpi = _t(UsageAppsKpi)
ia = _t(ImportedTlsAggregate)
mp = _t(MailboxSmtpPosture)
cov = _t(Coverage)
run = _t(SyncRun)
#: rollups
rsd = _t(SenderDayRollup)
rst = _t(SenderDayTlsRollup)
rday = _t(DayRollup)
rsnd = _t(SenderRollup)
rsh = _t(SenderHourRollup)
rsm = _t(SenderMonthRollup)
rsw = _t(SenderWeekRollup)
rrd = _t(RecipientDomainRollup)
rso = _t(SigninOriginRollup)
rdd = _t(DomainDayRollup)

#: TLS buckets of the report, in column order
TLS_KEYS = ("TLS1.0", "TLS1.1", "TLS1.2", "TLS1.3")
AUTH_KEYS = ("Basic", "OAuth", "unknown")


def _lit(text: str) -> ColumnElement[Any]:
    # constants inlined (not bound) so that an expression in SELECT equals the same one in GROUP BY on PostgreSQL
    return sa.literal_column(text)


class _CreateTempAs(Executable, ClauseElement):
    """``CREATE TEMPORARY TABLE name AS select`` with the select's values bound as parameters (both databases take
    them there), so that SQLAlchemy's compiled cache keeps one compiled statement per shape of the select."""

    __visit_name__ = "smtpauth_create_temp_as"
    inherit_cache = True
    _traverse_internals = [
        ("name", InternalTraversal.dp_string),
        ("schema", InternalTraversal.dp_string),
        ("select", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, name: str, schema: str | None, select: Any) -> None:
        self.name = name
        self.schema = schema
        self.select = select


@compiles(_CreateTempAs, "sqlite")
def _create_temp_as_sqlite(element: _CreateTempAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TABLE {element.schema}.{element.name} AS {compiler.process(element.select, **kw)}"


@compiles(_CreateTempAs, "postgresql")
def _create_temp_as_postgresql(element: _CreateTempAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} ON COMMIT DROP AS {compiler.process(element.select, **kw)}"


#: the temporary tables' Table objects by name and columns. A statement's compiled-cache key holds the Table
#: objects it reads by identity: one object per shape lets the statements over a temporary table be compiled
#: once, not once per request
_TEMP_TABLES: dict[tuple[Any, ...], sa.Table] = {}
_TEMP_TABLES_MAX = 512


def _temp_table(name: str, schema: str | None, cte: sa.CTE) -> sa.Table:
    shape = (name, schema, *((c.name, type(c.type), repr(c.type)) for c in cte.c))
    table = _TEMP_TABLES.get(shape)
    if table is None:
        if len(_TEMP_TABLES) >= _TEMP_TABLES_MAX:
            _TEMP_TABLES.clear()
        table = sa.Table(name, sa.MetaData(), *(sa.Column(c.name, c.type) for c in cte.c), schema=schema)
        table = _TEMP_TABLES.setdefault(shape, table)
    return table


class Dialect:
    """The two expressions SQLite and PostgreSQL spell differently, and the CTEs shared by the statements built
    with one object.

    With ``materialize_on`` (a connection inside a read transaction), each shared CTE is computed once into a
    temporary table of that transaction when it is first built, and the statements read the table: the per-sender
    figures that several tables of a range join are computed once for all of them, not once per statement. The
    tables go with the transaction (they are created inside it and rolled back with it). On PostgreSQL a temporary
    table is a catalog write, which the read cache does not count as a change (``connector.store.changes``); each
    is analyzed, so the statements that join it are planned on its real size.

    ``months`` (default): the per-sender figures of a range's whole calendar months are read from the sender-month
    rollup, of the whole ISO weeks of its partial months from the sender-week rollup, the rest of the range from
    the sender-day rollup, and the volume per domain and day from the domain-day rollup; False reads every
    sender-day (the same figures: the tests compare both)."""

    def __init__(self, name: str, *, materialize_on: sa.Connection | None = None, months: bool = True) -> None:
        if name not in ("sqlite", "postgresql"):
            raise ValueError(f"reports run on SQLite or PostgreSQL, not {name}")
        self.name = name
        self.months = months
        self._shared: dict[tuple[Any, ...], sa.CTE] = {}
        self._conn = materialize_on

    def shared(self, key: tuple[Any, ...], build: Callable[[], sa.CTE]) -> sa.CTE:
        """One CTE per key for the statements built with this object (one request, one report build, one
        thread): a statement that reads it twice names it once, and the database computes it once."""
        cte = self._shared.get(key)
        if cte is None:
            cte = build()
            if self._conn is not None:
                cte = self._materialize(self._conn, cte)
            self._shared[key] = cte
        return cte

    def _materialize(self, conn: sa.Connection, cte: sa.CTE) -> sa.CTE:
        name = f"smtpauth_{cte.name}_{len(self._shared)}"
        sqlite_ = conn.dialect.name == "sqlite"
        schema = "temp" if sqlite_ else None  # PostgreSQL: found first on the search path, as pg_temp always is
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {'temp' if sqlite_ else 'pg_temp'}.{name}")
        # the request's values are bound as parameters, so the statement is compiled once per shape (SQLAlchemy's
        # compiled cache), not once per request
        conn.execute(_CreateTempAs(name, schema, cte.element))
        if not sqlite_:
            conn.exec_driver_sql(f"ANALYZE pg_temp.{name}")
        return sa.select(*_temp_table(name, schema, cte).c).cte(cte.name)

    def day(self, col: ColumnElement[Any]) -> ColumnElement[Any]:
        """The UTC date of a UTCDateTime column, typed as a date."""
        if self.name == "sqlite":
            return sa.type_coerce(sa.func.date(col), sa.Date)
        return sa.cast(sa.func.timezone(_lit("'UTC'"), col), sa.Date)

    def period_start(self, col: ColumnElement[Any], period: str) -> ColumnElement[Any]:
        """The first day of the ISO week (Monday) or calendar month of a date column, typed as a date."""
        if period not in ("week", "month"):
            raise ValueError(f"no period start for {period!r}")
        if self.name == "sqlite":
            # 'weekday 1' moves forward to the next Monday (or stays on one): six days back first
            mods = ("'-6 days'", "'weekday 1'") if period == "week" else ("'start of month'",)
            return sa.type_coerce(sa.func.date(col, *map(_lit, mods)), sa.Date)
        stamp = sa.cast(col, sa.DateTime)
        return sa.cast(sa.func.date_trunc(_lit(f"'{period}'"), stamp), sa.Date)

    def period_end(self, start: ColumnElement[Any], period: str) -> ColumnElement[Any]:
        """The last day of the week or month starting on ``start`` (a :meth:`period_start`), typed as a date."""
        if period not in ("week", "month"):
            raise ValueError(f"no period end for {period!r}")
        if self.name == "sqlite":
            mods = ("'+6 days'",) if period == "week" else ("'+1 month'", "'-1 day'")
            return sa.type_coerce(sa.func.date(start, *map(_lit, mods)), sa.Date)
        step = "'6 days'" if period == "week" else "'1 month -1 day'"
        return sa.cast(start + sa.cast(_lit(step), sa.Interval), sa.Date)

    def domain(self, col: ColumnElement[Any]) -> ColumnElement[Any]:
        """The lower-cased part after the last '@', NULL for a value without '@' (a concealed name)."""
        if self.name == "sqlite":
            # rtrim(x, <every character but '@'>) keeps x up to its last '@'
            head = sa.func.rtrim(col, sa.func.replace(col, _lit("'@'"), _lit("''")))
            part = sa.func.substr(col, sa.func.length(head) + _lit("1"))
        else:
            part = sa.func.substring(col, _lit("'[^@]*$'"))
        return sa.case((col.like(_lit("'%@%'")), sa.func.lower(part)), else_=sa.null())


def _squash(col: ColumnElement[Any]) -> ColumnElement[Any]:
    squashed: ColumnElement[Any] = sa.func.lower(sa.func.coalesce(col, _lit("''")))
    for ch in (" ", ".", "_", "v"):
        squashed = sa.func.replace(squashed, _lit(f"'{ch}'"), _lit("''"))
    return squashed


def tls_key(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """``TLS1.0`` ... ``TLS1.3`` or ``unknown`` for any spelling (``TLS 1.2``, ``Tls12``, ``1.2``)."""
    squashed = _squash(col)
    whens = []
    for key in TLS_KEYS:
        digits = key[3] + key[5]
        whens.append((squashed.in_([_lit(f"'tls{digits}'"), _lit(f"'{digits}'")]), _lit(f"'{key}'")))
    return sa.case(*whens, else_=_lit("'unknown'"))


def auth_key(col: ColumnElement[Any]) -> ColumnElement[Any]:
    """``Basic``, ``OAuth`` or ``unknown`` for an auth method as Exchange or an export spells it."""
    low = sa.func.lower(sa.func.coalesce(col, _lit("''")))
    return sa.case(
        (low.like(_lit("'%oauth%'")), _lit("'OAuth'")),
        (low.like(_lit("'%basic%'")), _lit("'Basic'")),
        else_=_lit("'unknown'"),
    )


def pct(part: ColumnElement[Any], whole: ColumnElement[Any]) -> ColumnElement[Any]:
    """``100 * part / whole`` rounded to 2 decimals, NULL when ``whole`` is 0 or NULL."""
    ratio = sa.cast(_lit("100.0") * part / sa.func.nullif(whole, _lit("0")), sa.Numeric)
    return sa.cast(sa.func.round(ratio, _lit("2")), sa.Float)


def sender_filter(params: ReportParams, address: ColumnElement[Any], domain: ColumnElement[Any]) -> list[Any]:
    """WHERE clauses for ``--sender`` and ``--domain``."""
    clauses: list[Any] = []
    if params.senders:
        clauses.append(address.in_(params.senders))
    if params.domains:
        clauses.append(domain.in_(params.domains))
    return clauses
