"""Moved to :mod:`connector.store.readside.coverage` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.coverage import (
    SECTION_SOURCES,
    CoverageRow,
    coverage_rows,
    empty_reason,
)

__all__ = [
    "SECTION_SOURCES",
    "CoverageRow",
    "coverage_rows",
    "empty_reason",
]
