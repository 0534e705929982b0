"""Exchange Online: the detailed SMTP AUTH report (``SmtpCSReport``), its jobs, config posture, imports.

Tables:

``smtp_cs_report_row``
    One row per (tenant, occurred_at, sender_address, message_id) of a downloaded ``SmtpCSReport`` file. Jobs
    with overlapping date ranges deliver the same rows again: the key absorbs them; a client that re-submits a
    message with the same Message-ID at another time is a second submission and a second row.
``historical_search_job``
    Our own record of ``Start-HistoricalSearch`` jobs, one row per (tenant, job_id): the range and senders searched,
    what Exchange said, and how the file was loaded (downloaded, or handed back by an admin when its ``FileUrl``
    wants a browser session: status ``WaitingForAdmin``). The download link is never stored.
``mailbox_smtp_posture``
    ``Get-CASMailbox`` ``SmtpClientAuthenticationDisabled`` per mailbox, one row per (tenant, snapshot_date,
    user_principal_name).
``transport_config_snapshot``
    ``Get-TransportConfig`` org-wide setting, one row per (tenant, snapshot_date).
``imported_tls_aggregate``
    Rows of the EAC "SMTP AUTH clients" Export CSV handed over by an admin, one row per (tenant, period_start,
    period_end, sender_address).
"""

from datetime import date, datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = [
    "HistoricalSearchJob",
    "ImportedTlsAggregate",
    "MailboxSmtpPosture",
    "SmtpCsReportRow",
    "TransportConfigSnapshot",
]


class SmtpCsReportRow(SQLModel, table=True):
    """One submission in an ``SmtpCSReport`` file: exact TLS version, cipher, auth method and client IP."""

    __tablename__ = "smtp_cs_report_row"
    __table_args__ = (
        UniqueConstraint("tenant", "occurred_at", "sender_address", "message_id", name="uq_smtp_cs_report_row_key"),
        Index("ix_smtp_cs_report_row_sender", "tenant", "sender_address", "occurred_at"),
        Index("ix_smtp_cs_report_row_domain", "tenant", "sender_domain", "occurred_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    #: the file's ``date`` column (a date-only value is midnight UTC)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    #: lower-cased
    sender_address: str
    sender_domain: str | None = None
    auth_method: str | None = None
    client_ip: str | None = None
    tls_version: str | None = None
    tls_cipher: str | None = None
    message_count: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    message_id: str = Field(sa_type=Text)
    #: the historical search job whose file delivered the row
    job_id: str | None = None
    #: UTC date of ``occurred_at`` (filled on write: ``connector.store.derived``)
    utc_day: date | None = None
    #: ``TLS1.0`` ... ``TLS1.3`` or ``unknown`` for any spelling of ``tls_version`` (filled on write)
    tls_bucket: str | None = None
    #: ``Basic``, ``OAuth`` or ``unknown`` for ``auth_method`` (filled on write)
    auth_bucket: str | None = None


class HistoricalSearchJob(SQLModel, table=True):
    """A queued ``SmtpCSReport`` historical search and what became of it."""

    __tablename__ = "historical_search_job"
    __table_args__ = (UniqueConstraint("tenant", "job_id", name="uq_historical_search_job_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    job_id: str
    report_title: str | None = None
    start_date: datetime = Field(sa_type=UTCDateTime)
    end_date: datetime = Field(sa_type=UTCDateTime)
    #: Exchange status as reported (NotStarted, InProgress, Done, Failed, ...), unknown values kept
    status: str
    submitted_at: datetime = Field(sa_type=UTCDateTime)
    checked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    file_rows: int | None = None
    downloaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    loaded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: download attempts (a file can be downloaded only ~20 times)
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    error: str | None = Field(default=None, sa_type=Text)
    #: JSON array of the SenderAddress values of the search (at most 100), lower-cased
    sender_addresses: str | None = Field(default=None, sa_type=Text)
    #: JSON array of the NotifyAddress values (who Exchange e-mails when the file is ready)
    notify_addresses: str | None = Field(default=None, sa_type=Text)
    #: how the file was loaded: download (by smtpauth), upload / import / inbox (handed back by an admin)
    loaded_via: str | None = None
    #: SHA-256 of the file that was loaded
    file_sha256: str | None = None


class MailboxSmtpPosture(SQLModel, table=True):
    """Whether a mailbox may use SMTP AUTH, from ``Get-CASMailbox``."""

    __tablename__ = "mailbox_smtp_posture"
    __table_args__ = (
        UniqueConstraint("tenant", "snapshot_date", "user_principal_name", name="uq_mailbox_smtp_posture_key"),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    snapshot_date: date
    #: lower-cased
    user_principal_name: str
    #: lower-cased
    primary_smtp_address: str | None = None
    #: True (off), False (on), None (inherits the organization setting)
    smtp_client_auth_disabled: bool | None = None
    #: the mailbox can use SMTP AUTH (mailbox setting wins over the org setting); None when it inherits an org
    #: value that is unknown
    effective_enabled: bool | None = None


class TransportConfigSnapshot(SQLModel, table=True):
    """The organization-wide ``Get-TransportConfig`` settings that matter for SMTP AUTH."""

    __tablename__ = "transport_config_snapshot"
    __table_args__ = (UniqueConstraint("tenant", "snapshot_date", name="uq_transport_config_snapshot_key"),)

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    snapshot_date: date
    smtp_client_auth_disabled: bool
    allow_legacy_tls_clients: bool | None = None


class ImportedTlsAggregate(SQLModel, table=True):
    """One sender line of an EAC "SMTP AUTH clients" Export file imported from disk."""

    __tablename__ = "imported_tls_aggregate"
    __table_args__ = (
        UniqueConstraint(
            "tenant", "period_start", "period_end", "sender_address", name="uq_imported_tls_aggregate_key"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    period_start: date
    period_end: date
    #: lower-cased
    sender_address: str
    domain: str | None = None
    tls10_pct: float | None = None
    tls11_pct: float | None = None
    tls12_pct: float | None = None
    messages: int | None = None
    auth_protocol: str | None = None
    source_file_sha256: str
