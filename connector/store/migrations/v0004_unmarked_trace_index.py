"""Migration 4: a partial index on the message-trace rows not yet marked for the sender's sign-in IPs.

Rows are stored with the mark since this version; rows stored without it (imports, older versions) are found
through this index by the next sync, which marks them, instead of scanning the whole table on every run.

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "upgrade"]

DESCRIPTION = "partial index on unmarked message_trace rows"


def upgrade(conn: Connection) -> None:
    md = sa.MetaData()
    trace = sa.Table(
        "message_trace",
        md,
        sa.Column("tenant", sa.String()),
        sa.Column("sender_address", sa.String()),
        sa.Column("from_smtp_signin_ip", sa.Boolean()),
    )
    unmarked = trace.c.from_smtp_signin_ip.is_(None)
    sa.Index(
        "ix_message_trace_unmarked",
        trace.c.tenant,
        trace.c.sender_address,
        sqlite_where=unmarked,
        postgresql_where=unmarked,
    ).create(conn)
