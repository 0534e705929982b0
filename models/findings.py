"""Insights: unusual SMTP AUTH activity found in the stored data, and the notifications sent about it.

``finding``
    One row per (tenant, kind, account, window_start). Detection runs after every sync; a finding found again
    updates its row (window end, severity, evidence) and keeps ``acknowledged_at``. ``account`` is a lower-cased
    address, or for a finding about a source across accounts (a password spray) the source IP address.
``finding_notification``
    One row per (finding, channel): a notification queued when the finding became high severity, its attempts
    and the last error. A failed delivery stays ``failed`` and is retried by the next run.
"""

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["FINDING_KINDS", "NOTIFICATION_STATUSES", "SEVERITIES", "Finding", "FindingNotification"]

#: values of ``finding.kind``
FINDING_KINDS = (
    "volume_spike",
    "first_time_sender",
    "new_origin",
    "password_spray",
    "brute_force",
    "off_hours_sending",
    "external_domains",
    "tls_downgrade",
)
#: values of ``finding.severity``, least severe first
SEVERITIES = ("low", "medium", "high")
#: values of ``finding_notification.status``
NOTIFICATION_STATUSES = ("pending", "sent", "failed", "gave_up", "skipped")


class Finding(SQLModel, table=True):
    """Something unusual in one account's SMTP AUTH activity, with the evidence and what to do."""

    __tablename__ = "finding"
    __table_args__ = (
        UniqueConstraint("tenant", "kind", "account", "window_start", name="uq_finding_key"),
        Index("ix_finding_tenant_severity", "tenant", "severity", "last_seen_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    #: one of FINDING_KINDS
    kind: str
    #: lower-cased address (or the source IP of a finding across accounts)
    account: str
    window_start: datetime = Field(sa_type=UTCDateTime)
    window_end: datetime = Field(sa_type=UTCDateTime)
    #: one of SEVERITIES
    severity: str
    summary: str = Field(sa_type=Text)
    #: JSON: the counts and row ids the finding rests on, and report links (sender, dates)
    evidence: str = Field(sa_type=Text)
    action: str = Field(sa_type=Text)
    first_seen_at: datetime = Field(sa_type=UTCDateTime)
    last_seen_at: datetime = Field(sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ack_note: str | None = Field(default=None, sa_type=Text)


class FindingNotification(SQLModel, table=True):
    """One channel's delivery of one finding."""

    __tablename__ = "finding_notification"
    __table_args__ = (UniqueConstraint("finding_id", "channel", name="uq_finding_notification_key"),)

    id: int | None = Field(default=None, primary_key=True)
    finding_id: int = Field(foreign_key="finding.id", ondelete="CASCADE")
    #: ``email`` or ``webhook``
    channel: str
    #: one of NOTIFICATION_STATUSES
    status: str
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    queued_at: datetime = Field(sa_type=UTCDateTime)
    last_attempt_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    error: str | None = Field(default=None, sa_type=Text)
