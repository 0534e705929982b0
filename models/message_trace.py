"""Graph message trace (``/admin/exchange/tracing/messageTraces``).

``message_trace``: one row per (tenant, trace_id). Graph returns one row per sender/recipient pair, so the
volume of a sender is ``COUNT(DISTINCT message_id)``, never ``COUNT(*)``: the index
``ix_message_trace_sender`` serves exactly that query.
"""

from datetime import date, datetime

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from models._types import UTCDateTime

__all__ = ["MessageTrace"]


class MessageTrace(SQLModel, table=True):
    """One message trace row (a message to one recipient)."""

    __tablename__ = "message_trace"
    __table_args__ = (
        UniqueConstraint("tenant", "trace_id", name="uq_message_trace_key"),
        Index("ix_message_trace_sender", "tenant", "sender_address", "received_at", "message_id"),
        Index("ix_message_trace_time", "tenant", "received_at"),
        # rows not yet marked for the sender's sign-in IPs (imports, older versions): the next sync marks them
        Index(
            "ix_message_trace_unmarked",
            "tenant",
            "sender_address",
            sqlite_where=text("from_smtp_signin_ip IS NULL"),
            postgresql_where=text("from_smtp_signin_ip IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    tenant: str
    #: the Graph ``id`` of the trace row
    trace_id: str
    #: the Internet Message-ID header (shared by every recipient row of one message)
    message_id: str | None = Field(default=None, sa_type=Text)
    #: lower-cased
    sender_address: str
    recipient_address: str | None = None
    received_at: datetime = Field(sa_type=UTCDateTime)
    #: lower-cased (``delivered``, ``failed``, ``filteredasspam``, ... unknown values kept)
    status: str | None = None
    size: int | None = Field(default=None, sa_type=BigInteger)
    subject: str | None = Field(default=None, sa_type=Text)
    from_ip: str | None = None
    to_ip: str | None = None
    #: set by the correlation job: the sender had an Authenticated SMTP sign-in from ``from_ip`` near this
    #: time (None until computed; the normalizer never sets it, so a re-sync does not erase it)
    from_smtp_signin_ip: bool | None = None
    #: UTC date of ``received_at`` (filled on write: ``connector.store.derived``)
    utc_day: date | None = None
    #: lower-cased part after the last '@' of ``sender_address``, None without '@' (filled on write)
    sender_domain: str | None = None
