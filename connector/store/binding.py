"""A statement run as a plain ``executemany`` on SQLite: compiled once, each row bound as a positional tuple through
its column type's bind processor (the values SQLAlchemy would bind, without its per-row parameter bookkeeping, which
costs more than SQLite's own insert). Used by the store's upsert and by the rollups' writes."""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from connector.errors import StorageError

__all__ = ["SqliteStatement", "compiled_sqlite", "execute_many"]


@dataclass(frozen=True, slots=True)
class SqliteStatement:
    """A compiled SQLite upsert: its SQL, and per positional parameter the column and its bind processor."""

    sql: str
    columns: tuple[str, ...]
    processors: tuple[Any, ...]
    #: the row's values in parameter order, as one C call (a tuple even for one column)
    _values: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False, repr=False, compare=False)
    #: (position, processor) of the parameters that have one (most text columns have none on SQLite)
    _converted: tuple[tuple[int, Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        getter = itemgetter(*self.columns)
        values = getter if len(self.columns) > 1 else (lambda row: (getter(row),))
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "_converted", tuple((i, p) for i, p in enumerate(self.processors) if p is not None))

    def parameters(self, params: list[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        values, converted = self._values, self._converted
        if not converted:
            return [values(row) for row in params]
        out = []
        for row in params:
            bound = list(values(row))
            for i, p in converted:
                bound[i] = p(bound[i])
            out.append(tuple(bound))
        return out


@lru_cache(maxsize=256)
def compiled_sqlite(stmt: Executable, columns: tuple[str, ...], dialect: sa.Dialect) -> SqliteStatement:
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns))  # type: ignore[attr-defined]
    order = tuple(compiled.positiontup or ())
    binds = compiled.binds
    # every parameter of the statement is one of the row's columns (``excluded.x`` and ``IS NOT`` bind nothing)
    by_bind = {name: binds[name].key for name in order}
    if sorted(by_bind.values()) != sorted(columns):
        raise StorageError(f"cannot compile the upsert: parameters {order} do not match the columns {columns}")
    names = tuple(by_bind[name] for name in order)
    processors = tuple(_processor(binds[name].type, dialect) for name in order)
    return SqliteStatement(compiled.string, names, processors)


#: SQLAlchemy's default text format of a SQLite DATE (the one ``date.isoformat`` writes)
_SQLITE_DATE_FORMAT = "%(year)04d-%(month)02d-%(day)02d"


def _processor(type_: Any, dialect: sa.Dialect) -> Any:
    """The column type's bind processor; for a SQLite DATE in its default format, ``date.isoformat`` for a plain
    date (the same text at a third of the cost: every raw row has its UTC day) and the type's own otherwise."""
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if (
        process is None
        or dialect.name != "sqlite"
        or not isinstance(impl, sa.Date)
        or getattr(impl, "_storage_format", None) != _SQLITE_DATE_FORMAT
    ):
        return process

    def fast(value: Any) -> Any:
        return value.isoformat() if value.__class__ is date else process(value)

    return fast


@lru_cache(maxsize=256)
def _scalar_defaults(stmt: Executable, keys: tuple[str, ...]) -> dict[str, Any]:
    """Constant Python-side defaults of the inserted table's columns the rows do not carry (SQLAlchemy binds them)."""
    table = getattr(stmt, "table", None)
    if not isinstance(table, sa.Table):
        return {}
    return {
        c.key: c.default.arg
        for c in table.columns
        if c.key not in keys and not c.primary_key and c.default is not None and c.default.is_scalar
    }


def execute_many(conn: Connection, stmt: Executable, rows: Sequence[Mapping[str, Any]]) -> None:
    """``conn.execute(stmt, rows)``, as a plain ``executemany`` on SQLite. ``stmt`` should be built once (it is the
    cache key) and every row must have the same keys."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(stmt, list(rows))
        return
    keys = tuple(rows[0].keys())
    defaults = _scalar_defaults(stmt, keys)
    params: list[Mapping[str, Any]] = [{**row, **defaults} for row in rows] if defaults else list(rows)
    try:
        compiled = compiled_sqlite(stmt, tuple(params[0].keys()), conn.dialect)
    except StorageError:
        # a statement this path cannot bind positionally (a callable default): SQLAlchemy's own executemany
        conn.execute(stmt, list(rows))
        return
    conn.exec_driver_sql(compiled.sql, compiled.parameters(params))
