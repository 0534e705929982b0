"""The XLSX workbook: a sheet per table, typed cells, frozen header row with a filter, streamed.

Written as SpreadsheetML directly (ECMA-376 / ISO/IEC 29500, the parts a workbook needs: content types, the
workbook and its relationships, one style sheet, one worksheet per table): each sheet's XML is streamed into its
ZIP entry row by row as the table's batches arrive, so memory holds one batch and a 100,000-row table costs about
what its CSV costs. Every string is an inline string (never a formula, a URL or a number), and cells starting
with = + - @ are neutralized as in the CSV files.

Cell types: integers and floats are numbers, booleans are booleans, dates and datetimes are Excel serial numbers
(1900 date system, UTC, no time zone) with a ``yyyy-mm-dd`` or ``yyyy-mm-dd hh:mm:ss`` format, everything else
text. ``None`` leaves the cell empty.
"""

import logging
import math
import re
import zipfile
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from connector.artifacts.safety import atomic_path, neutralize
from connector.artifacts.tables import TableSpec

__all__ = ["MAX_ROWS", "XLSX_NAME", "XlsxSink"]

log = logging.getLogger(__name__)

XLSX_NAME = "smtp_auth_report.xlsx"
#: rows of a worksheet (Excel's limit), header included
MAX_ROWS = 1_048_576
#: characters of a cell (Excel's limit)
MAX_CHARS = 32_767
_WIDTH = {"date": 12, "datetime": 20, "int": 12, "float": 10, "bool": 8, "text": 28}
_EPOCH = datetime(1899, 12, 30)
_EPOCH_DAY = _EPOCH.date().toordinal()
#: style indexes of ``_STYLES``' cellXfs
_BOLD, _DATE, _DATETIME = 1, 2, 3

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_NS_R = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"

_STYLES = (
    f"{_HEAD}<styleSheet {_NS}>"
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy\\-mm\\-dd\\ hh:mm:ss"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill>'
    "</fills>"
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)

#: characters XML 1.0 cannot hold, written as Excel's ``_xHHHH_`` escapes (and ``_x`` itself escaped before them)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
_SPECIAL = re.compile(r"[&<>\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]|_x|^\s|\s$")


def _col_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _CONTROL.sub(lambda m: f"_x{ord(m.group()):04X}_", text)


def _attr(text: str) -> str:
    return _escape(text).replace('"', "&quot;")


def _string_cell(ref: str, value: str, style: str = "") -> str:
    text = neutralize(value)
    if len(text) > MAX_CHARS:
        text = text[:MAX_CHARS]
    if _SPECIAL.search(text) is None:
        return f'<c r="{ref}"{style} t="inlineStr"><is><t>{text}</t></is></c>'
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}"{style} t="inlineStr"><is><t{space}>{_escape(text)}</t></is></c>'


def _cell(ref: str, value: Any) -> str:
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f'<c r="{ref}"><v>{value}</v></c>'
    if isinstance(value, float):
        return f'<c r="{ref}"><v>{value!r}</v></c>' if math.isfinite(value) else ""
    if isinstance(value, datetime):
        moment = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo is not None else value
        delta = moment - _EPOCH
        serial = delta.days + (delta.seconds + delta.microseconds / 1e6) / 86400
        return f'<c r="{ref}" s="{_DATETIME}"><v>{serial!r}</v></c>'
    if isinstance(value, date):
        return f'<c r="{ref}" s="{_DATE}"><v>{value.toordinal() - _EPOCH_DAY}</v></c>'
    return _string_cell(ref, str(value))


class XlsxSink:
    def __init__(self, folder: Path) -> None:
        self.final = folder / XLSX_NAME
        self._ctx = atomic_path(self.final)
        tmp = self._ctx.__enter__()
        self._zip = zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED)
        self._sheets: list[tuple[str, int, str | None]] = []  # name, number, filter range
        self._out: IO[bytes] | None = None
        self._refs: list[str] = []
        self._row = 0
        self._dropped = 0

    def _put(self, text: str) -> None:
        if self._out is None:
            raise RuntimeError("XlsxSink: write before begin")
        self._out.write(text.encode("utf-8"))

    def begin(self, table: TableSpec) -> None:
        number = len(self._sheets) + 1
        self._out = self._zip.open(f"xl/worksheets/sheet{number}.xml", "w", force_zip64=True)
        self._sheets.append((table.name[:31], number, None))
        self._refs = [_col_name(i) for i in range(len(table.columns))]
        cols = "".join(
            f'<col min="{i}" max="{i}" width="{_WIDTH[c.type]}" customWidth="1"/>'
            for i, c in enumerate(table.columns, start=1)
        )
        header = "".join(
            _string_cell(f"{ref}1", name, f' s="{_BOLD}"')
            for ref, name in zip(self._refs, [c.label for c in table.columns], strict=True)
        )
        self._put(
            f"{_HEAD}<worksheet {_NS} {_NS_R}>"
            '<sheetViews><sheetView workbookViewId="0"'
            f"{' tabSelected=' + chr(34) + '1' + chr(34) if number == 1 else ''}>"
            '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            '<selection pane="bottomLeft"/></sheetView></sheetViews>'
            f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData><row r="1">{header}</row>'
        )
        self._row, self._dropped = 1, 0

    def write(self, table: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
        refs = self._refs
        parts: list[str] = []
        r = self._row
        for row in rows:
            if r >= MAX_ROWS:
                self._dropped += 1
                continue
            r += 1
            cells = "".join([_cell(f"{ref}{r}", v) for ref, v in zip(refs, row, strict=False) if v is not None])
            parts.append(f'<row r="{r}">{cells}</row>')
        self._row = r
        if parts:
            self._put("".join(parts))

    def end(self, table: TableSpec) -> None:
        name, number, _ = self._sheets[-1]
        filter_range = None
        tail = "</sheetData>"
        if self._row > 1:
            filter_range = f"A1:{self._refs[-1]}{self._row}"
            tail += f'<autoFilter ref="{filter_range}"/>'
        self._put(tail + "</worksheet>")
        if self._out is not None:
            self._out.close()
        self._out = None
        self._sheets[-1] = (name, number, filter_range)
        if self._dropped:
            log.warning(
                "%s: %d rows beyond Excel's %d rows per sheet left out of the workbook (the CSV file has them)",
                table.name,
                self._dropped,
                MAX_ROWS,
            )

    def _finish(self) -> None:
        sheets = "".join(f'<sheet name="{_attr(name)}" sheetId="{n}" r:id="rId{n}"/>' for name, n, _ in self._sheets)
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{n - 1}" hidden="1">'
            f"{_escape(_quoted_range(name, rng))}</definedName>"
            for name, n, rng in self._sheets
            if rng is not None
        )
        workbook = (
            f"{_HEAD}<workbook {_NS} {_NS_R}><workbookPr/><bookViews><workbookView/></bookViews><sheets>{sheets}"
            f"</sheets>{'<definedNames>' + names + '</definedNames>' if names else ''}</workbook>"
        )
        rels = "".join(
            f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
            for _, n, _ in self._sheets
        )
        styles_id = len(self._sheets) + 1
        rels += f'<Relationship Id="rId{styles_id}" Type="{_REL}/styles" Target="styles.xml"/>'
        overrides = "".join(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{_CT}.worksheet+xml"/>'
            for _, n, _ in self._sheets
        )
        types = (
            f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>{overrides}</Types>'
        )
        package_rels = (
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
        )
        self._zip.writestr("[Content_Types].xml", types)
        self._zip.writestr("_rels/.rels", package_rels)
        self._zip.writestr("xl/workbook.xml", workbook)
        self._zip.writestr(
            "xl/_rels/workbook.xml.rels",
            f'{_HEAD}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f"{rels}</Relationships>",
        )
        self._zip.writestr("xl/styles.xml", _STYLES)

    def close(self) -> list[Path]:
        self._finish()
        self._zip.close()
        self._ctx.__exit__(None, None, None)
        return [self.final]

    def abort(self) -> None:
        try:
            if self._out is not None:
                self._out.close()
            self._zip.close()
        finally:
            self._ctx.__exit__(RuntimeError, RuntimeError("aborted"), None)


def _quoted_range(sheet: str, rng: str) -> str:
    first, last = rng.split(":")

    def absolute(ref: str) -> str:
        letters = ref.rstrip("0123456789")
        return f"${letters}${ref[len(letters) :]}"

    return "'" + sheet.replace("'", "''") + f"'!{absolute(first)}:{absolute(last)}"
