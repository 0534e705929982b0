"""Moved to :mod:`connector.store.readside.accounts` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.accounts import *  # noqa: F403
from connector.store.readside.accounts import __all__ as __all__
