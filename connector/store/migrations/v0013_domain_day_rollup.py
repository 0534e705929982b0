"""Migration 13: ``rollup_domain_day``, the sender-day rollup summed per (tenant, day, sender domain, part)
(``models/rollups.py``).

The sending-volume chart by domain used to group a range's sender-day rows (a 90-day range of a 1,500-sender
tenant: about 111,000 rows) per day and domain on every read; it now reads a few rows per day and domain. Filled
here from ``rollup_sender_day`` (one grouped ``INSERT ... SELECT``, the same sums as
``connector.store.rollups._domain_parts``); kept on write from then on.

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.store.migrations import v0010_sender_month_rollup as v10

__all__ = ["BACKFILL", "DESCRIPTION", "upgrade"]

DESCRIPTION = "rollup_domain_day: the sender-day rollup per day and sender domain"

_PART = """
SELECT tenant, utc_day, '{part}', CASE WHEN {domain} IS NULL THEN 0 ELSE 1 END, coalesce({domain}, ''), count(*),
    coalesce(sum(CASE WHEN {ip} > 0 THEN 1 ELSE 0 END), 0), coalesce(sum({messages}), 0), coalesce(sum({ip}), 0)
FROM rollup_sender_day WHERE {where}
GROUP BY tenant, utc_day, {domain}
"""

BACKFILL = (
    "INSERT INTO rollup_domain_day (tenant, utc_day, part, has_domain, domain, senders, ip_senders, messages, "
    "ip_messages)"
    + " UNION ALL ".join(
        _PART.format(part=part, domain=domain, messages=messages, ip=ip, where=where)
        for part, domain, messages, ip, where in (
            ("cs", "sender_domain", "cs_messages", "0", "cs_rows > 0 AND sender_domain IS NOT NULL"),
            ("cs_file", "lower(cs_file_domain)", "cs_messages", "0", "cs_rows > 0 AND sender_domain IS NULL"),
            ("trace", "sender_domain", "trace_messages", "trace_signin_ip_messages", "trace_rows > 0"),
        )
    )
)


def upgrade(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "rollup_domain_day",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        sa.Column("part", sa.String(), primary_key=True),
        sa.Column("has_domain", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("domain", sa.String(), primary_key=True),
        *(v10.count_column(c) for c in ("senders", "ip_senders", "messages", "ip_messages")),
    )
    md.create_all(conn)
    conn.exec_driver_sql(BACKFILL)
