"""Migration 5: what each historical search asked for and how its file came back; the ``schema_drift`` table.

``historical_search_job`` gains ``sender_addresses`` / ``notify_addresses`` (JSON arrays: a search names the senders
it covers, at most 100), ``loaded_via`` (``download``, or ``upload`` / ``import`` / ``inbox`` when an admin handed the
file back) and ``file_sha256``. ``schema_drift`` records, per tenant and source, what Microsoft sent that the
normalizers did not expect (or did not send that they expect).

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "upgrade"]

DESCRIPTION = "historical search senders and hand-back; schema_drift"


def upgrade(conn: Connection) -> None:
    for column in ("sender_addresses TEXT", "notify_addresses TEXT", "loaded_via VARCHAR", "file_sha256 VARCHAR"):
        conn.execute(sa.text(f"ALTER TABLE historical_search_job ADD COLUMN {column}"))
    md = sa.MetaData()
    sa.Table(
        "schema_drift",
        md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_run_id", sa.String(), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1"),
        sa.UniqueConstraint("tenant", "source", "subject", "kind", "name", name="uq_schema_drift_key"),
    )
    md.create_all(conn)
