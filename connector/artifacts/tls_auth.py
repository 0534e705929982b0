"""Moved to :mod:`connector.store.readside.tls_auth` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.tls_auth import *  # noqa: F403
from connector.store.readside.tls_auth import __all__ as __all__
