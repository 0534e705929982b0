"""Migration 11: ``store_change``, the count of write transactions committed to the database (PostgreSQL).

The service keeps its answers until the database changes. On PostgreSQL it used to take the server's current
snapshot as the database's version, which moves with every write transaction of the whole server: another
database's (or another schema's) writes made it compute its answers again. Each write transaction of smtpauth
now adds one to a row of this table just before it commits (``connector.store.changes``), so the version is this
database's own. SQLite keeps ``PRAGMA data_version`` and leaves the table empty.

Frozen DDL: never import the current models here.
"""

from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "upgrade"]

DESCRIPTION = "store_change: write transactions committed, the read cache's version on PostgreSQL"


def upgrade(conn: Connection) -> None:
    conn.exec_driver_sql(
        "CREATE TABLE store_change (slot INTEGER NOT NULL, changes BIGINT NOT NULL, PRIMARY KEY (slot))"
    )
