"""Deliver the queued notifications; a failure is recorded on its row and retried by the next run, never
raised to the sync."""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from connector.config import NotifySettings
from connector.insights.store import ft, nt
from connector.notify.channels import NotifyError, send_email, send_webhook
from connector.notify.message import Notice, notice_from_row
from connector.store.store import Store

__all__ = ["DispatchResult", "channels_of", "dispatch"]

log = logging.getLogger(__name__)

_SENDERS: dict[str, Callable[[NotifySettings, Notice], None]] = {"email": send_email, "webhook": send_webhook}


def channels_of(cfg: NotifySettings) -> tuple[str, ...]:
    """The channels configured: ``email`` when a relay is set, ``webhook`` when a URL variable is named."""
    return tuple(c for c, on in (("email", bool(cfg.smtp_host)), ("webhook", bool(cfg.webhook_url_env))) if on)


@dataclass
class DispatchResult:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def dispatch(store: Store, cfg: NotifySettings, *, now: datetime, tenants: list[str] | None = None) -> DispatchResult:
    """Send every pending or failed notification of a configured channel (at most ``max_attempts`` each)."""
    result = DispatchResult()
    channels = channels_of(cfg)
    if not channels:
        return result
    q = (
        sa.select(nt.c.id.label("nid"), nt.c.channel, nt.c.attempts, ft)
        .join(ft, ft.c.id == nt.c.finding_id)
        .where(nt.c.status.in_(["pending", "failed"]), nt.c.channel.in_(channels), ft.c.acknowledged_at.is_(None))
        .order_by(nt.c.id)
    )
    if tenants:
        q = q.where(ft.c.tenant.in_(tenants))
    with store.read() as conn:
        queued = list(conn.execute(q))
    for row in queued:
        error: str | None = None
        try:
            _SENDERS[row.channel](cfg, notice_from_row(row))
        except NotifyError as exc:
            error = str(exc)
        attempts = row.attempts + 1
        if error is None:
            values: dict[str, object] = {"status": "sent", "sent_at": now, "error": None}
            result.sent += 1
        else:
            values = {"status": "gave_up" if attempts >= cfg.max_attempts else "failed", "error": error}
            result.failed += 1
            result.errors.append(f"{row.channel} for finding #{row.id}: {error}")
            log.warning("notification %s for finding #%s failed (attempt %d): %s", row.channel, row.id, attempts, error)
        with store.transaction() as conn:
            conn.execute(nt.update().where(nt.c.id == row.nid).values(attempts=attempts, last_attempt_at=now, **values))
    return result
