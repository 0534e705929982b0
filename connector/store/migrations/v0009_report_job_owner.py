"""Migration 9: ``report_job.worker_owner``, the process that runs a report job (``connector.store.owner``).

Recovery used to check the bare worker pid, which the kernel reuses: after a reboot or a long uptime, a job whose
worker died could look alive forever. The owner names host, boot, pid and process start time, so a reused pid is
never taken for the worker. Jobs claimed before this migration keep the pid check.

Frozen DDL: never import the current models here.
"""

from sqlalchemy.engine import Connection

__all__ = ["DESCRIPTION", "upgrade"]

DESCRIPTION = "report_job.worker_owner: the process running a report job"


def upgrade(conn: Connection) -> None:
    conn.exec_driver_sql("ALTER TABLE report_job ADD COLUMN worker_owner VARCHAR")
