"""At most one sync of a tenant at a time, across every process that shares the database.

A CLI ``smtpauth sync``, the local scheduler and any number of ``smtpauth worker`` processes on any number of
machines take the same per-tenant lock before they touch a tenant:

- PostgreSQL: a session advisory lock (``pg_try_advisory_lock``) keyed by the tenant's name, held on one
  connection for the whole sync;
- SQLite (one machine by nature): an exclusive ``flock`` on ``<database>.tenant-locks/<tenant>.lock``.

Both are released by the server or the operating system when the holder dies, however it dies (``kill -9``
included), so a crashed sync never blocks the tenant and there is no lease to tune. Holding the lock also proves
that no other sync of the tenant is alive: the runs of that tenant still marked "running" were cut short, and
:func:`tenant_lock` marks them interrupted before the new sync starts.
"""

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from connector.errors import SmtpAuthError
from connector.store.runs import mark_interrupted_runs
from connector.store.store import Store

__all__ = ["TenantBusyError", "lock_key", "tenant_lock"]

log = logging.getLogger("smtpauth.sync")


class TenantBusyError(SmtpAuthError):
    """Another process syncs this tenant right now."""

    kind = "busy"


def lock_key(scope: str, tenant: str) -> int:
    """The PostgreSQL advisory-lock key of a tenant: 63 bits of SHA-256 of the database, schema and tenant.

    Advisory locks are shared by the whole server: the database and schema in the key keep two installations on
    one server (or two test schemas) apart.
    """
    digest = hashlib.sha256(f"smtpauth-tenant:{scope}:{tenant}".encode()).digest()
    return int.from_bytes(digest[:8], "big") & 0x7FFF_FFFF_FFFF_FFFF


_LOCK_ENGINES: dict[str, sa.Engine] = {}
_LOCK_ENGINES_GUARD = threading.Lock()


def _lock_engine(store: Store) -> sa.Engine:
    """Connections that hold tenant locks, apart from the store's pool (a sync must never wait for its own lock's
    connection to come back): one unpooled connection per held lock, closed when the lock is released."""
    key = store.engine.url.render_as_string(hide_password=False)
    with _LOCK_ENGINES_GUARD:
        engine = _LOCK_ENGINES.get(key)
        if engine is None:
            engine = _LOCK_ENGINES[key] = sa.create_engine(store.engine.url, poolclass=sa.pool.NullPool)
        return engine


@contextlib.contextmanager
def _pg_lock(store: Store, tenant: str) -> Iterator[bool]:
    conn = _lock_engine(store).connect()
    got = False
    try:
        scope = conn.execute(sa.text("SELECT current_database() || '/' || coalesce(current_schema(), '')")).scalar()
        key = lock_key(str(scope), tenant)
        got = bool(conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()
        yield got
    finally:
        try:
            if got:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        except sa.exc.SQLAlchemyError:
            log.warning("could not release the lock of %s (the server drops it with the connection)", tenant)
        conn.close()


@contextlib.contextmanager
def _file_lock(store: Store, tenant: str) -> Iterator[bool]:
    database = store.engine.url.database or ""
    if database in ("", ":memory:") or database.startswith("file::memory:"):
        yield True  # a private in-memory database: nobody else can sync it
        return
    folder = Path(database).with_name(Path(database).name + ".tenant-locks")
    folder.mkdir(mode=0o700, exist_ok=True)
    fd = os.open(folder / f"{tenant}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()} {os.getpid()}\n".encode())
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def mark_abandoned_runs(store: Store, tenant: str, *, now: datetime) -> int:
    """Mark the tenant's runs still "running" whose process is gone as failed: call only while holding the
    tenant's lock (an import of a live process, which takes no lock, is left alone)."""
    with store.transaction() as tx:
        return mark_interrupted_runs(
            tx,
            now=now,
            tenant=tenant,
            lock_held=True,
            message="the process running this sync stopped before it finished",
        )


@contextlib.contextmanager
def tenant_lock(store: Store, tenant: str, *, now: datetime) -> Iterator[None]:
    """Hold ``tenant``'s sync lock for the block. Raises TenantBusyError when another process holds it."""
    taker = _pg_lock if store.dialect == "postgresql" else _file_lock
    with taker(store, tenant) as got:
        if not got:
            raise TenantBusyError(f"a sync of {tenant} is already running in another process: it was not started again")
        abandoned = mark_abandoned_runs(store, tenant, now=now)
        if abandoned:
            log.warning("%s: %d run(s) of a sync that stopped without finishing marked interrupted", tenant, abandoned)
        yield
