"""Moved to :mod:`connector.store.readside.volume` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.volume import (
    SOURCE_SMTP_CS,
    SOURCE_TRACE,
    smtp_cs_days,
    smtp_senders,
    volume_by_domain_day,
    volume_by_sender_day,
    volume_by_sender_total,
    volume_sender_day_subquery,
)

__all__ = [
    "SOURCE_SMTP_CS",
    "SOURCE_TRACE",
    "smtp_cs_days",
    "smtp_senders",
    "volume_by_domain_day",
    "volume_by_sender_day",
    "volume_by_sender_total",
    "volume_sender_day_subquery",
]
