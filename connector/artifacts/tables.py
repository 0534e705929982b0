"""The tables of the report: stable names, typed columns, and the query that fills each.

The names and columns are part of the product (documented in ``docs/artifacts.md``): add columns at the end,
never rename or reorder.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.sql import Select

from connector.store.readside.accounts import ACTIONS, accounts, accounts_count
from connector.store.readside.findings import findings_in_range
from connector.store.readside.kpi import kpi_history
from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect
from connector.store.readside.tls_auth import auth_by_sender, tls_by_sender
from connector.store.readside.volume import (
    volume_by_domain_day,
    volume_by_sender_count,
    volume_by_sender_period,
    volume_by_sender_total,
)

__all__ = ["COVERAGE_TABLE", "LABELS", "TABLES", "Column", "ColumnType", "TableSpec"]

ColumnType = Literal["date", "datetime", "text", "int", "float", "bool"]


#: the header a person reads in the HTML and XLSX (the machine name stays in CSV, Parquet and the API)
LABELS = {
    "date": "Date",
    "sender_address": "Sender",
    "sender_domain": "Domain",
    "messages": "Messages",
    "active_days": "Active days",
    "period_end": "Period end",
    "period": "Period",
    "tls10_messages": "TLS 1.0 messages",
    "tls11_messages": "TLS 1.1 messages",
    "tls12_messages": "TLS 1.2 messages",
    "tls13_messages": "TLS 1.3 messages",
    "tls_unknown_messages": "Unknown TLS messages",
    "tls10_pct": "TLS 1.0 %",
    "tls11_pct": "TLS 1.1 %",
    "tls12_pct": "TLS 1.2 %",
    "tls13_pct": "TLS 1.3 %",
    "auth_protocol": "Auth",
    "evidence": "Evidence",
    "smtp_cs_basic_messages": "Basic messages (SmtpCSReport)",
    "smtp_cs_oauth_messages": "OAuth messages (SmtpCSReport)",
    "basic_signins": "Basic sign-ins",
    "export_auth_protocol": "Auth (admin center export)",
    "tls_source": "TLS source",
    "account": "Account",
    "domain": "Domain",
    "display_name": "Name",
    "status": "Status",
    "action": "Next step",
    "legacy_tls_messages": "Legacy TLS messages",
    "failed_signins": "Failed sign-ins",
    "last_signin_at": "Last sign-in (UTC)",
    "usage_report_smtp": "In usage report",
    "usage_last_activity_date": "Usage report last activity",
    "smtp_auth_enabled": "SMTP AUTH on",
    "posture_snapshot_date": "SMTP AUTH setting as of",
    "last_active_date": "Last used",
    "smtp_accounts_7d": "Accounts, 7 days",
    "daily_smtp_users": "Daily SMTP users",
    "id": "ID",
    "severity": "Severity",
    "kind": "Kind",
    "window_start": "From (UTC)",
    "window_end": "To (UTC)",
    "summary": "Summary",
    "acknowledged_at": "Acknowledged",
    "first_seen_at": "First seen",
    "last_seen_at": "Last seen",
    "section": "Section",
    "source": "Source",
    "rows_in_range": "Rows in range",
    "data_as_of": "Data as of",
    "last_run_status": "Last run",
    "last_run_at": "Last run at",
    "reason": "Reason",
    "fix": "Fix",
}


@dataclass(frozen=True)
class Column:
    name: str
    type: ColumnType

    @property
    def label(self) -> str:
        """The header a person reads (HTML, XLSX)."""
        return LABELS.get(self.name) or self.name.replace("_", " ").capitalize()


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: str
    section: str
    columns: tuple[Column, ...]
    query: Callable[[Dialect, ReportParams], Select[Any]] | None
    #: turns a query row into the output row (same order as ``columns``)
    transform: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None
    #: the table's row count by a cheaper statement than counting its rows (a rollup, the accounts without their
    #: figures); None from it: count the query's rows. For paging
    count: Callable[[Dialect, ReportParams], Select[Any] | None] | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


def _cols(*spec: str) -> tuple[Column, ...]:
    out = []
    for item in spec:
        name, _, typ = item.partition(":")
        out.append(Column(name, typ or "text"))  # type: ignore[arg-type]
    return tuple(out)


def _evidence(row: tuple[Any, ...]) -> tuple[Any, ...]:
    sender, domain, protocol, cs_basic, cs_oauth, signins, export, tls_source = row
    parts = []
    if cs_basic or cs_oauth:
        parts.append(f"SmtpCSReport: {cs_basic} Basic, {cs_oauth} OAuth messages")
    if signins:
        parts.append(f"{signins} successful Authenticated SMTP (Basic) sign-ins")
    if export:
        parts.append(f"admin center export: {export}")
    if not parts:
        parts.append("no SmtpCSReport rows, Basic sign-ins or export for this sender (OAuth leaves no sign-in)")
    return (sender, domain, protocol, "; ".join(parts), cs_basic, cs_oauth, signins, export, tls_source)


def _action(row: tuple[Any, ...]) -> tuple[Any, ...]:
    last = row[-1]
    action = ACTIONS.get(row[3], "").format(last=last.isoformat() if hasattr(last, "isoformat") else last or "?")
    return (*row[:4], action, *row[4:])


TLS_COLUMNS = _cols(
    "sender_address",
    "sender_domain",
    "messages:int",
    "tls10_messages:int",
    "tls11_messages:int",
    "tls12_messages:int",
    "tls13_messages:int",
    "tls_unknown_messages:int",
    "tls10_pct:float",
    "tls11_pct:float",
    "tls12_pct:float",
    "tls13_pct:float",
    "auth_protocol",
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "sending_volume_by_domain",
        "Sending volume by domain per day",
        "sending_volume",
        _cols("date:date", "sender_domain", "messages:int"),
        volume_by_domain_day,
    ),
    TableSpec(
        "sending_volume_by_sender",
        "Sending volume by sender per period",
        "sending_volume",
        _cols(
            "date:date",
            "sender_address",
            "sender_domain",
            "messages:int",
            "period_end:date",
            "period",
            "active_days:int",
        ),
        volume_by_sender_period,
        count=volume_by_sender_count,
    ),
    TableSpec(
        "sending_volume_sender_totals",
        "Sending volume per sender",
        "sending_volume",
        _cols("sender_address", "sender_domain", "messages:int", "active_days:int"),
        volume_by_sender_total,
    ),
    TableSpec("tls_usage_by_sender", "TLS usage per sender", "tls_usage", TLS_COLUMNS, tls_by_sender),
    TableSpec(
        "auth_protocol_by_sender",
        "Authentication protocol per sender",
        "auth_protocol",
        _cols(
            "sender_address",
            "sender_domain",
            "auth_protocol",
            "evidence",
            "smtp_cs_basic_messages:int",
            "smtp_cs_oauth_messages:int",
            "basic_signins:int",
            "export_auth_protocol",
            "tls_source",
        ),
        auth_by_sender,
        _evidence,
    ),
    TableSpec(
        "accounts",
        "Accounts",
        "accounts",
        _cols(
            "account",
            "domain",
            "display_name",
            "status",
            "action",
            "auth_protocol",
            "messages:int",
            "legacy_tls_messages:int",
            "tls_source",
            "basic_signins:int",
            "failed_signins:int",
            "last_signin_at:datetime",
            "usage_report_smtp:bool",
            "usage_last_activity_date:date",
            "smtp_auth_enabled:bool",
            "posture_snapshot_date:date",
            "last_active_date:date",
        ),
        accounts,
        _action,
        count=accounts_count,
    ),
    TableSpec(
        "kpi_history",
        "Accounts using SMTP AUTH over time",
        "kpi",
        _cols("date:date", "smtp_accounts_7d:int", "daily_smtp_users:int"),
        lambda d, p: kpi_history(p),
    ),
    TableSpec(
        "findings",
        "Unusual activity",
        "findings",
        _cols(
            "id:int",
            "severity",
            "kind",
            "account",
            "window_start:datetime",
            "window_end:datetime",
            "summary",
            "action",
            "acknowledged_at:datetime",
            "first_seen_at:datetime",
            "last_seen_at:datetime",
        ),
        findings_in_range,
    ),
)

#: filled from the coverage rows, not from a query
COVERAGE_TABLE = TableSpec(
    "coverage",
    "Coverage",
    "coverage",
    _cols(
        "section",
        "source",
        "status",
        "rows_in_range:int",
        "data_as_of",
        "last_run_status",
        "last_run_at",
        "reason",
        "fix",
    ),
    None,
)
