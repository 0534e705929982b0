"""Moved to :mod:`connector.store.readside.kpi` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.kpi import (
    flyout,
    kpi_history,
    latest_kpi,
)

__all__ = [
    "flyout",
    "kpi_history",
    "latest_kpi",
]
