"""Migration 8: ``sync_run.owner``, the process that runs a sync or an import (``connector.store.owner``).

Start-up recovery and a new sync of a tenant end a "running" run only when its owner is gone, so a CLI command
beside a running service is never marked failed. Runs recorded before this migration have no owner and are
treated as before (ended by recovery).

Frozen DDL: never import the current models here.
"""

from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "upgrade"]

DESCRIPTION = "sync_run.owner: the process running a sync or an import"


def upgrade(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE sync_run ADD COLUMN owner VARCHAR")
