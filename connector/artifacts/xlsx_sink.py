"""The XLSX workbook: a sheet per table, typed cells, frozen header row, streamed (XlsxWriter constant memory)."""

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]

from connector.artifacts.safety import atomic_path, neutralize
from connector.artifacts.tables import TableSpec

__all__ = ["XLSX_NAME", "XlsxSink"]

XLSX_NAME = "smtp_auth_report.xlsx"
_WIDTH = {"date": 12, "datetime": 20, "int": 12, "float": 10, "bool": 8, "text": 28}


class XlsxSink:
    def __init__(self, folder: Path) -> None:
        self.final = folder / XLSX_NAME
        self._ctx = atomic_path(self.final)
        tmp = self._ctx.__enter__()
        # constant_memory: rows are flushed as they are written; no string ever becomes a formula, URL or number
        self.book = xlsxwriter.Workbook(
            str(tmp),
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
                "remove_timezone": True,
            },
        )
        self._bold = self.book.add_format({"bold": True})
        self._date = self.book.add_format({"num_format": "yyyy-mm-dd"})
        self._datetime = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._sheet: Any = None
        self._row = 0

    def begin(self, table: TableSpec) -> None:
        sheet = self.book.add_worksheet(table.name[:31])
        for i, col in enumerate(table.columns):
            sheet.set_column(i, i, _WIDTH[col.type])
        sheet.write_row(0, 0, [c.label for c in table.columns], self._bold)
        sheet.freeze_panes(1, 0)
        self._sheet, self._row = sheet, 1

    def write(self, table: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
        sheet = self._sheet
        for row in rows:
            r = self._row
            for c, value in enumerate(row):
                if value is None:
                    continue
                if isinstance(value, bool):
                    sheet.write_boolean(r, c, value)
                elif isinstance(value, int | float):
                    sheet.write_number(r, c, value)
                elif isinstance(value, datetime):
                    sheet.write_datetime(r, c, value.astimezone(UTC).replace(tzinfo=None), self._datetime)
                elif isinstance(value, date):
                    sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), self._date)
                else:
                    sheet.write_string(r, c, neutralize(str(value)))
            self._row += 1

    def end(self, table: TableSpec) -> None:
        if self._row > 1:
            self._sheet.autofilter(0, 0, self._row - 1, len(table.columns) - 1)

    def close(self) -> list[Path]:
        self.book.close()
        self._ctx.__exit__(None, None, None)
        return [self.final]

    def abort(self) -> None:
        try:
            self.book.close()
        finally:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)
