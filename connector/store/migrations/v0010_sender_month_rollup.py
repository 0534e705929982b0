"""Migration 10: ``rollup_sender_month``, the sender-day rollup summed per calendar month (``models/rollups.py``).

A long range's whole months are read as one row per sender and month instead of one per sender and day (a year of
a 1,500-sender tenant: about 18,000 rows instead of 445,000). Filled here from ``rollup_sender_day`` and ``rollup_day``
(one grouped ``INSERT ... SELECT``, the same sums as ``connector.store.rollups.period_rows``); kept on write from
then on.

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "backfill_sql", "count_column", "sender_period_table", "upgrade"]

DESCRIPTION = "rollup_sender_month: the sender-day rollup per calendar month"

_COUNTS = (
    "cs_days",
    "cs_messages",
    "cs_tls10",
    "cs_tls11",
    "cs_tls12",
    "cs_tls13",
    "cs_tls_unknown",
    "cs_basic",
    "cs_oauth",
    "cs_auth_unknown",
)
_AFTER = ("trace_days", "trace_messages", "trace_ip_days", "trace_ip_messages")
_SIGNINS = ("signin_days", "signins_ok", "signins_failed", "signins_blocked")

_MONTH = {
    "sqlite": "date(d.utc_day, 'start of month')",
    "postgresql": "CAST(date_trunc('month', CAST(d.utc_day AS timestamp)) AS date)",
}

_BACKFILL = """
INSERT INTO {table} (tenant, {key}, sender_address, sender_domain, {counts}, cs_file_domain,
    cs_volume_domain, {after}, {signins}, signin_last_at)
SELECT d.tenant, {month}, d.sender_address, max(d.sender_domain),
    sum(CASE WHEN d.cs_rows > 0 THEN 1 ELSE 0 END),
    {cs_sums},
    max(CASE WHEN d.cs_rows > 0 THEN d.cs_file_domain END),
    max(CASE WHEN d.cs_rows > 0 THEN coalesce(d.sender_domain, lower(d.cs_file_domain)) END),
    sum(CASE WHEN coalesce(y.cs_rows, 0) = 0 AND d.trace_messages > 0 THEN 1 ELSE 0 END),
    sum(CASE WHEN coalesce(y.cs_rows, 0) = 0 AND d.trace_messages > 0 THEN d.trace_messages ELSE 0 END),
    sum(CASE WHEN coalesce(y.cs_rows, 0) = 0 AND d.trace_signin_ip_messages > 0 THEN 1 ELSE 0 END),
    sum(CASE WHEN coalesce(y.cs_rows, 0) = 0 AND d.trace_signin_ip_messages > 0
        THEN d.trace_signin_ip_messages ELSE 0 END),
    sum(CASE WHEN d.signin_rows > 0 THEN 1 ELSE 0 END),
    {signin_sums},
    max(CASE WHEN d.signin_rows > 0 THEN d.signin_last_at END)
FROM rollup_sender_day d
LEFT JOIN rollup_day y ON y.tenant = d.tenant AND y.utc_day = d.utc_day
GROUP BY d.tenant, {month}, d.sender_address
"""


def count_column(name: str) -> sa.Column[int]:
    """A rollup's count column: an integer, 0 unless set."""
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def backfill_sql(
    dialect: str, *, table: str = "rollup_sender_month", key: str = "month", period: str | None = None
) -> str:
    """The statement that fills ``table`` (empty; ``rollup_sender_month`` by default) from the sender-day and day
    rollups, one row per sender and period: ``period`` is the SQL of a sender-day's (``d``) period key (its month's
    first day by default)."""
    start = period if period is not None else _MONTH.get(dialect)
    if start is None or dialect not in _MONTH:
        raise NotImplementedError(f"rollups are defined for SQLite and PostgreSQL, not {dialect}")
    cs_sums = ", ".join(f"sum(CASE WHEN d.cs_rows > 0 THEN d.{c} ELSE 0 END)" for c in _COUNTS[1:])
    signin_sums = ", ".join(f"sum(CASE WHEN d.signin_rows > 0 THEN d.{c} ELSE 0 END)" for c in _SIGNINS[1:])
    return _BACKFILL.format(
        table=table,
        key=key,
        month=start,
        counts=", ".join(_COUNTS),
        after=", ".join(_AFTER),
        signins=", ".join(_SIGNINS),
        cs_sums=cs_sums,
        signin_sums=signin_sums,
    )


def sender_period_table(md: sa.MetaData, name: str, key: str) -> sa.Table:
    """A sender-period rollup's table (``rollup_sender_month``: ``key`` ``month``) in ``md``."""
    return sa.Table(
        name,
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column(key, sa.Date(), primary_key=True),
        sa.Column("sender_address", sa.String(), primary_key=True),
        sa.Column("sender_domain", sa.String(), nullable=True),
        *(count_column(c) for c in _COUNTS),
        sa.Column("cs_file_domain", sa.String(), nullable=True),
        sa.Column("cs_volume_domain", sa.String(), nullable=True),
        *(count_column(c) for c in (*_AFTER, *_SIGNINS)),
        sa.Column("signin_last_at", sa.DateTime(timezone=True), nullable=True),
    )


def upgrade(conn: Connection) -> None:
    sql = backfill_sql(conn.dialect.name)
    md = sa.MetaData()
    sender_period_table(md, "rollup_sender_month", "month")
    md.create_all(conn)
    conn.exec_driver_sql(sql)
