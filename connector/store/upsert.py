"""Idempotent batched upserts on natural keys, with honest counts, on SQLite and PostgreSQL.

One statement per batch: ``INSERT ... ON CONFLICT (key) DO UPDATE SET <other columns> WHERE <any column
differs>``. The ``WHERE`` makes a repeated load a no-op, so a second identical upsert reports 0 inserted and 0
updated and touches nothing.

Counting without per-row round trips:

- PostgreSQL: ``RETURNING (xmax = 0)``: only inserted and updated rows come back, and ``xmax`` is 0 exactly
  for freshly inserted tuples. The batch goes as one array parameter per column, inserted from ``unnest(...)``:
  one short statement whatever the batch size. (A multi-row ``VALUES`` list has a placeholder per value, which
  the driver parses again for every batch: 0.1 s of CPU per 1,000 message-trace rows, most of a sync's write.)
  The arrays go in psycopg's binary format: no text quoting of every element, no parsing of it by the server.
- SQLite: ``total_changes()`` before and after the batch gives inserted + updated; inserted rows are the
  rows whose rowid is above the table's ``max(rowid)`` before the batch (new rowids are allocated above the
  maximum, and the ``BEGIN IMMEDIATE`` write lock keeps other writers out meanwhile). Both are index lookups,
  so the batch itself runs as a plain ``executemany``.

On SQLite the statement is compiled once per (table, columns) and the batch goes to the driver as positional
tuples, each value passed through its column type's bind processor: the same values SQLAlchemy would bind,
without its per-row parameter bookkeeping (which costs more than SQLite's own insert).

Rows of ``message_trace``, ``smtp_cs_report_row`` and ``signin`` get their derived columns here
(``connector.store.derived``), and a batch that inserted or changed rows records its rollup keys in the
transaction (``connector.store.rollups``): every writer keeps the rollups exact without knowing of them. A stored
message-trace row or sign-in that a batch moves to another day or sender leaves its old rollup key too: a batch that
updated rows is undone and run again once their old keys are read; a batch of new or unchanged rows is not looked
up (:func:`_run_tracking_moves`).

Columns are the keys of the row dicts: a column absent from the rows is neither written nor compared, so a
re-sync does not erase a column filled in later by another job (e.g. ``message_trace.from_smtp_signin_ip``).
"""

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice
from operator import itemgetter
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from connector.errors import StorageError
from connector.store import rollups
from connector.store.binding import SqliteStatement, compiled_sqlite
from connector.store.derived import derive

__all__ = ["DEFAULT_BATCH_SIZE", "UpsertResult", "upsert"]

DEFAULT_BATCH_SIZE = 2000


@dataclass(frozen=True, slots=True)
class UpsertResult:
    """What an upsert did. ``duplicates``: rows replaced by a later row with the same key in their batch."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0

    @property
    def seen(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.duplicates

    def __add__(self, other: "UpsertResult") -> "UpsertResult":
        return UpsertResult(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
            self.duplicates + other.duplicates,
        )


def upsert(
    target: Connection | Session,
    model: Any,
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str],
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> UpsertResult:
    """Insert or update ``rows`` of ``model`` (a SQLModel table class or a ``Table``) on the natural ``key``.

    Runs in the caller's transaction (no commit). ``rows`` is consumed lazily, ``batch_size`` at a time.
    Within a batch the last row of a key wins (PostgreSQL refuses a batch touching one row twice). Every row
    of a batch must have the same columns and must not carry the surrogate primary key.

    Raises StorageError when ``key`` is not a unique constraint of the table, rows are malformed, or the
    database refuses the write.
    """
    table = _table_of(model)
    key = tuple(key)
    _check_key(table, key)
    conn = target.connection() if isinstance(target, Session) else target
    dialect = conn.dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise StorageError(f"upsert supports SQLite and PostgreSQL, not {dialect}")
    total = UpsertResult()
    tracked = table.name in rollups.TRACKED_TABLES
    if tracked:
        rows = (derive(table.name, row) for row in rows)
    for batch in _batches(rows, batch_size):
        params, duplicates = _dedupe(batch, key)
        columns = _columns_of(table, params)
        try:
            if tracked and rollups.can_move(table, params):
                result, moved = _run_tracking_moves(conn, table, columns, key, params)
            else:
                result, moved = _run_batch(conn, table, columns, key, params), []
        except SQLAlchemyError as exc:
            detail = getattr(exc, "orig", None) or exc
            raise StorageError(f"upsert into {table.name} failed ({type(exc).__name__}): {detail}") from exc
        total = total + result + UpsertResult(duplicates=duplicates)
        if tracked and result.inserted + result.updated:
            # the batch changed rows: their (tenant, day, sender) rollups are recomputed before the commit
            rollups.touch_rows(conn, table.name, params)
        if moved:
            rollups.touch(conn, table.name, moved)
    return total


def _run_batch(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...], params: list[Mapping[str, Any]]
) -> UpsertResult:
    if conn.dialect.name == "postgresql":
        return _run_postgresql(conn, table, columns, key, params)
    stmt = compiled_sqlite(_statement(table, columns, key, "sqlite"), columns, conn.dialect)
    return _run_sqlite(conn, table, stmt, params)


def _run_tracking_moves(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...], params: list[Mapping[str, Any]]
) -> tuple[UpsertResult, list[tuple[str, Any, str]]]:
    """Run the batch, and return with its result the stored rows' old (tenant, day, sender) keys it moved.

    A stored row is moved only by an update (an unchanged row keeps its day and sender), and most batches update
    nothing: a first sync's rows are new, a re-sent page's are unchanged. So the batch runs first in a savepoint;
    only when it updated rows is it undone, the old keys read (``rollups.moved_keys``), and the batch run again.
    A first sync no longer looks every row up before writing it (a tenth of a message-trace sync's time).
    """
    savepoint = conn.begin_nested()
    try:
        result = _run_batch(conn, table, columns, key, params)
    except BaseException:
        savepoint.rollback()
        raise
    if not result.updated:
        savepoint.commit()
        return result, []
    savepoint.rollback()
    moved = rollups.moved_keys(conn, table, key, params)
    return _run_batch(conn, table, columns, key, params), moved


def _table_of(model: Any) -> sa.Table:
    table = model if isinstance(model, sa.Table) else getattr(model, "__table__", None)
    if not isinstance(table, sa.Table):
        raise StorageError(f"{model!r} is not a table model")
    return table


def _check_key(table: sa.Table, key: tuple[str, ...]) -> None:
    wanted = set(key)
    for constraint in table.constraints:
        if (
            isinstance(constraint, sa.UniqueConstraint | sa.PrimaryKeyConstraint)
            and {c.name for c in constraint.columns} == wanted
        ):
            return
    for index in table.indexes:
        if index.unique and {c.name for c in index.columns} == wanted:
            return
    raise StorageError(f"{table.name} has no unique constraint on ({', '.join(key)}): cannot upsert on it")


def _batches(rows: Iterable[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    if size < 1:
        raise StorageError("batch_size must be at least 1")
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def _dedupe(batch: list[Mapping[str, Any]], key: tuple[str, ...]) -> tuple[list[Mapping[str, Any]], int]:
    latest: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    # the key's values in one C call (a tuple even for a key of one column)
    key_of = itemgetter(*key) if len(key) > 1 else (lambda row: (row[key[0]],))
    try:
        for row in batch:
            latest[key_of(row)] = row
    except KeyError as exc:
        raise StorageError(f"a row lacks the key column {exc.args[0]!r}") from None
    return list(latest.values()), len(batch) - len(latest)


def _columns_of(table: sa.Table, params: list[Mapping[str, Any]]) -> tuple[str, ...]:
    first = params[0].keys()
    for row in params:
        if row.keys() != first:
            raise StorageError(
                f"rows for {table.name} have different columns ({sorted(first)} vs {sorted(row.keys())})"
            )
    unknown = [c for c in first if c not in table.c]
    if unknown:
        raise StorageError(f"{table.name} has no column {', '.join(sorted(unknown))}")
    pk = [c for c in first if table.c[c].primary_key]
    if pk:
        raise StorageError(f"rows for {table.name} must not set the surrogate key {pk[0]!r}")
    return tuple(first)


@lru_cache(maxsize=256)
def _statement(table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...], dialect: str) -> Insert:
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    return _on_conflict(insert, table, columns, key, dialect)


@lru_cache(maxsize=256)
def _pg_statement(table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...]) -> Insert:
    """``INSERT INTO table (columns) SELECT * FROM unnest(<one array per column>) ON CONFLICT ...``: the values as
    one array parameter per column (named as the column), typed by the column."""
    arrays = [sa.bindparam(c, type_=postgresql.ARRAY(table.c[c].type)) for c in columns]
    batch = (
        sa.func.unnest(*arrays)
        .table_valued(*(sa.column(c, table.c[c].type) for c in columns), name="batch")
        .render_derived()
    )
    insert = postgresql.insert(table).from_select(list(columns), sa.select(*(batch.c[c] for c in columns)))
    return _on_conflict(insert, table, columns, key, "postgresql")


def _on_conflict(
    insert: postgresql.Insert | sqlite.Insert,
    table: sa.Table,
    columns: tuple[str, ...],
    key: tuple[str, ...],
    dialect: str,
) -> Insert:
    others = [c for c in columns if c not in key]
    if not others:
        stmt = insert.on_conflict_do_nothing(index_elements=list(key))
    else:
        stmt = insert.on_conflict_do_update(
            index_elements=list(key),
            set_={c: insert.excluded[c] for c in others},
            where=sa.or_(*[table.c[c].is_distinct_from(insert.excluded[c]) for c in others]),
        )
    if dialect == "postgresql":
        # xmax is 0 for a tuple this statement inserted, the updating transaction's id otherwise
        return stmt.returning(sa.literal_column("(xmax = 0)", sa.Boolean()).label("inserted"))
    return stmt


@dataclass(frozen=True, slots=True)
class _PgBinary:
    """:func:`_pg_statement` compiled for a PostgreSQL dialect, every array placeholder binary (``%(name)b``), and
    the bind processor of each array (None: the values go as they are)."""

    sql: str
    processors: tuple[tuple[str, Callable[[Any], Any] | None], ...]


@lru_cache(maxsize=256)
def _pg_binary(table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...], dialect: Dialect) -> _PgBinary:
    compiled = _pg_statement(table, columns, key).compile(dialect=dialect)
    sql = compiled.string
    processors = []
    for c in columns:
        placeholder = f"%({c})s"
        if sql.count(placeholder) != 1:
            raise RuntimeError(f"upsert into {table.name}: no single placeholder for {c} in the compiled statement")
        sql = sql.replace(placeholder, f"%({c})b")
        processors.append((c, compiled.binds[c].type.dialect_impl(dialect).bind_processor(dialect)))
    return _PgBinary(sql, tuple(processors))


def _run_postgresql(
    conn: Connection, table: sa.Table, columns: tuple[str, ...], key: tuple[str, ...], params: list[Mapping[str, Any]]
) -> UpsertResult:
    """The batch as one array per column, sent in psycopg's binary format: no text quoting of every element on
    the way out, no parsing of it on the server (a third of the client's CPU of the text format)."""
    statement = _pg_binary(table, columns, key, conn.dialect)
    arrays = {}
    try:
        for c, process in statement.processors:
            values = [row[c] for row in params]
            arrays[c] = process(values) if process is not None else values
    except (TypeError, ValueError) as exc:
        # a value its column type refuses (a naive datetime): as SQLAlchemy would report it
        raise StorageError(f"upsert into {table.name} failed: {exc}") from exc
    flags = conn.exec_driver_sql(statement.sql, arrays).scalars().all()
    inserted = sum(1 for f in flags if f)
    updated = len(flags) - inserted
    return UpsertResult(inserted=inserted, updated=updated, unchanged=len(params) - len(flags))


def _run_sqlite(
    conn: Connection, table: sa.Table, stmt: SqliteStatement, params: list[Mapping[str, Any]]
) -> UpsertResult:
    name = conn.dialect.identifier_preparer.quote(table.name)
    try:
        values = stmt.parameters(params)
    except (TypeError, ValueError) as exc:
        # a value its column type refuses (a naive datetime, a string for a date): as SQLAlchemy would report it
        raise StorageError(f"upsert into {table.name} failed: {exc}") from exc
    # two statements around the batch (each one is a round through the driver, per batch of every page)
    max_rowid, changes_before = conn.exec_driver_sql(
        f"SELECT (SELECT coalesce(max(rowid), 0) FROM {name}), total_changes()"  # noqa: S608
    ).one()
    conn.exec_driver_sql(stmt.sql, values)
    changes_after, inserted = conn.exec_driver_sql(
        f"SELECT total_changes(), (SELECT count(*) FROM {name} WHERE rowid > ?)",  # noqa: S608
        (max_rowid,),
    ).one()
    changed = changes_after - changes_before
    return UpsertResult(inserted=inserted, updated=changed - inserted, unchanged=len(params) - changed)
