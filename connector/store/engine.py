"""Engine factory: SQLite tuned for one writer and many readers, or PostgreSQL through psycopg 3.

SQLite (the default, a file in the data directory):

- one engine per database file per process (:func:`create_engine_for` returns the same engine for the same
  file; the scheduler's job store is given the store's engine). SQLite's POSIX locks belong to the process, and
  closing *any* descriptor of the database file (or its -wal/-shm) drops every lock the process holds on it
  (sqlite.org/howtocorrupt.html, 2.2): another process's checkpoint may then delete the -wal under our open
  connections and split the database. So nothing in smtpauth opens, copies or chmods these files outside SQLite;
- the file is created with mode 0600 (it holds user names and IP addresses), its folder with 0700, only when it
  does not exist yet, with ``O_EXCL``, before this process opens any connection to it: the descriptor closed
  there never held a lock. SQLite creates the -wal and -shm with the database file's mode;
- WAL journal, a busy timeout, foreign keys on, ``synchronous=NORMAL`` (durable across application crashes);
- pysqlite's own transaction handling is switched off and every transaction starts with ``BEGIN IMMEDIATE``:
  a deferred transaction that reads and then writes fails with "database is locked" in WAL mode regardless of
  the busy timeout (SQLAlchemy docs, "Serializable isolation / Savepoints / Transactional DDL"). Read-only
  work can opt into a deferred ``BEGIN`` with the execution option ``sqlite_begin="DEFERRED"``
  (see ``Store.read``).

PostgreSQL: ``postgresql://`` and ``postgres://`` URLs are rewritten to the psycopg 3 driver.
"""

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError

from connector.errors import ConfigError, StorageError

__all__ = ["SQLITE_BEGIN_OPTION", "DatabaseUrlError", "create_engine_for", "normalize_url", "sqlite_file"]

#: execution option choosing how a SQLite transaction begins: "IMMEDIATE" (default) or "DEFERRED"
SQLITE_BEGIN_OPTION = "sqlite_begin"

#: the process's SQLite engines by database file: a second engine would be harmless only as long as nothing
#: opens the file outside SQLite, and one engine keeps that a single place to look at
_SQLITE_ENGINES: dict[Path, Engine] = {}
_SQLITE_ENGINES_GUARD = threading.Lock()


class DatabaseUrlError(ConfigError, StorageError):
    """``database.url`` names no database smtpauth can use: a configuration error (exit code 2)."""

    kind = "config"

    def __init__(self, message: str) -> None:
        ConfigError.__init__(self, message, key="database.url")


def normalize_url(url: str | URL) -> URL:
    """Parse ``url`` and pick our drivers: psycopg 3 for PostgreSQL, the standard library for SQLite.

    Raises DatabaseUrlError (a ConfigError and a StorageError) for an unparsable URL or an unsupported database.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError("not a valid SQLAlchemy URL (e.g. sqlite:////path/db)") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres"):
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    raise DatabaseUrlError(f"{parsed.drivername}:// is not supported: use sqlite:/// or postgresql://")


def sqlite_file(url: str | URL) -> Path | None:
    """The absolute path of a SQLite database file named by ``url`` (None: not SQLite, or in memory)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or parsed.query.get("uri"):
        return None
    return Path(os.path.abspath(Path(database).expanduser()))


def create_engine_for(url: str | URL, *, busy_timeout_seconds: float = 30.0, pool_size: int | None = None) -> Engine:
    """The engine for ``url``. Creates a SQLite file (0600) and its folder when missing.

    SQLite file: the process's one engine of that file, built by the first call (its busy timeout wins; later
    calls share it, and ``Engine.dispose()`` only closes its idle connections, the engine stays usable).

    ``pool_size``: PostgreSQL connections kept per process (SQLAlchemy's default, 5 plus 10 on demand, otherwise);
    a worker running many jobs at once needs more.

    Raises StorageError for an unsupported URL or a SQLite path that cannot be created.
    """
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(parsed)
        if path is None:
            return _sqlite_engine(parsed, busy_timeout_seconds)
        with _SQLITE_ENGINES_GUARD:
            engine = _SQLITE_ENGINES.get(path)
            if engine is None:
                _create_private_file(path)
                engine = _SQLITE_ENGINES[path] = _sqlite_engine(parsed.set(database=str(path)), busy_timeout_seconds)
            return engine
    if pool_size is not None:
        return sa.create_engine(parsed, pool_pre_ping=True, pool_size=pool_size, max_overflow=2)
    return sa.create_engine(parsed, pool_pre_ping=True)


#: SQLite's page cache of a connection (KiB): its default, and what a bulk write transaction gets (a group of
#: imported files or synced pages): fewer pages evicted and read again while a group's rows go into large indexes
#: (8-12 % less CPU for 100,000-row imports, docs/benchmarks.md), for up to 64 MB more memory while it runs.
DEFAULT_CACHE_KIB = 2000
BULK_CACHE_KIB = 64 * 1024
#: ``connection record info`` flag: the connection's cache was enlarged for a bulk transaction
BULK_CACHE_INFO = "smtpauth.bulk_cache"


def enlarge_cache(conn: Connection) -> None:
    """SQLite: give this connection a bulk-sized page cache until it goes back to the pool."""
    if conn.dialect.name != "sqlite":
        return
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    conn.connection.info[BULK_CACHE_INFO] = True


def _sqlite_engine(url: URL, busy_timeout_seconds: float) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
    engine = sa.create_engine(url, connect_args={"timeout": busy_timeout_seconds})
    busy_ms = int(busy_timeout_seconds * 1000)

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # autocommit at the driver level: SQLAlchemy's "begin" hook below emits BEGIN itself
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @sa.event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: sqlite3.Connection, record: Any) -> None:
        # a bulk transaction's larger page cache is not kept by the connection it used (the pool's readers)
        if record is not None and record.info.pop(BULK_CACHE_INFO, False):
            dbapi_connection.execute(f"PRAGMA cache_size=-{DEFAULT_CACHE_KIB}")

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        if mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
            raise StorageError(f"unknown {SQLITE_BEGIN_OPTION} execution option {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _create_private_file(path: Path) -> None:
    """Create ``path`` 0600 if missing. Never opens an existing file: another process's SQLite may hold locks on
    it, and in this process the first engine is built only after this returns."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600)
        except FileExistsError:
            return
        os.close(fd)
    except OSError as exc:
        raise StorageError(f"cannot create the database file {path}: {exc.strerror}") from None
