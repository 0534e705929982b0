"""CSV files of the insights (``findings.csv``, ``readiness.csv``, ``burndown.csv``): written atomically, every
text cell neutralized against spreadsheet formulas (the report's own CSV conventions)."""

import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from connector.artifacts.safety import atomic_open
from connector.artifacts.sinks import csv_cell

__all__ = ["FINDINGS_COLUMNS", "finding_rows", "write_csv"]

FINDINGS_COLUMNS = (
    "id",
    "tenant",
    "severity",
    "kind",
    "account",
    "window_start",
    "window_end",
    "summary",
    "action",
    "evidence",
    "first_seen_at",
    "last_seen_at",
    "acknowledged_at",
    "ack_note",
)


def finding_rows(rows: Iterable[Any]) -> list[tuple[Any, ...]]:
    return [
        (
            r.id,
            r.tenant,
            r.severity,
            r.kind,
            r.account,
            r.window_start,
            r.window_end,
            r.summary,
            r.action,
            json.dumps(json.loads(r.evidence), sort_keys=True),
            r.first_seen_at,
            r.last_seen_at,
            r.acknowledged_at,
            r.ack_note,
        )
        for r in rows
    ]


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """UTF-8, header row, RFC 4180 quoting, CRLF line ends; appears only once complete."""
    with atomic_open(path, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([csv_cell(v) for v in row] for row in rows)
    return path
