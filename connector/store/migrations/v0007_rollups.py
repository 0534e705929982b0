"""Migration 7: derived columns on the raw rows, the rollup tables, and the BI views read from the rollups.

- ``message_trace.utc_day``/``sender_domain``, ``smtp_cs_report_row.utc_day``/``tls_bucket``/``auth_bucket`` and
  ``signin.utc_day``, filled here for the stored rows (SQL, in batches of ids) and on write from then on;
- ``rollup_sender_day``, ``rollup_sender_day_tls``, ``rollup_day``, ``rollup_sender``, ``rollup_sender_hour``,
  ``rollup_sender_recipient_domain``, ``rollup_signin_origin`` (see ``models/rollups.py``);
  this step only creates them and leaves a ``rollups``/``rebuild`` watermark: the store fills them from the raw
  rows right after migrating (``connector.store.rollups.rebuild_if_pending``), day by day;
- the BI views redefined over the rollups (same names and columns, docs/bi.md).

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["BATCH_IDS", "DESCRIPTION", "upgrade"]

DESCRIPTION = "derived day/domain/bucket columns; rollup tables; BI views over the rollups"

#: ids per backfill statement
BATCH_IDS = 50_000

_SQL = {
    "sqlite": {
        "day": "date({col})",
        "domain": "CASE WHEN {col} LIKE '%@%' THEN lower(substr({col}, length(rtrim({col}, replace({col}, '@', '')))"
        " + 1)) END",
    },
    "postgresql": {
        "day": "CAST(({col} AT TIME ZONE 'UTC') AS date)",
        "domain": "CASE WHEN {col} LIKE '%@%' THEN lower(substring({col} from '[^@]*$')) END",
    },
}

_TLS = """CASE replace(replace(replace(replace(lower(coalesce(tls_version, '')), ' ', ''), '.', ''), '_', ''), 'v', '')
        WHEN 'tls10' THEN 'TLS1.0' WHEN '10' THEN 'TLS1.0'
        WHEN 'tls11' THEN 'TLS1.1' WHEN '11' THEN 'TLS1.1'
        WHEN 'tls12' THEN 'TLS1.2' WHEN '12' THEN 'TLS1.2'
        WHEN 'tls13' THEN 'TLS1.3' WHEN '13' THEN 'TLS1.3'
        ELSE 'unknown' END"""
_AUTH = """CASE WHEN lower(coalesce(auth_method, '')) LIKE '%oauth%' THEN 'OAuth'
        WHEN lower(coalesce(auth_method, '')) LIKE '%basic%' THEN 'Basic'
        ELSE 'unknown' END"""


def _count(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.Integer(), nullable=False, server_default="0")


def _tables(md: sa.MetaData) -> None:
    sa.Table(
        "rollup_sender_day",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        sa.Column("sender_address", sa.String(), primary_key=True),
        sa.Column("sender_domain", sa.String(), nullable=True),
        *(_count(c) for c in ("trace_rows", "trace_messages", "trace_signin_ip_messages", "cs_rows", "cs_messages")),
        *(_count(c) for c in ("cs_tls10", "cs_tls11", "cs_tls12", "cs_tls13", "cs_tls_unknown")),
        *(_count(c) for c in ("cs_basic", "cs_oauth", "cs_auth_unknown")),
        sa.Column("cs_file_domain", sa.String(), nullable=True),
        sa.Column("cs_legacy_client_ip", sa.String(), nullable=True),
        *(_count(c) for c in ("signin_rows", "signins_ok", "signins_failed", "signins_blocked")),
        sa.Column("signin_last_at", sa.DateTime(timezone=True), nullable=True),
        _count("signin_ips"),
        _count("signin_countries"),
        sa.Index("ix_rollup_sender_day_sender", "tenant", "sender_address", "utc_day"),
    )
    sa.Table(
        "rollup_sender_day_tls",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        sa.Column("sender_address", sa.String(), primary_key=True),
        sa.Column("tls_bucket", sa.String(), primary_key=True),
        sa.Column("auth_bucket", sa.String(), primary_key=True),
        sa.Column("sender_domain", sa.String(), nullable=True),
        sa.Column("cs_file_domain", sa.String(), nullable=True),
        _count("rows"),
        _count("messages"),
    )
    sa.Table(
        "rollup_day",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        *(_count(c) for c in ("trace_rows", "cs_rows", "signin_rows", "senders")),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Index("ix_rollup_day_changed", "tenant", "changed_at"),
    )
    sa.Table(
        "rollup_sender",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("sender_address", sa.String(), primary_key=True),
        sa.Column("sender_domain", sa.String(), nullable=True),
        *(_count(c) for c in ("trace_days", "cs_days", "signin_ok_days")),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
    )
    sa.Table(
        "rollup_sender_hour",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        sa.Column("sender_address", sa.String(), primary_key=True),
        sa.Column("hour", sa.Integer(), primary_key=True, autoincrement=False),
        _count("rows"),
        _count("messages"),
    )
    sa.Table(
        "rollup_sender_recipient_domain",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        sa.Column("sender_address", sa.String(), primary_key=True),
        sa.Column("recipient_domain", sa.String(), primary_key=True),
        _count("rows"),
        _count("messages"),
    )
    sa.Table(
        "rollup_signin_origin",
        md,
        sa.Column("tenant", sa.String(), primary_key=True),
        sa.Column("utc_day", sa.Date(), primary_key=True),
        sa.Column("user_principal_name", sa.String(), primary_key=True),
        sa.Column("ip_address", sa.String(), primary_key=True),
        sa.Column("country", sa.String(), primary_key=True),
        sa.Column("error_code", sa.Integer(), primary_key=True, autoincrement=False),
        _count("rows"),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    )


def _backfill(conn: Connection, table: str, assignments: str) -> None:
    top = conn.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar()  # noqa: S608 (frozen DDL)
    low = 0
    while top is not None and low < top:
        conn.execute(
            sa.text(f"UPDATE {table} SET {assignments} WHERE id > :low AND id <= :high"),  # noqa: S608 (frozen DDL)
            {"low": low, "high": low + BATCH_IDS},
        )
        low += BATCH_IDS


#: the BI views (docs/bi.md), same names and columns as migration 2, read from the rollups
_VIEWS = {
    "bi_fact_sender_day": """
SELECT tenant, utc_day AS date_key, sender_address, sender_domain, 'message_trace' AS source,
       trace_messages AS messages, trace_signin_ip_messages AS messages_from_smtp_signin_ip
FROM rollup_sender_day WHERE trace_rows > 0
UNION ALL
SELECT tenant, utc_day, sender_address, coalesce(lower(cs_file_domain), sender_domain), 'smtp_cs_report',
       cs_messages, NULL
FROM rollup_sender_day WHERE cs_rows > 0""",
    "bi_fact_domain_day": """
SELECT tenant, date_key, sender_domain, source, SUM(messages) AS messages, COUNT(*) AS senders
FROM bi_fact_sender_day
GROUP BY tenant, date_key, sender_domain, source""",
    "bi_fact_sender_day_tls": """
SELECT tenant, utc_day AS date_key, sender_address, coalesce(lower(cs_file_domain), sender_domain) AS sender_domain,
       tls_bucket AS tls_version_key, auth_bucket AS auth_method_key, messages
FROM rollup_sender_day_tls""",
    "bi_fact_signin_day": """
SELECT tenant, utc_day AS date_key, sender_address, sender_domain, signins_ok AS successful_signins,
       signins_failed AS failed_signins, signin_ips AS distinct_ips
FROM rollup_sender_day
WHERE signin_rows > 0 AND sender_address <> ''""",
}


def upgrade(conn: Connection) -> None:
    spelling = _SQL.get(conn.dialect.name)
    if spelling is None:
        raise NotImplementedError(f"rollups are defined for SQLite and PostgreSQL, not {conn.dialect.name}")

    def day(col: str) -> str:
        return spelling["day"].format(col=col)

    for table, columns in (
        ("message_trace", (("utc_day", "DATE"), ("sender_domain", "VARCHAR"))),
        ("smtp_cs_report_row", (("utc_day", "DATE"), ("tls_bucket", "VARCHAR"), ("auth_bucket", "VARCHAR"))),
        ("signin", (("utc_day", "DATE"),)),
    ):
        for name, typ in columns:
            conn.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {name} {typ}"))
    _backfill(
        conn,
        "message_trace",
        f"utc_day = {day('received_at')}, sender_domain = {spelling['domain'].format(col='sender_address')}",
    )
    _backfill(conn, "smtp_cs_report_row", f"utc_day = {day('occurred_at')}, tls_bucket = {_TLS}, auth_bucket = {_AUTH}")
    _backfill(conn, "signin", f"utc_day = {day('created_at')}")
    md = sa.MetaData()
    _tables(md)
    md.create_all(conn)
    # the views of migration 2 that read raw rows: dropped dependants first, recreated over the rollups
    for name in ("bi_dim_date", "bi_dim_domain", "bi_dim_sender", "bi_fact_domain_day", "bi_fact_sender_day"):
        conn.execute(sa.text(f"DROP VIEW {name}"))
    for name in ("bi_fact_sender_day_tls", "bi_fact_signin_day"):
        conn.execute(sa.text(f"DROP VIEW {name}"))
    for name in ("bi_fact_sender_day", "bi_fact_domain_day", "bi_fact_sender_day_tls", "bi_fact_signin_day"):
        conn.execute(sa.text(f"CREATE VIEW {name} AS {_VIEWS[name]}"))
    from connector.store.migrations import v0002_report_jobs_and_bi_views as v2

    v2_views = v2._views(v2._DIALECT[conn.dialect.name])  # frozen: migration 2's own text for the dimensions
    for name in ("bi_dim_sender", "bi_dim_domain", "bi_dim_date"):
        conn.execute(sa.text(f"CREATE VIEW {name} AS {v2_views[name]}"))
    conn.execute(
        sa.text(
            "INSERT INTO watermark (tenant, source, key, value, updated_at) "
            "VALUES ('*', 'rollups', 'rebuild', 'pending', CURRENT_TIMESTAMP)"
        )
    )
