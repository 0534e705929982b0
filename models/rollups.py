"""Rollups: what the reads need, counted once when the rows arrive (derived data; the raw rows stay the truth).

``rollup_sender_day``
    One row per (tenant, utc_day, sender_address) that has any message-trace row, SmtpCSReport row or sign-in:
    per source the row count and the messages (message trace: ``COUNT(DISTINCT coalesce(message_id, trace_id))``,
    all rows and only rows from a sign-in IP; SmtpCSReport: ``SUM(message_count)`` per TLS and auth bucket),
    successful, failed and blocked sign-ins, distinct sign-in IPs and countries. Sign-ins count under the
    account's user principal name (``''`` when Graph gave none).
``rollup_sender_month``
    One row per (tenant, calendar month, sender_address) with a ``rollup_sender_day`` row: the same figures summed
    over the month, so that a range's whole months are read as one row per sender instead of one per day. The
    sending volume's per-day choice of source is kept exact: the SmtpCSReport part counts the sender's days with
    SmtpCSReport rows, the message-trace part only the days of the month that rest on no SmtpCSReport at all (no
    sender of the tenant has SmtpCSReport rows that day, ``rollup_day.cs_rows = 0``); whether the sender counts as
    an SMTP AUTH sender is decided when reading, as for single days.
``rollup_sender_week``
    The same per ISO week (Monday to Sunday): a range's whole weeks outside its whole months (most of a 30-day range,
    the partial months at the ends of a longer one) are read one row per sender and week.
``rollup_domain_day``
    The sender-day rows of one (tenant, utc_day) summed per sender domain: SmtpCSReport messages of the senders
    with SmtpCSReport rows (``part`` ``cs`` by the sender's domain, ``cs_file`` by the file's domain column
    lower-cased for a sender without one), message-trace messages of every sender with message-trace rows
    (``trace``). The sending-volume chart reads it: the message-trace part of a day that rests on message trace
    counts only the SMTP AUTH senders, so the few other senders' days are subtracted when reading (which senders
    are known to use SMTP AUTH changes with later data, and is decided when reading, as for single days).
``rollup_sender_day_tls``
    SmtpCSReport messages per (tenant, utc_day, sender_address, tls_bucket, auth_bucket) (the BI fact).
``rollup_day``
    One row per (tenant, utc_day) with rows: the row counts per source (which days rest on SmtpCSReport rows,
    coverage) and when the day last changed (the insights step reads the days changed since its last run).
``rollup_sender``
    One row per (tenant, sender_address) with any row: on how many days it sent, signed in successfully or
    appeared in an SmtpCSReport, and its first and last day.
``rollup_sender_hour``
    Message-trace messages per (tenant, utc_day, sender_address, UTC hour): the insights' hour profiles.
``rollup_sender_recipient_domain``
    Message-trace messages per (tenant, utc_day, sender_address, recipient domain) (rows whose recipient has a
    domain): the insights' external-domain profiles.
``rollup_signin_origin``
    Sign-ins with an account per (tenant, utc_day, user_principal_name, ip_address, country, error_code), with the
    first and last time (``''`` stands for a missing IP or country, -1 for a missing error code): the insights'
    origins and failures, readiness's client IPs.

Maintained in the transaction that writes the raw rows (``connector.store.rollups``); rebuilt from the raw rows
by ``smtpauth rollups rebuild``.
"""

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = [
    "DayRollup",
    "DomainDayRollup",
    "RecipientDomainRollup",
    "SenderDayRollup",
    "SenderDayTlsRollup",
    "SenderHourRollup",
    "SenderMonthRollup",
    "SenderRollup",
    "SenderWeekRollup",
    "SigninOriginRollup",
]


def _count() -> int:
    return Field(default=0, sa_column_kwargs={"server_default": "0"})  # type: ignore[no-any-return]


class SenderDayRollup(SQLModel, table=True):
    """One sender's day, every source counted."""

    __tablename__ = "rollup_sender_day"
    __table_args__ = (Index("ix_rollup_sender_day_sender", "tenant", "sender_address", "utc_day"),)

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)
    #: lower-cased part after the last '@' of the address, None without '@'
    sender_domain: str | None = None
    trace_rows: int = _count()
    #: distinct messages (``coalesce(message_id, trace_id)``)
    trace_messages: int = _count()
    #: distinct messages of the rows sent from one of the sender's SMTP sign-in IPs
    trace_signin_ip_messages: int = _count()
    #: the UTC hours with message-trace rows, bit ``h`` for hour ``h`` (0-23)
    trace_hour_mask: int = _count()
    #: distinct messages per UTC hour, summed over the day's hours (``rollup_sender_hour.messages`` summed)
    trace_hour_messages: int = _count()
    cs_rows: int = _count()
    #: ``SUM(message_count)``
    cs_messages: int = _count()
    cs_tls10: int = _count()
    cs_tls11: int = _count()
    cs_tls12: int = _count()
    cs_tls13: int = _count()
    cs_tls_unknown: int = _count()
    cs_basic: int = _count()
    cs_oauth: int = _count()
    cs_auth_unknown: int = _count()
    #: ``max(sender_domain)`` of the SmtpCSReport rows as stored (the file's domain column)
    cs_file_domain: str | None = None
    #: ``max(client_ip)`` of the TLS 1.0/1.1 rows
    cs_legacy_client_ip: str | None = None
    signin_rows: int = _count()
    signins_ok: int = _count()
    #: ``error_code <> 0`` (a sign-in without an error code is neither)
    signins_failed: int = _count()
    #: failed with AADSTS 50057, 50053 or 53003 (account disabled or blocked)
    signins_blocked: int = _count()
    signin_last_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    signin_ips: int = _count()
    signin_countries: int = _count()


class _SenderPeriodFigures(SQLModel):
    """A sender's figures over a period of days: its sender-day rows summed (derived from ``rollup_sender_day`` and
    ``rollup_day``)."""

    #: as on the sender's days (a function of the address)
    sender_domain: str | None = None
    #: days with SmtpCSReport rows, and their figures (as on ``rollup_sender_day``)
    cs_days: int = _count()
    cs_messages: int = _count()
    cs_tls10: int = _count()
    cs_tls11: int = _count()
    cs_tls12: int = _count()
    cs_tls13: int = _count()
    cs_tls_unknown: int = _count()
    cs_basic: int = _count()
    cs_oauth: int = _count()
    cs_auth_unknown: int = _count()
    #: ``max(cs_file_domain)`` of those days
    cs_file_domain: str | None = None
    #: ``max(coalesce(sender_domain, lower(cs_file_domain)))`` of those days: the sending volume's domain
    cs_volume_domain: str | None = None
    #: days resting on no SmtpCSReport (``rollup_day.cs_rows = 0``) with message-trace messages, and those messages
    trace_days: int = _count()
    trace_messages: int = _count()
    #: the same with messages from the sender's SMTP sign-in IPs (``trace_signin_ip_messages``)
    trace_ip_days: int = _count()
    trace_ip_messages: int = _count()
    #: days with sign-ins, and their figures
    signin_days: int = _count()
    signins_ok: int = _count()
    signins_failed: int = _count()
    signins_blocked: int = _count()
    signin_last_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: the last day with messages (message trace or SmtpCSReport, as on the sender-day row) or a successful sign-in
    last_active_day: date | None = None


class SenderMonthRollup(_SenderPeriodFigures, table=True):
    """One sender's calendar month."""

    __tablename__ = "rollup_sender_month"

    tenant: str = Field(primary_key=True)
    #: the month's first day
    month: date = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)


class SenderWeekRollup(_SenderPeriodFigures, table=True):
    """One sender's ISO week (Monday to Sunday)."""

    __tablename__ = "rollup_sender_week"

    tenant: str = Field(primary_key=True)
    #: the week's Monday
    week: date = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)


class DomainDayRollup(SQLModel, table=True):
    """One tenant's day per sender domain and part: its sender-day rows summed."""

    __tablename__ = "rollup_domain_day"

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    #: ``cs`` (SmtpCSReport, by the sender's domain), ``cs_file`` (SmtpCSReport of senders without a domain, by the
    #: file's domain column lower-cased), ``trace`` (message trace, by the sender's domain)
    part: str = Field(primary_key=True)
    #: 0: no domain (``domain`` is ``''``), 1: ``domain`` (which may itself be ``''``: an address ending in '@')
    has_domain: int = Field(primary_key=True)
    domain: str = Field(primary_key=True)
    #: sender-day rows summed
    senders: int = _count()
    #: of them, rows with messages from a sign-in IP (``trace_signin_ip_messages > 0``; 0 in the SmtpCSReport parts)
    ip_senders: int = _count()
    #: ``cs_messages`` (SmtpCSReport parts) or ``trace_messages`` summed
    messages: int = _count()
    #: ``trace_signin_ip_messages`` summed (0 in the SmtpCSReport parts)
    ip_messages: int = _count()


class SenderDayTlsRollup(SQLModel, table=True):
    """SmtpCSReport messages of one sender's day per TLS and auth bucket."""

    __tablename__ = "rollup_sender_day_tls"

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)
    tls_bucket: str = Field(primary_key=True)
    auth_bucket: str = Field(primary_key=True)
    sender_domain: str | None = None
    cs_file_domain: str | None = None
    rows: int = _count()
    messages: int = _count()


class DayRollup(SQLModel, table=True):
    """One tenant's day: rows per source, and when it last changed."""

    __tablename__ = "rollup_day"
    __table_args__ = (Index("ix_rollup_day_changed", "tenant", "changed_at"),)

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    trace_rows: int = _count()
    cs_rows: int = _count()
    signin_rows: int = _count()
    senders: int = _count()
    changed_at: datetime = Field(sa_type=UTCDateTime)


class SenderRollup(SQLModel, table=True):
    """One sender over all stored days."""

    __tablename__ = "rollup_sender"

    tenant: str = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)
    sender_domain: str | None = None
    trace_days: int = _count()
    cs_days: int = _count()
    signin_ok_days: int = _count()
    first_day: date
    last_day: date


class SenderHourRollup(SQLModel, table=True):
    """One sender's messages in one UTC hour of one day."""

    __tablename__ = "rollup_sender_hour"

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)
    hour: int = Field(primary_key=True)
    rows: int = _count()
    #: distinct messages (``coalesce(message_id, trace_id)``)
    messages: int = _count()


class RecipientDomainRollup(SQLModel, table=True):
    """One sender's messages to one recipient domain on one day."""

    __tablename__ = "rollup_sender_recipient_domain"

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    sender_address: str = Field(primary_key=True)
    #: lower-cased part after the last '@' of the recipient
    recipient_domain: str = Field(primary_key=True)
    rows: int = _count()
    messages: int = _count()


class SigninOriginRollup(SQLModel, table=True):
    """An account's sign-ins from one IP and country with one error code on one day."""

    __tablename__ = "rollup_signin_origin"

    tenant: str = Field(primary_key=True)
    utc_day: date = Field(primary_key=True)
    user_principal_name: str = Field(primary_key=True)
    #: ``''`` for a sign-in without an IP address
    ip_address: str = Field(primary_key=True)
    #: ``''`` for a sign-in without a country
    country: str = Field(primary_key=True)
    #: -1 for a sign-in without an error code
    error_code: int = Field(primary_key=True)
    rows: int = _count()
    first_at: datetime = Field(sa_type=UTCDateTime)
    last_at: datetime = Field(sa_type=UTCDateTime)
