"""The floor of the sync benchmark: the same payloads, parsed with ``csv``/``json`` and stored with
``sqlite3.executemany``.

The payloads are the bytes the measured sync received (the usage-detail CSVs, every sign-in page, every
message-trace page), written to disk by the simulator that recorded them (``sim_serve.py --dump-dir``).
:func:`run_floor` times parsing those files and inserting the rows into a fresh SQLite file whose tables
are copied from the synced database (same columns, same unique keys and indexes). Rows are committed in groups of
at least ``GROUP_ROWS`` (the most the sync's group commit holds, :mod:`connector.sync.writer`), so the floor never
pays more commits than the sync can. Only the stdlib runs in the timed part.
"""

import csv
import io
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLES = ("usage_user_detail", "signin", "message_trace")
#: rows per transaction: connector.sync.writer.MAX_GROUP_ROWS
GROUP_ROWS = 50_000
TENANT = "contoso"
_APP_COLUMNS = {
    "POP3 App": "pop3_app",
    "IMAP4 App": "imap4_app",
    "Mail For Mac": "mail_for_mac",
    "Outlook For Mac": "outlook_for_mac",
    "Outlook For Windows": "outlook_for_windows",
    "Outlook For Mobile": "outlook_for_mobile",
    "Other For Mobile": "other_for_mobile",
    "Outlook For Web": "outlook_for_web",
}


# ---------------------------------------------------------------------------------------------- the timed part


def copy_schema(synced_db: Path, floor_db: Path) -> dict[str, list[str]]:
    """Create the three tables (and their indexes) of the synced database in ``floor_db``; return their
    columns without the surrogate key."""
    floor_db.unlink(missing_ok=True)
    columns: dict[str, list[str]] = {}
    with sqlite3.connect(synced_db) as src, sqlite3.connect(floor_db) as dst:
        for table in TABLES:
            for (sql,) in src.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL ORDER BY type DESC", (table,)
            ):
                dst.execute(sql)
            columns[table] = [r[1] for r in src.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
    return columns


def insert_sql(table: str, columns: list[str]) -> str:
    # table and column names come from the synced database's schema, never from input data
    return f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"  # noqa: S608


def _usage_rows(body: bytes, view: str, columns: list[str]) -> tuple[int, list[tuple[Any, ...]]]:
    reader = csv.reader(io.StringIO(body.decode("utf-8-sig")))
    header = next(reader)
    at = {name: i for i, name in enumerate(header)}
    smtp, upn, refresh, period = (
        at["SMTP App"],
        at["User Principal Name"],
        at["Report Refresh Date"],
        at["Report Period"],
    )
    apps = [(col, at[name]) for name, col in _APP_COLUMNS.items()]
    seen = 0
    out = []
    for cells in reader:
        seen += 1
        if not cells[smtp]:
            continue
        row: dict[str, Any] = {
            "tenant": TENANT,
            "report_view": view,
            "report_date": None if view.startswith("D") else view,
            "report_refresh_date": cells[refresh],
            "report_period": int(cells[period]),
            "user_principal_name": cells[upn].lower(),
            "display_name": cells[at["Display Name"]],
            "is_deleted": cells[at["Is Deleted"]] == "True",
            "deleted_date": cells[at["Deleted Date"]] or None,
            "last_activity_date": cells[at["Last Activity Date"]] or None,
            "smtp_app": True,
            "smtp_app_detail": cells[smtp],
            "concealed": False,
        }
        for col, i in apps:
            row[col] = cells[i] == "Yes"
        out.append(tuple(row.get(c) for c in columns))
    return seen, out


def _signin_rows(body: bytes, columns: list[str]) -> list[tuple[Any, ...]]:
    return [signin_tuple(item, columns) for item in json.loads(body)["value"]]


def signin_tuple(item: dict[str, Any], columns: list[str]) -> tuple[Any, ...]:
    """One Graph sign-in as the floor stores it (also the import benchmark's floor, ``import_child.py``)."""
    status, where = item.get("status") or {}, item.get("location") or {}
    upn = item.get("userPrincipalName")
    row = {
        "tenant": TENANT,
        "signin_id": item["id"],
        "created_at": item["createdDateTime"],
        "user_principal_name": upn.lower() if upn else None,
        "user_id": item.get("userId"),
        "user_display_name": item.get("userDisplayName"),
        "app_id": item.get("appId"),
        "app_display_name": item.get("appDisplayName"),
        "ip_address": item.get("ipAddress"),
        "client_app_used": item.get("clientAppUsed"),
        "error_code": status.get("errorCode"),
        "failure_reason": status.get("failureReason"),
        "additional_details": status.get("additionalDetails"),
        "country": where.get("countryOrRegion"),
        "state": where.get("state"),
        "city": where.get("city"),
        "conditional_access_status": item.get("conditionalAccessStatus"),
        "is_interactive": item.get("isInteractive"),
        "risk_level_aggregated": item.get("riskLevelAggregated"),
        "risk_level_during_signin": item.get("riskLevelDuringSignIn"),
        "risk_state": item.get("riskState"),
        "risk_detail": item.get("riskDetail"),
        "resource_display_name": item.get("resourceDisplayName"),
        "correlation_id": item.get("correlationId"),
    }
    return tuple(row.get(c) for c in columns)


def _trace_rows(body: bytes, columns: list[str]) -> list[tuple[Any, ...]]:
    out = []
    for item in json.loads(body)["value"]:
        status = item.get("status")
        row = {
            "tenant": TENANT,
            "trace_id": item["id"],
            "message_id": item.get("messageId"),
            "sender_address": item["senderAddress"].lower(),
            "recipient_address": (item.get("recipientAddress") or "").lower() or None,
            "received_at": item["receivedDateTime"],
            "status": status.lower() if status else None,
            "size": item.get("size"),
            "subject": item.get("subject"),
            "from_ip": item.get("fromIP"),
            "to_ip": item.get("toIP"),
            # the sync stores each row marked (matching it against the sender's sign-in IPs); the floor stores a
            # constant, so it neither pays for the matching nor fills the index of unmarked rows
            "from_smtp_signin_ip": False,
        }
        out.append(tuple(row.get(c) for c in columns))
    return out


@dataclass
class FloorTable:
    rows_seen: int = 0
    rows_stored: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows_seen / self.seconds if self.seconds else 0.0


def run_floor(files: dict[str, list[Path]], synced_db: Path, floor_db: Path) -> dict[str, FloorTable]:
    """Parse and store every saved payload; time each table. The database runs like the product's (WAL,
    ``synchronous=NORMAL``); a commit once ``GROUP_ROWS`` rows are pending and at the end of each table."""
    columns = copy_schema(synced_db, floor_db)
    conn = sqlite3.connect(floor_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    out: dict[str, FloorTable] = {}
    for table in TABLES:
        cols = columns[table]
        sql = insert_sql(table, cols)
        stats = FloorTable()
        wall, cpu = time.perf_counter(), time.process_time()
        pending = 0
        for path in files.get(table, []):
            body = path.read_bytes()
            if table == "usage_user_detail":
                seen, rows = _usage_rows(body, path.name.partition("_")[2], cols)
            else:
                rows = _signin_rows(body, cols) if table == "signin" else _trace_rows(body, cols)
                seen = len(rows)
            if not conn.in_transaction:
                conn.execute("BEGIN")
            conn.executemany(sql, rows)
            pending += seen
            if pending >= GROUP_ROWS:
                conn.execute("COMMIT")
                pending = 0
            stats.rows_seen += seen
            stats.rows_stored += len(rows)
        if conn.in_transaction:
            conn.execute("COMMIT")
        stats.seconds = time.perf_counter() - wall
        stats.cpu_seconds = time.process_time() - cpu
        out[table] = stats
    conn.close()
    return out
