"""Entra ID sign-in logs filtered on ``clientAppUsed eq 'Authenticated SMTP'``.

``signin``: one row per (tenant, signin_id); ``signin_id`` is the Graph sign-in ``id``, so re-reading an
overlapping window (sign-ins arrive late) updates rows instead of duplicating them.
"""

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["SignIn"]


class SignIn(SQLModel, table=True):
    """One Authenticated SMTP (Basic auth) sign-in. ``error_code == 0`` is a success."""

    __tablename__ = "signin"
    __table_args__ = (
        UniqueConstraint("tenant", "signin_id", name="uq_signin_key"),
        Index("ix_signin_user_time", "tenant", "user_principal_name", "created_at"),
        Index("ix_signin_time", "tenant", "created_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    #: the Graph sign-in ``id``
    signin_id: str
    created_at: datetime = Field(sa_type=UTCDateTime)
    #: lower-cased
    user_principal_name: str | None = None
    user_id: str | None = None
    user_display_name: str | None = None
    app_id: str | None = None
    app_display_name: str | None = None
    ip_address: str | None = None
    client_app_used: str | None = None
    error_code: int | None = None
    failure_reason: str | None = Field(default=None, sa_type=Text)
    additional_details: str | None = Field(default=None, sa_type=Text)
    country: str | None = None
    state: str | None = None
    city: str | None = None
    conditional_access_status: str | None = None
    is_interactive: bool | None = None
    risk_level_aggregated: str | None = None
    risk_level_during_signin: str | None = None
    risk_state: str | None = None
    risk_detail: str | None = None
    resource_display_name: str | None = None
    correlation_id: str | None = None
    #: beta only
    user_agent: str | None = Field(default=None, sa_type=Text)
    #: beta only
    authentication_protocol: str | None = None
    #: UTC date of ``created_at`` (filled on write: ``connector.store.derived``)
    utc_day: date | None = None
