"""Migration 2: the ``report_job`` table and the BI views (a small star schema, see ``docs/bi.md``).

Frozen DDL. The views are plain SQL over the stored tables, so they never go stale; each backend gets its own
spelling of "the UTC day of a timestamp" and "the domain of an address", everything else is shared.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "VIEWS", "upgrade"]

DESCRIPTION = "report_job table; BI views bi_fact_* and bi_dim_*"

#: the view names, part of the product: BI tools query them
VIEWS = (
    "bi_dim_date",
    "bi_dim_sender",
    "bi_dim_domain",
    "bi_dim_tls_version",
    "bi_dim_auth_method",
    "bi_fact_sender_day",
    "bi_fact_domain_day",
    "bi_fact_sender_day_tls",
    "bi_fact_signin_day",
)

_DIALECT = {
    # SQLite keeps UTCDateTime as naive UTC text; PostgreSQL as timestamptz
    "sqlite": {
        "day": "date({col})",
        # the part after the last '@': rtrim(x, <every character but '@'>) keeps x up to its last '@'
        "domain": "lower(substr({col}, length(rtrim({col}, replace({col}, '@', ''))) + 1))",
        "year": "CAST(strftime('%Y', d) AS INTEGER)",
        "month": "CAST(strftime('%m', d) AS INTEGER)",
        "dom": "CAST(strftime('%d', d) AS INTEGER)",
        "isodow": "(CAST(strftime('%w', d) AS INTEGER) + 6) % 7 + 1",
    },
    "postgresql": {
        "day": "CAST(({col} AT TIME ZONE 'UTC') AS date)",
        "domain": "lower(substring({col} from '[^@]*$'))",
        "year": "CAST(EXTRACT(YEAR FROM d) AS INTEGER)",
        "month": "CAST(EXTRACT(MONTH FROM d) AS INTEGER)",
        "dom": "CAST(EXTRACT(DAY FROM d) AS INTEGER)",
        "isodow": "CAST(EXTRACT(ISODOW FROM d) AS INTEGER)",
    },
}

_TLS_KEY = """CASE replace(replace(replace(replace(lower(coalesce(tls_version, '')), ' ', ''), '.', ''), '_', ''),
                     'v', '')
        WHEN 'tls10' THEN 'TLS1.0' WHEN '10' THEN 'TLS1.0'
        WHEN 'tls11' THEN 'TLS1.1' WHEN '11' THEN 'TLS1.1'
        WHEN 'tls12' THEN 'TLS1.2' WHEN '12' THEN 'TLS1.2'
        WHEN 'tls13' THEN 'TLS1.3' WHEN '13' THEN 'TLS1.3'
        ELSE 'unknown' END"""
_AUTH_KEY = """CASE WHEN lower(coalesce(auth_method, '')) LIKE '%oauth%' THEN 'OAuth'
        WHEN lower(coalesce(auth_method, '')) LIKE '%basic%' THEN 'Basic'
        ELSE 'unknown' END"""


def _views(d: dict[str, str]) -> dict[str, str]:
    def day(col: str) -> str:
        return d["day"].format(col=col)

    def domain(col: str) -> str:
        return d["domain"].format(col=col)

    return {
        "bi_fact_sender_day": f"""
SELECT tenant, {day("received_at")} AS date_key, sender_address, {domain("sender_address")} AS sender_domain,
       'message_trace' AS source,
       COUNT(DISTINCT coalesce(message_id, trace_id)) AS messages,
       COUNT(DISTINCT CASE WHEN from_smtp_signin_ip THEN coalesce(message_id, trace_id) END)
           AS messages_from_smtp_signin_ip
FROM message_trace
GROUP BY tenant, {day("received_at")}, sender_address
UNION ALL
SELECT tenant, {day("occurred_at")}, sender_address, coalesce(lower(sender_domain), {domain("sender_address")}),
       'smtp_cs_report', SUM(message_count), NULL
FROM smtp_cs_report_row
GROUP BY tenant, {day("occurred_at")}, sender_address, coalesce(lower(sender_domain), {domain("sender_address")})""",  # noqa: S608 (frozen DDL from constants)
        "bi_fact_domain_day": """
SELECT tenant, date_key, sender_domain, source, SUM(messages) AS messages, COUNT(*) AS senders
FROM bi_fact_sender_day
GROUP BY tenant, date_key, sender_domain, source""",
        "bi_fact_sender_day_tls": f"""
SELECT tenant, {day("occurred_at")} AS date_key, sender_address,
       coalesce(lower(sender_domain), {domain("sender_address")}) AS sender_domain,
       {_TLS_KEY} AS tls_version_key, {_AUTH_KEY} AS auth_method_key, SUM(message_count) AS messages
FROM smtp_cs_report_row
GROUP BY tenant, {day("occurred_at")}, sender_address, coalesce(lower(sender_domain), {domain("sender_address")}),
         {_TLS_KEY}, {_AUTH_KEY}""",  # noqa: S608 (frozen DDL from constants)
        "bi_fact_signin_day": f"""
SELECT tenant, {day("created_at")} AS date_key, user_principal_name AS sender_address,
       {domain("user_principal_name")} AS sender_domain,
       SUM(CASE WHEN error_code = 0 THEN 1 ELSE 0 END) AS successful_signins,
       SUM(CASE WHEN error_code <> 0 THEN 1 ELSE 0 END) AS failed_signins,
       COUNT(DISTINCT ip_address) AS distinct_ips
FROM signin
WHERE user_principal_name IS NOT NULL
GROUP BY tenant, {day("created_at")}, user_principal_name""",  # noqa: S608 (frozen DDL from constants)
        "bi_dim_sender": """
SELECT tenant, sender_address, MIN(sender_domain) AS sender_domain, MIN(date_key) AS first_date,
       MAX(date_key) AS last_date
FROM (SELECT tenant, sender_address, sender_domain, date_key FROM bi_fact_sender_day
      UNION ALL
      SELECT tenant, sender_address, sender_domain, date_key FROM bi_fact_signin_day) AS s
GROUP BY tenant, sender_address""",
        "bi_dim_domain": """
SELECT tenant, sender_domain, COUNT(*) AS senders FROM bi_dim_sender GROUP BY tenant, sender_domain""",
        "bi_dim_date": f"""
SELECT d AS date_key, {d["year"]} AS year, {d["month"]} AS month, {d["dom"]} AS day_of_month,
       {d["isodow"]} AS iso_weekday
FROM (SELECT DISTINCT date_key AS d FROM bi_fact_sender_day
      UNION
      SELECT DISTINCT date_key FROM bi_fact_signin_day
      UNION
      SELECT DISTINCT report_date FROM usage_user_counts) AS days""",  # noqa: S608 (frozen DDL from constants)
        "bi_dim_tls_version": """
SELECT 'TLS1.0' AS tls_version_key, 'TLS 1.0' AS label, 1 AS is_legacy, 10 AS sort_order
UNION ALL SELECT 'TLS1.1', 'TLS 1.1', 1, 11
UNION ALL SELECT 'TLS1.2', 'TLS 1.2', 0, 12
UNION ALL SELECT 'TLS1.3', 'TLS 1.3', 0, 13
UNION ALL SELECT 'unknown', 'unknown', 0, 99""",
        "bi_dim_auth_method": """
SELECT 'Basic' AS auth_method_key, 'Basic authentication' AS label, 1 AS breaks_when_basic_is_off
UNION ALL SELECT 'OAuth', 'OAuth 2.0', 0
UNION ALL SELECT 'unknown', 'unknown', 0""",
    }


def _report_job(md: sa.MetaData) -> None:
    sa.Table(
        "report_job",
        md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("job_id", sa.String(), nullable=False),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("date_from", sa.Date(), nullable=False),
        sa.Column("date_to", sa.Date(), nullable=False),
        sa.Column("parameters", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_host", sa.String(), nullable=True),
        sa.Column("worker_pid", sa.Integer(), nullable=True),
        sa.Column("artifact_dir", sa.Text(), nullable=True),
        sa.Column("artifacts", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("job_id", name="uq_report_job_key"),
        sa.Index("ix_report_job_status", "status"),
        sa.Index("ix_report_job_tenant", "tenant", "requested_at"),
    )


def upgrade(conn: Connection) -> None:
    md = sa.MetaData()
    _report_job(md)
    md.create_all(conn)
    spelling = _DIALECT.get(conn.dialect.name)
    if spelling is None:
        raise NotImplementedError(f"BI views are defined for SQLite and PostgreSQL, not {conn.dialect.name}")
    views = _views(spelling)
    for name in _ORDER:
        # text() escapes the % of LIKE patterns for psycopg
        conn.execute(sa.text(f"CREATE VIEW {name} AS {views[name]}"))


#: creation order (a view is created after the views it reads)
_ORDER = (
    "bi_fact_sender_day",
    "bi_fact_domain_day",
    "bi_fact_sender_day_tls",
    "bi_fact_signin_day",
    "bi_dim_sender",
    "bi_dim_domain",
    "bi_dim_date",
    "bi_dim_tls_version",
    "bi_dim_auth_method",
)
