"""Moved to :mod:`connector.store.readside.sql` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.sql import *  # noqa: F403
from connector.store.readside.sql import __all__ as __all__
