"""Moved to :mod:`connector.store.readside.accounts` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.accounts import (
    ACTIONS,
    STATUSES,
    accounts,
)

__all__ = [
    "ACTIONS",
    "STATUSES",
    "accounts",
]
