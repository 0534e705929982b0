"""Migration 6: the tenant registry and the distributed executor's schedule and worker tables.

Frozen DDL: never import the current models here.
"""

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "upgrade"]

DESCRIPTION = "tenant_registry, tenant_schedule and queue_worker tables"


def upgrade(conn: Connection) -> None:
    md = sa.MetaData()
    sa.Table(
        "tenant_registry",
        md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("tenant_id", sa.String(), nullable=False),
        sa.Column("cloud", sa.String(), nullable=False),
        sa.Column("credential", sa.Text(), nullable=False),
        sa.Column("client_id", sa.String(), nullable=True),
        sa.Column("schedule_cron", sa.String(), nullable=True),
        sa.Column("schedule_timezone", sa.String(), nullable=True),
        sa.Column("primary_domain", sa.String(), nullable=True),
        sa.Column("exchange_admin", sa.Boolean(), nullable=False, server_default="0"),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("name", name="uq_tenant_registry_name"),
    )
    sa.Table(
        "tenant_schedule",
        md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant", sa.String(), nullable=False),
        sa.Column("schedule_key", sa.Text(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_fire_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_job_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("tenant", name="uq_tenant_schedule_tenant"),
    )
    sa.Table(
        "queue_worker",
        md,
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("worker_id", sa.BigInteger(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("concurrency", sa.Integer(), nullable=False),
        sa.Column("queues", sa.String(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("worker_id", name="uq_queue_worker_id"),
    )
    md.create_all(conn)
