"""Migration 15: ``last_active_day`` on ``rollup_sender_month`` and ``rollup_sender_week``: the last day of the
period on which the sender had messages (message trace or SmtpCSReport) or a successful SMTP sign-in.

The accounts table's ``last_active_date`` (the last such day of the range) used to be one backward look-up of the
sender-day rollup per account (1,600 accounts: about 18 ms of a 90-day read on PostgreSQL); with the day kept per
period, a range reads it from its whole months' and weeks' rows and its other days' sender-day rows, as it reads
every other per-sender figure. Filled here from ``rollup_sender_day`` (one statement per table, the condition of
``connector.store.rollups.period_rows``); kept on write from then on.

Frozen DDL: never import the current models here.
"""

from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "backfill_sql", "upgrade"]

DESCRIPTION = "rollup_sender_month, rollup_sender_week: the period's last day with messages or a successful sign-in"

#: the day after the period that starts on the row's key, per dialect and table
_NEXT = {
    ("sqlite", "rollup_sender_month"): "date(rollup_sender_month.month, '+1 month')",
    ("sqlite", "rollup_sender_week"): "date(rollup_sender_week.week, '+7 days')",
    ("postgresql", "rollup_sender_month"): "CAST(rollup_sender_month.month + interval '1 month' AS date)",
    ("postgresql", "rollup_sender_week"): "rollup_sender_week.week + 7",
}
_KEYS = {"rollup_sender_month": "month", "rollup_sender_week": "week"}

_BACKFILL = """
UPDATE {table} SET last_active_day = (
    SELECT max(d.utc_day) FROM rollup_sender_day d
    WHERE d.tenant = {table}.tenant AND d.sender_address = {table}.sender_address
        AND d.utc_day >= {table}.{key} AND d.utc_day < {next}
        AND (d.trace_messages > 0 OR d.cs_messages > 0 OR d.signins_ok > 0)
)
"""


def backfill_sql(dialect: str, table: str) -> str:
    """The statement that sets ``table``'s ``last_active_day`` from the sender-day rollup."""
    after = _NEXT.get((dialect, table))
    if after is None:
        raise NotImplementedError(f"rollups are defined for SQLite and PostgreSQL, not {dialect}")
    return _BACKFILL.format(table=table, key=_KEYS[table], next=after)


def upgrade(conn: Connection) -> None:
    for table in _KEYS:
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN last_active_day DATE")
        conn.exec_driver_sql(backfill_sql(conn.dialect.name, table))
