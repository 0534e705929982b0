"""One scheduler per database: whoever holds the scheduler lock runs the jobs.

APScheduler 3.x supports one scheduler per job store; two would run every job twice. SQLite: an exclusive
``flock`` on ``<database>.scheduler.lock`` beside the database file. PostgreSQL: a session advisory lock held on a
dedicated connection, keyed by the database and the schema (``current_schema()`` of the connection, so two
deployments in different schemas of one database each have their own scheduler). Both are released by the
operating system or the server when the holder dies, so a waiting process takes over without any expiry to tune.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa

from connector.errors import StorageError

__all__ = ["SchedulerLock", "open_scheduler_lock", "scheduler_lock_key"]

log = logging.getLogger("smtpauth.service")


class SchedulerLock(Protocol):
    def acquire(self) -> bool:
        """Take the lock without waiting; True when this process now holds it."""

    def held(self) -> bool:
        """True while the lock is still ours (a lost PostgreSQL connection loses it)."""

    def release(self) -> None: ...


class FileLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def scheduler_lock_key(scope: str) -> int:
    """The advisory-lock key of the scheduler of ``scope`` ("database/schema"): 63 bits of its SHA-256."""
    digest = hashlib.sha256(f"smtpauth-scheduler:{scope}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


class AdvisoryLock:
    def __init__(self, url: str) -> None:
        self._engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self._key: int | None = None
        self._conn: sa.Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return self.held()
        conn = self._engine.connect()
        scope = conn.execute(sa.text("SELECT current_database() || '/' || coalesce(current_schema(), '')")).scalar()
        self._key = scheduler_lock_key(str(scope))
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        conn.commit()
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(sa.text("SELECT 1")).scalar()
            self._conn.commit()
        except sa.exc.SQLAlchemyError:
            log.exception("lost the database connection holding the scheduler lock")
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()
            self._conn = None
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            except sa.exc.SQLAlchemyError:
                log.warning("could not release the scheduler lock (the server drops it with the connection)")
            self._conn.close()
            self._conn = None
        self._engine.dispose()


def open_scheduler_lock(database_url: str) -> SchedulerLock:
    """The lock for this database. Raises StorageError for an in-memory SQLite database (nothing to share)."""
    url = sa.make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise StorageError("the service needs a database file, not an in-memory SQLite database")
        return FileLock(Path(url.database).with_name(Path(url.database).name + ".scheduler.lock"))
    if url.get_backend_name() == "postgresql":
        return AdvisoryLock(database_url)
    raise StorageError(f"no scheduler lock for {url.get_backend_name()} databases: use SQLite or PostgreSQL")
