"""Report artifacts: what admins look at and what BI tools read, built from the database only.

A *source* is an input we pull from Microsoft; an *artifact* is a file we produce. ``build_report`` writes, for one
tenant and date range, the CSV files (stable names and columns, see ``docs/artifacts.md``), one XLSX workbook,
Parquet files, one offline HTML page and ``summary.json``. Every figure is aggregated in SQL.
"""

from connector.artifacts.build import BuildResult, build_report, run_queries
from connector.artifacts.tables import COVERAGE_TABLE, TABLES, TableSpec
from connector.store.readside.params import ReportParams, parse_date, parse_formats, parse_granularity

__all__ = [
    "COVERAGE_TABLE",
    "TABLES",
    "BuildResult",
    "ReportParams",
    "TableSpec",
    "build_report",
    "parse_date",
    "parse_formats",
    "parse_granularity",
    "run_queries",
]
