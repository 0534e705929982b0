"""What the read cache compares to know whether the database changed since it computed an answer.

SQLite: ``PRAGMA data_version`` (``connector.service.readcache`` reads it on a connection of its own), which
changes whenever another connection commits to the file, whoever writes.

PostgreSQL has no per-database equivalent: the server's current snapshot moves with every write transaction of
the whole server (other databases, other schemas), and its statistics lag behind commits. So every write
transaction of smtpauth (``Store.transaction()``, a migration, a rollup rebuild) adds one to a row of
``store_change`` as its last statement, in the same transaction, and the version is the sum of the rows. A
reader that reads the version before a commit and its data after it keeps newer data under the older version;
the commit then moves the version, so no answer is ever served older than a fresh read would be. The row is the
writer's server process id modulo :data:`SLOTS`: two concurrent writers seldom wait for each other, and never
deadlock on it (it is the last row a transaction locks). Writes made outside smtpauth (by hand, with ``psql``)
are seen after smtpauth's next write; ``service.read_cache_mb = 0`` turns the cache off.
"""

import sqlalchemy as sa

__all__ = ["SLOTS", "record", "version"]

#: rows of ``store_change`` the writers spread over
SLOTS = 64

_RECORD = sa.text(
    "INSERT INTO store_change (slot, changes) VALUES (pg_backend_pid() % :slots, 1) "
    "ON CONFLICT (slot) DO UPDATE SET changes = store_change.changes + 1"
)


def record(conn: sa.Connection) -> None:
    """Count the write transaction of ``conn`` (call it last, just before the commit). Nothing on SQLite."""
    if conn.dialect.name == "postgresql":
        conn.execute(_RECORD, {"slots": SLOTS})


def version(conn: sa.Connection) -> int:
    """The count of write transactions committed (PostgreSQL), as of this statement."""
    return int(conn.exec_driver_sql("SELECT coalesce(sum(changes), 0) FROM store_change").scalar_one())
