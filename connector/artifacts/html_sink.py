"""The HTML artifact: one self-contained file that works offline.

Chart.js (vendored, see ``vendor/README.md``), the page script, the style sheet and the data are all inline. The
data travels as JSON in a ``<script type="application/json">`` block with ``<``, ``>`` and ``&`` escaped, and the
page script inserts every value with ``textContent``: a sender name holding markup shows as text. A
Content-Security-Policy allows exactly the inline script and style blocks by hash and nothing remote.
"""

import base64
import hashlib
import html
import json
import re
from collections.abc import Sequence
from datetime import date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from connector.artifacts.safety import atomic_open
from connector.artifacts.tables import TableSpec

__all__ = ["HTML_NAME", "HtmlSink", "render_html"]

HTML_NAME = "smtp_auth_report.html"
#: tables shown whole in the HTML whatever their size (they have one row per day or per source)
_UNCAPPED = {"sending_volume_by_domain", "kpi_history", "coverage"}
#: tables the page does not show (per sender per day: in the CSV, XLSX and Parquet files)
_SKIPPED = {"sending_volume_by_sender"}
_PLACEHOLDER = re.compile(r"__(CSP|TITLE|CSS|DATA|CHARTJS|APPJS)__")


def _asset(*parts: str) -> str:
    return resources.files("connector.artifacts").joinpath(*parts).read_text(encoding="utf-8")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _script_json(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=_json_value)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return text


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def render_html(title: str, data: dict[str, Any]) -> str:
    """The page for ``data`` (``meta``, ``summary``, ``tables``)."""
    chartjs = re.sub(r"\n?//# sourceMappingURL=\S+\s*$", "", _asset("vendor", "chart.umd.min.js"))
    appjs, css = _asset("web", "report.js"), _asset("web", "report.css")
    csp = (
        f"default-src 'none'; script-src {_hash(chartjs)} {_hash(appjs)}; style-src {_hash(css)}; "
        "img-src data:; connect-src 'none'; font-src 'none'; base-uri 'none'; form-action 'none'"
    )
    values = {
        "CSP": csp,
        "TITLE": html.escape(title),
        "CSS": css,
        "DATA": _script_json(data),
        "CHARTJS": chartjs,
        "APPJS": appjs,
    }
    # one pass: text substituted for one placeholder is never scanned for another
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], _asset("web", "report.html"))


class HtmlSink:
    """Keeps up to ``max_rows`` rows of each table for the page; the page is written by :meth:`finish`."""

    def __init__(self, folder: Path, max_rows: int) -> None:
        self.final = folder / HTML_NAME
        self.max_rows = max_rows
        self.tables: dict[str, dict[str, Any]] = {}

    def begin(self, table: TableSpec) -> None:
        if table.name in _SKIPPED:
            return
        self.tables[table.name] = {
            "name": table.name,
            "title": table.title,
            "columns": [{"name": c.name, "label": c.label, "type": c.type} for c in table.columns],
            "rows": [],
            "total": 0,
        }

    def write(self, table: TableSpec, rows: Sequence[tuple[Any, ...]]) -> None:
        entry = self.tables.get(table.name)
        if entry is None:
            return
        entry["total"] += len(rows)
        room = len(rows) if table.name in _UNCAPPED else max(0, self.max_rows - len(entry["rows"]))
        entry["rows"].extend([_json_value(v) for v in row] for row in rows[:room])

    def end(self, table: TableSpec) -> None:
        return None

    def finish(self, meta: dict[str, Any], summary: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
        for name, entry in self.tables.items():
            entry["empty_reason"] = summary["sections"].get(entry_section(name, summary), {}).get("empty_reason")
        data = {"meta": meta, "summary": summary, "tables": self.tables, **(extra or {})}
        page = render_html(f"SMTP AUTH clients report: {meta['tenant']}", data)
        with atomic_open(self.final) as fh:
            fh.write(page)
        return self.final

    def close(self) -> list[Path]:
        return []

    def abort(self) -> None:
        self.tables.clear()


def entry_section(table: str, summary: dict[str, Any]) -> str:
    return str(summary["tables"].get(table, {}).get("section", ""))
