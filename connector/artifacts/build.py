"""Build the report artifacts of one tenant from the database (no Graph call).

Each query runs once; its rows stream in batches to every requested format (CSV, XLSX, Parquet, HTML), so memory
stays flat whatever the tenant's size. Every file appears atomically; if the build fails, none of the files it was
writing appears, and files of an earlier build under the same names are left as they were.
"""

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.artifacts.html_sink import HtmlSink
from connector.artifacts.safety import atomic_open
from connector.artifacts.sinks import CsvSink, Sink
from connector.artifacts.tables import COVERAGE_TABLE, TABLES, TableSpec
from connector.store.readside.coverage import SECTION_SOURCES, coverage_rows, empty_reason
from connector.store.readside.kpi import flyout, latest_kpi
from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect, ud
from connector.store.readside.volume import smtp_cs_days
from connector.store.store import Store

__all__ = ["BATCH_ROWS", "SUMMARY_NAME", "BuildResult", "build_report", "run_queries"]

SUMMARY_NAME = "summary.json"
BATCH_ROWS = 5000
FORMAT_VERSION = 1


@dataclass
class BuildResult:
    out_dir: Path
    paths: list[Path] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def html(self) -> Path | None:
        return next((p for p in self.paths if p.suffix == ".html"), None)


def _stream(conn: Connection, d: Dialect, params: ReportParams, spec: TableSpec) -> Any:
    if spec.query is None:
        raise ValueError(f"table {spec.name} has no query")
    result = conn.execute(spec.query(d, params), execution_options={"stream_results": True, "yield_per": BATCH_ROWS})
    for part in result.partitions(BATCH_ROWS):
        rows = [tuple(r) for r in part]
        yield [spec.transform(r) for r in rows] if spec.transform else rows


def run_queries(store: Store, params: ReportParams) -> dict[str, int]:
    """Run every aggregate query and fetch its rows, writing nothing (the benchmark's baseline)."""
    d = Dialect(store.dialect)
    counts: dict[str, int] = {}
    with store.read() as conn:
        for spec in TABLES:
            counts[spec.name] = sum(len(b) for b in _stream(conn, d, params, spec))
        coverage_rows(conn, params)
        latest_kpi(conn, params)
        flyout(conn, d, params)
    return counts


def _make_sinks(params: ReportParams, out_dir: Path) -> tuple[list[Sink], HtmlSink | None]:
    sinks: list[Sink] = []
    if "csv" in params.formats:
        sinks.append(CsvSink(out_dir))
    if "xlsx" in params.formats:
        from connector.artifacts.xlsx_sink import XlsxSink

        sinks.append(XlsxSink(out_dir))
    if "parquet" in params.formats:
        from connector.artifacts.parquet_sink import ParquetSink

        sinks.append(ParquetSink(out_dir))
    html = HtmlSink(out_dir, params.html_max_rows) if "html" in params.formats else None
    if html is not None:
        sinks.append(html)
    return sinks, html


def _feed(sinks: Sequence[Sink], spec: TableSpec, batches: Any) -> int:
    n = 0
    for sink in sinks:
        sink.begin(spec)
    for rows in batches:
        n += len(rows)
        for sink in sinks:
            sink.write(spec, rows)
    for sink in sinks:
        sink.end(spec)
    return n


def _facts(conn: Connection, d: Dialect, params: ReportParams, tls_sources: dict[str, int]) -> dict[str, Any]:
    """The summary's facts; ``tls_sources`` (senders per TLS source) as counted while the TLS table was written."""
    days = [r[0].isoformat() for r in conn.execute(smtp_cs_days(d, params))]
    concealed = conn.execute(
        sa.select(sa.func.count(sa.distinct(ud.c.user_principal_name))).where(
            ud.c.tenant == params.tenant, ud.c.concealed.is_(True), ud.c.smtp_app.is_(True)
        )
    ).scalar_one()
    return {"cs_days": days, "tls_sources": tls_sources, "concealed": int(concealed)}


#: how a row of sending_volume_by_sender reads, per period
_PERIODS = {"day": "day", "week": "ISO week (Monday to Sunday, UTC)", "month": "calendar month (UTC)"}


def _period_note(params: ReportParams) -> str:
    """The sentence saying what a row of the per-sender file (sending_volume_by_sender) covers for this report;
    shown above the HTML's sending volume too, so it reads as prose."""
    period = params.sender_period
    why = (
        f"the range covers {params.days} days"
        if params.granularity == "auto"
        else f"granularity {params.granularity} was asked"
    )
    if period == "day":
        return f"The per-sender file (sending_volume_by_sender) has a row per sender per day ({why})."
    return (
        f"The per-sender file (sending_volume_by_sender) has a row per sender per {_PERIODS[period]} ({why}); "
        f"a {period} the range cuts counts only its days in the range (date to period_end), and active_days are "
        "the days with messages."
    )


def _summary(
    params: ReportParams,
    *,
    now: datetime,
    facts: dict[str, Any],
    kpi: dict[str, Any],
    week: dict[str, Any],
    coverage: list[Any],
    rows: dict[str, int],
) -> dict[str, Any]:
    n_days = (params.date_to - params.date_from).days + 1
    cs_days = facts["cs_days"]
    trace_rows = "rows from the sender's SMTP sign-in IPs only" if params.trace_signin_ip_only else "all their mail"
    ts = facts["tls_sources"]
    notes = {
        "sending_volume": (
            f"{len(cs_days)} of {n_days} days rest on SmtpCSReport rows (exact SMTP AUTH submissions, "
            f"SUM(message_count)); the other {n_days - len(cs_days)} on message trace: COUNT(DISTINCT messageId) "
            f"of the SMTP AUTH senders, {trace_rows}. {_period_note(params)}"
        ),
        "tls_usage": (
            f"{ts.get('smtp_cs_report', 0)} senders from SmtpCSReport rows, {ts.get('imported_export', 0)} from an "
            f"imported admin center export, {ts.get('none', 0)} without TLS data (all their messages counted as "
            "unknown: request an SmtpCSReport or import the export)."
        ),
        "auth_protocol": "Basic: SmtpCSReport authMethod, a successful Authenticated SMTP sign-in, or the export; "
        "OAuth: only OAuth evidence; unknown: no evidence.",
        "accounts": f"{facts['concealed']} accounts with SMTP AUTH usage have concealed names and are not joined "
        "(turn off concealed names in the Microsoft 365 admin center to see them)."
        if facts["concealed"]
        else "Every source joined by lower-cased address.",
        "kpi": "usage_apps_kpi (D7) per report refresh date; usage_user_counts per day.",
        "findings": "Detected after each sync from sign-ins, message trace and SmtpCSReport rows (volume spikes, "
        "new origins, password spray, off-hours sending, new external domains, TLS downgrades; docs/insights.md). "
        "Acknowledged findings stay listed with the time they were acknowledged.",
    }
    tables: dict[str, dict[str, Any]] = {
        s.name: {
            "file": f"{s.name}.csv",
            "section": s.section,
            "rows": rows.get(s.name, 0),
            "columns": list(s.column_names),
        }
        for s in (*TABLES, COVERAGE_TABLE)
    }
    tables["sending_volume_by_sender"]["period"] = params.sender_period
    sections: dict[str, Any] = {}
    for section, sources in SECTION_SOURCES.items():
        n = sum(t["rows"] for t in tables.values() if t["section"] == section)
        sections[section] = {
            "sources": list(sources),
            "source_note": notes[section],
            "rows": n,
            "empty_reason": None if n else empty_reason(coverage, section),
        }
    return {
        "format_version": FORMAT_VERSION,
        "tenant": params.tenant,
        "generated_at": now.isoformat(),
        "parameters": params.as_json(),
        "kpi": kpi,
        "flyout": week,
        "volume_sources": {
            "smtp_cs_report_days": cs_days,
            "message_trace_rows": "smtp_signin_ip_only" if params.trace_signin_ip_only else "all",
        },
        "tls_sources": ts,
        "concealed_smtp_accounts": facts["concealed"],
        "sections": sections,
        "tables": tables,
        "coverage": [r.as_dict() for r in coverage],
    }


#: the table with one row per sender of the TLS table and its ``tls_source``: counted as it is written
_TLS_SOURCE_TABLE = "auth_protocol_by_sender"


def _counting(spec: TableSpec, batches: Any, counts: dict[str, int]) -> Any:
    """``batches`` as they are, counting the rows per ``tls_source``."""
    at = spec.column_names.index("tls_source")
    for rows in batches:
        for row in rows:
            counts[str(row[at])] = counts.get(str(row[at]), 0) + 1
        yield rows


def _readiness(store: Store, params: ReportParams, read: tuple[Connection, Dialect] | None = None) -> dict[str, Any]:
    """The readiness pivot of the HTML page: each account's status and next step over the report's range, and
    the burndown of Basic SMTP AUTH accounts per day of the range (as ``smtpauth readiness`` computes them).
    ``read``: the report's read transaction and Dialect, whose per-sender figures the accounts then reuse."""
    from connector.insights.readiness import readiness_view

    if read is None:
        with store.read() as conn:
            return _readiness(store, params, (conn, Dialect(store.dialect)))
    # the report's --domain/--sender filters keep only those accounts, as in every other table of the report
    view = readiness_view(*read, params, max_rows=params.html_max_rows)
    return {
        "readiness": {k: view[k] for k in ("columns", "statuses", "basic_off_by_default", "rows", "total")},
        "burndown": {"columns": view["burndown_columns"], "rows": view["burndown"]},
    }


def build_report(
    store: Store, params: ReportParams, out_dir: Path, *, now: Callable[[], datetime] | None = None
) -> BuildResult:
    """Write the artifacts of ``params.formats`` plus ``summary.json`` into ``out_dir``.

    Raises StorageError (database) or OSError (the folder cannot be written).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = (now or (lambda: datetime.now(UTC)))()
    result = BuildResult(out_dir)
    sinks, html = _make_sinks(params, out_dir)
    with store.read() as conn:
        # the per-sender figures several tables join are computed once for the report (temporary tables of this
        # read transaction), not once per table
        d = Dialect(store.dialect, materialize_on=conn)
        try:
            tls_sources: dict[str, int] = {}
            for spec in TABLES:
                batches = _stream(conn, d, params, spec)
                if spec.name == _TLS_SOURCE_TABLE:
                    batches = _counting(spec, batches, tls_sources)
                result.rows[spec.name] = _feed(sinks, spec, batches)
            coverage = coverage_rows(conn, params)
            cov_rows = [tuple(r.as_dict().values()) for r in coverage]
            result.rows[COVERAGE_TABLE.name] = _feed(sinks, COVERAGE_TABLE, [cov_rows])
            # the TLS table's senders were counted per source as they were written (one computation less)
            facts = _facts(conn, d, params, dict(sorted(tls_sources.items())))
            kpi, week = latest_kpi(conn, params), flyout(conn, d, params)
            # everything that can fail on the data comes before any file appears under its name
            result.summary = _summary(
                params, now=generated, facts=facts, kpi=kpi, week=week, coverage=coverage, rows=result.rows
            )
            # the HTML page's readiness pivot reads the accounts in the same transaction, with the same figures
            extra = _readiness(store, params, (conn, d)) if html is not None else None
            for sink in sinks:
                result.paths.extend(sink.close())
        except BaseException:
            for sink in sinks:
                sink.abort()
            raise
    if html is not None:
        meta = {**params.as_json(), "generated_at": generated.isoformat(timespec="seconds")}
        result.paths.append(html.finish(meta, result.summary, extra=extra))
    summary_path = out_dir / SUMMARY_NAME
    result.summary["artifacts"] = sorted(str(p.relative_to(out_dir)) for p in [*result.paths, summary_path])
    with atomic_open(summary_path) as fh:
        json.dump(result.summary, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
    result.paths.append(summary_path)
    return result
