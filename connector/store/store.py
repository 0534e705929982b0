"""The ``Store`` facade: one engine, migrations, transactions and the run helpers bound together."""

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from connector.errors import StorageError
from connector.store import changes, rollups
from connector.store.engine import SQLITE_BEGIN_OPTION, create_engine_for, enlarge_cache
from connector.store.migrations import current_version, latest_version, migrate
from connector.store.upsert import DEFAULT_BATCH_SIZE, UpsertResult, upsert

__all__ = ["Store", "open_store"]


class Store:
    """The database of smtpauth. Build it with :func:`open_store`; close it with :meth:`close`.

    ``transaction()`` is the only way to write: on SQLite it starts with ``BEGIN IMMEDIATE``, so concurrent
    writers wait for the busy timeout instead of failing. ``read()`` starts a deferred transaction that does
    not block writers (WAL readers see a consistent snapshot).
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def migrate(self) -> int:
        """Bring the schema up to date (and build the rollups a migration asked for); return its version.
        Raises StorageError (see ``migrate``)."""
        version = migrate(self.engine)
        try:
            rollups.rebuild_if_pending(self.engine)
        except SQLAlchemyError as exc:
            raise StorageError(f"building the rollups failed ({type(exc).__name__}): {exc}") from exc
        return version

    def schema_version(self) -> int:
        with self.read() as conn:
            return current_version(conn)

    def is_current(self) -> bool:
        return self.schema_version() == latest_version()

    @contextmanager
    def transaction(self, *, bulk: bool = False) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises.

        The rollups of the raw rows it wrote are recomputed just before the commit (``connector.store.rollups``),
        so a reader never sees rows without their rollups or the other way round; then the commit is counted for
        the read cache (``connector.store.changes``). ``bulk``: a large write (a
        group commit): on SQLite its connection gets a larger page cache for the transaction.
        """
        with self.engine.begin() as conn:
            if bulk:
                enlarge_cache(conn)
            tracker = rollups.attach(conn)
            try:
                yield conn
                rollups.flush(conn, tracker)
                changes.record(conn)
            finally:
                rollups.detach(conn)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (deferred on SQLite), rolled back at the end.

        PostgreSQL: without JIT compilation (``SET LOCAL jit = off``, this transaction only). The reads join
        per-sender CTEs whose sizes the planner cannot know, so it estimates them a million times too large
        (accounts, 300,000-user tenant: 2 billion rows for 1,617), and a plan that expensive gets JIT-compiled with
        inlining and optimization: 3.2 s of compiling for 0.3 s of execution (EXPLAIN ANALYZE, docs/benchmarks.md).
        Nothing is written: the read cache's version (``connector.store.changes``) does not move."""
        with self.engine.connect() as raw:
            conn = raw.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            with conn.begin() as tx:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET LOCAL jit = off")
                yield conn
                tx.rollback()

    def upsert(
        self,
        conn: Connection,
        model: Any,
        rows: Iterable[Mapping[str, Any]],
        *,
        key: Sequence[str],
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> UpsertResult:
        return upsert(conn, model, rows, key=key, batch_size=batch_size)

    def close(self) -> None:
        self.engine.dispose()


def open_store(
    url: str, busy_timeout_seconds: float = 30.0, *, migrate_schema: bool = True, pool_size: int | None = None
) -> Store:
    """Open (and by default migrate) the database at ``url``. Raises StorageError."""
    store = Store(create_engine_for(url, busy_timeout_seconds=busy_timeout_seconds, pool_size=pool_size))
    if migrate_schema:
        try:
            store.migrate()
        except BaseException:
            store.close()
            raise
    return store
