"""Moved to :mod:`connector.store.readside.params` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.params import *  # noqa: F403
from connector.store.readside.params import __all__ as __all__
