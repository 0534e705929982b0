"""Moved to :mod:`connector.store.readside.volume` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.volume import *  # noqa: F403
from connector.store.readside.volume import __all__ as __all__
