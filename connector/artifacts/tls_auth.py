"""Moved to :mod:`connector.store.readside.tls_auth` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.tls_auth import (
    auth_by_sender,
    auth_subquery,
    imported_subquery,
    tls_by_sender,
    tls_rows,
    tls_subquery,
)

__all__ = [
    "auth_by_sender",
    "auth_subquery",
    "imported_subquery",
    "tls_by_sender",
    "tls_rows",
    "tls_subquery",
]
