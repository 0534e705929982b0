"""The insights step of a sync: detect for each synced tenant, then deliver queued notifications.

It runs after the tenants' data is stored, so nothing it does can lose synced data: a detection error is logged
for that tenant and a delivery failure is recorded on its notification row (retried by the next run).
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from connector.config import Settings
from connector.errors import StorageError
from connector.insights.detect import DetectionResult, run_detection
from connector.notify import DispatchResult, channels_of, dispatch
from connector.store.store import Store

__all__ = ["InsightsOutcome", "run_insights_step"]

log = logging.getLogger(__name__)


@dataclass
class InsightsOutcome:
    results: list[DetectionResult] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    notifications: DispatchResult | None = None


def run_insights_step(
    settings: Settings, store: Store, tenants: Sequence[str], *, now: datetime, deliver: bool = True
) -> InsightsOutcome:
    """Detect and notify (``deliver`` False: detect and queue only); never raises for a detection or a delivery."""
    out = InsightsOutcome()
    if not settings.insights.enabled:
        return out
    channels = channels_of(settings.notify)
    for tenant in tenants:
        try:
            out.results.append(run_detection(store, settings.insights, tenant, now, channels=channels))
        except (StorageError, SQLAlchemyError) as exc:
            out.errors[tenant] = str(exc)
            log.exception("insights for %s failed", tenant)
    if not deliver or not tenants:
        return out
    try:
        out.notifications = dispatch(store, settings.notify, now=now, tenants=list(tenants))
    except (StorageError, SQLAlchemyError):
        log.exception("notifications could not be read or recorded")
    return out
