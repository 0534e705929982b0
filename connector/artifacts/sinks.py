"""Where the rows of each table go: one sink per format, fed the same batches (each query runs once)."""

import contextlib
import csv
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from connector.artifacts.safety import atomic_open, neutralize
from connector.artifacts.tables import TableSpec

__all__ = ["CsvSink", "Sink", "csv_cell"]


class Sink(Protocol):
    def begin(self, table: TableSpec) -> None: ...

    def write(self, table: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None: ...

    def end(self, table: TableSpec) -> None: ...

    def close(self) -> list[Path]:
        """Finish every file (atomically) and return the paths written."""
        ...

    def abort(self) -> None:
        """Drop whatever was started; no artifact appears."""
        ...


def csv_cell(value: Any) -> str:
    """One CSV cell: ISO dates, ``true``/``false``, empty for None, text neutralized."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    return neutralize(str(value))


class CsvSink:
    """``<table>.csv`` per table: UTF-8, header row, RFC 4180 quoting, CRLF line ends."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.paths: list[Path] = []
        self._stack = contextlib.ExitStack()
        self._writer: Any = None
        self._open: dict[str, contextlib.ExitStack] = {}

    def begin(self, table: TableSpec) -> None:
        stack = contextlib.ExitStack()
        fh: IO[str] = stack.enter_context(atomic_open(self.folder / f"{table.name}.csv", newline=""))
        self._open[table.name] = stack
        self._writer = csv.writer(fh, lineterminator="\r\n")
        self._writer.writerow(table.column_names)

    def write(self, table: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
        self._writer.writerows([csv_cell(v) for v in row] for row in rows)

    def end(self, table: TableSpec) -> None:
        self._open.pop(table.name).close()
        self.paths.append(self.folder / f"{table.name}.csv")

    def close(self) -> list[Path]:
        return list(self.paths)

    def abort(self) -> None:
        for stack in self._open.values():
            with contextlib.suppress(Exception):
                stack.__exit__(RuntimeError, RuntimeError("aborted"), None)
        self._open.clear()
