"""Migration 12: the UTC hours of a sender's day on ``rollup_sender_day`` (``trace_hour_mask``,
``trace_hour_messages``).

The off-hours rule compares a judged day's hours with the sender's baseline: the hours it sent in over the
previous weeks, its messages and its weekend messages. That profile used to be read from ``rollup_sender_hour``,
one row per sender and hour (about 15 a sender-day); with the hours as a bit mask and their messages summed on the
sender-day row, the insights fold it from the sender-day rows they read anyway. Filled here from
``rollup_sender_hour`` (one statement, the same sums as ``connector.store.rollups``' message-trace recompute);
kept on write from then on.

Frozen DDL: never import the current models here.
"""

from sqlalchemy.engine import Connection

__all__ = ["BACKFILL", "DESCRIPTION", "upgrade"]

DESCRIPTION = "rollup_sender_day: the UTC hours with message trace (a bit mask) and their messages"

BACKFILL = """
UPDATE rollup_sender_day SET (trace_hour_mask, trace_hour_messages) = (
    SELECT coalesce(sum(1 << h.hour), 0), coalesce(sum(h.messages), 0)
    FROM rollup_sender_hour h
    WHERE h.tenant = rollup_sender_day.tenant AND h.utc_day = rollup_sender_day.utc_day
        AND h.sender_address = rollup_sender_day.sender_address
)
WHERE trace_rows > 0
"""


def upgrade(conn: Connection) -> None:
    for column in ("trace_hour_mask", "trace_hour_messages"):
        conn.exec_driver_sql(f"ALTER TABLE rollup_sender_day ADD COLUMN {column} INTEGER DEFAULT 0 NOT NULL")
    conn.exec_driver_sql(BACKFILL)
