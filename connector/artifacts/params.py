"""Moved to :mod:`connector.store.readside.params` (the one home of the read-side SQL); kept for imports."""

from connector.store.readside.params import (
    ReportParams,
    parse_date,
    parse_formats,
)

__all__ = [
    "ReportParams",
    "parse_date",
    "parse_formats",
]
