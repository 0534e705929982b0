"""Moved to :mod:`connector.store.readside.findings` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.findings import (
    findings_in_range,
)

__all__ = [
    "findings_in_range",
]
