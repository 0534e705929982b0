"""Reads of the config-posture tables that imports need."""

from datetime import date

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from models import TransportConfigSnapshot

__all__ = ["org_smtp_auth_disabled"]

_snapshot: sa.Table = TransportConfigSnapshot.__table__  # type: ignore[attr-defined]


def org_smtp_auth_disabled(conn: Connection, tenant: str, day: date) -> bool | None:
    """The org-wide ``SmtpClientAuthenticationDisabled`` of the newest snapshot on or before ``day``, if any."""
    query = (
        sa.select(_snapshot.c.smtp_client_auth_disabled)
        .where(_snapshot.c.tenant == tenant, _snapshot.c.snapshot_date <= day)
        .order_by(_snapshot.c.snapshot_date.desc())
        .limit(1)
    )
    value = conn.execute(query).scalar_one_or_none()
    return None if value is None else bool(value)
