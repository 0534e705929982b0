"""Migration 14: ``rollup_sender_week``, the sender-day rollup summed per ISO week (``models/rollups.py``).

A range's whole weeks outside its whole months are read as one row per sender and week instead of seven per sender
(a 30-day range of a 1,500-sender tenant: about 9,000 rows instead of 45,000). The same figures as
``rollup_sender_month`` (migration 10), per week: filled here from ``rollup_sender_day`` and ``rollup_day`` by the
same grouped ``INSERT ... SELECT`` with the week's Monday for the month's first day; kept on write from then on.

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.store.migrations import v0010_sender_month_rollup as v10

__all__ = ["DESCRIPTION", "backfill_sql", "upgrade"]

DESCRIPTION = "rollup_sender_week: the sender-day rollup per ISO week"

#: the Monday of ``d.utc_day``'s week ('weekday 1' moves forward to the next Monday or stays on one)
_WEEK = {
    "sqlite": "date(d.utc_day, '-6 days', 'weekday 1')",
    "postgresql": "CAST(date_trunc('week', CAST(d.utc_day AS timestamp)) AS date)",
}


def backfill_sql(dialect: str) -> str:
    """The statement that fills ``rollup_sender_week`` (empty) from the sender-day and day rollups."""
    week = _WEEK.get(dialect)
    if week is None:
        raise NotImplementedError(f"rollups are defined for SQLite and PostgreSQL, not {dialect}")
    return v10.backfill_sql(dialect, table="rollup_sender_week", key="week", period=week)


def upgrade(conn: Connection) -> None:
    sql = backfill_sql(conn.dialect.name)
    md = sa.MetaData()
    v10.sender_period_table(md, "rollup_sender_week", "week")
    md.create_all(conn)
    conn.exec_driver_sql(sql)
