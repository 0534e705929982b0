"""The floor of the sync benchmark: the same payloads, parsed with ``csv``/``json`` and stored with
``sqlite3.executemany``.

:func:`fetch_payloads` downloads, with plain httpx, what a full sync requests (the usage-report CSVs, every
sign-in page, every message-trace page of the senders the sync found) and saves the raw bytes; it is not timed.
:func:`run_floor` then times parsing those files and inserting the rows into a fresh SQLite file whose tables
are copied from the synced database (same columns, same unique keys and indexes), one transaction per page or
file as the sync does. Only the stdlib runs in the timed part.
"""

import csv
import io
import json
import sqlite3
import time
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

TABLES = ("usage_user_detail", "signin", "message_trace")
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


@dataclass
class FetchPlan:
    """What the sync asked for, so the fetcher asks for the same."""

    usage_detail_days: int
    signin_backfill_days: int
    signin_slice_hours: float
    signin_page_size: int
    trace_backfill_days: int
    trace_window_days: float
    trace_page_size: int


@dataclass
class FetchResult:
    files: dict[str, list[Path]] = field(default_factory=dict)
    requests: int = 0
    seconds: float = 0.0


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class _Graph:
    def __init__(self, snippet: str) -> None:
        tenant = tomllib.loads(snippet)["tenants"][0]
        self.graph = tenant["graph_endpoint"]
        secret = Path(tenant["client_secret_file"]).read_text(encoding="utf-8").strip()
        self.http = httpx.Client(verify=tenant["ca_bundle"], timeout=300)
        token = self.http.post(
            f"{tenant['authority_host']}/{tenant['tenant_id']}/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": tenant["client_id"],
                "client_secret": secret,
                "scope": f"{self.graph}/.default",
            },
        )
        token.raise_for_status()
        self.auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
        self.requests = 0

    def report_csv(self, segment: str) -> bytes:
        first = self.http.get(f"{self.graph}/v1.0/reports/{segment}", headers=self.auth)
        self.requests += 1
        if first.status_code != 302:
            first.raise_for_status()
            raise RuntimeError(f"{segment}: expected a redirect, got {first.status_code}")
        # the download host refuses a request that carries the Graph token
        body = self.http.get(first.headers["Location"])
        self.requests += 1
        body.raise_for_status()
        return body.content

    def pages(self, path: str, params: dict[str, str]) -> list[bytes]:
        out = []
        response = self.http.get(f"{self.graph}/{path}", params=params, headers=self.auth)
        while True:
            self.requests += 1
            response.raise_for_status()
            out.append(response.content)
            following = response.json().get("@odata.nextLink")
            if not following:
                return out
            response = self.http.get(following, headers=self.auth)


def known_senders(db: Path) -> list[str]:
    """The senders the sync traced: SMTP users of the usage report plus successful SMTP sign-ins."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT DISTINCT lower(addr) FROM ("
            " SELECT user_principal_name AS addr FROM usage_user_detail"
            "  WHERE tenant = ? AND smtp_app = 1 AND concealed = 0 AND user_principal_name LIKE '%@%'"
            " UNION SELECT user_principal_name FROM signin"
            "  WHERE tenant = ? AND error_code = 0 AND user_principal_name IS NOT NULL)"
            " ORDER BY 1",
            (TENANT, TENANT),
        ).fetchall()
    return [r[0] for r in rows if r[0] and "@" in r[0]]


def fetch_payloads(snippet: str, plan: FetchPlan, synced_db: Path, dest: Path) -> FetchResult:
    """Download every payload of a full sync into ``dest`` (one file per CSV or JSON page)."""
    started = time.perf_counter()
    g = _Graph(snippet)
    result = FetchResult(files={t: [] for t in TABLES})
    for table in TABLES:
        (dest / table).mkdir(parents=True, exist_ok=True)

    def save(table: str, body: bytes, view: str = "") -> None:
        path = dest / table / f"{len(result.files[table]):06d}_{view}"
        path.write_bytes(body)
        result.files[table].append(path)

    d7 = g.report_csv("getEmailAppUsageUserDetail(period='D7')")
    save("usage_user_detail", d7, "D7")
    reader = csv.reader(io.StringIO(d7[:65536].decode("utf-8-sig", errors="replace")))
    header, first_row = next(reader), next(reader)
    refresh = date.fromisoformat(first_row[header.index("Report Refresh Date")])
    for i in range(plan.usage_detail_days - 1, -1, -1):
        day = (refresh - timedelta(days=i)).isoformat()
        save("usage_user_detail", g.report_csv(f"getEmailAppUsageUserDetail(date={day})"), day)

    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=plan.signin_backfill_days) + timedelta(minutes=5)
    while start < now:
        end = min(start + timedelta(hours=plan.signin_slice_hours), now)
        flt = (
            "clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge "
            f"{_iso(start)} and createdDateTime le {_iso(end)}"
        )
        for body in g.pages("v1.0/auditLogs/signIns", {"$filter": flt, "$top": str(plan.signin_page_size)}):
            save("signin", body)
        start = end

    now = datetime.now(UTC).replace(microsecond=0)
    oldest = now - timedelta(days=plan.trace_backfill_days) + timedelta(minutes=10)
    for sender in known_senders(synced_db):
        start = oldest
        while start < now:
            end = min(start + timedelta(days=plan.trace_window_days), now)
            flt = (
                f"receivedDateTime ge {_iso(start)} and receivedDateTime le {_iso(end)} and senderAddress eq '{sender}'"
            )
            params = {"$filter": flt, "$top": str(plan.trace_page_size)}
            for body in g.pages("v1.0/admin/exchange/tracing/messageTraces", params):
                save("message_trace", body)
            start = end
    g.http.close()
    result.requests = g.requests
    result.seconds = time.perf_counter() - started
    return result


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


def _insert_sql(table: str, columns: list[str]) -> str:
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
    out = []
    for item in json.loads(body)["value"]:
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
        out.append(tuple(row.get(c) for c in columns))
    return out


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
    ``synchronous=NORMAL``), one transaction per file."""
    columns = copy_schema(synced_db, floor_db)
    conn = sqlite3.connect(floor_db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    out: dict[str, FloorTable] = {}
    for table in TABLES:
        cols = columns[table]
        sql = _insert_sql(table, cols)
        stats = FloorTable()
        wall, cpu = time.perf_counter(), time.process_time()
        for path in files.get(table, []):
            body = path.read_bytes()
            if table == "usage_user_detail":
                seen, rows = _usage_rows(body, path.name.partition("_")[2], cols)
            else:
                rows = _signin_rows(body, cols) if table == "signin" else _trace_rows(body, cols)
                seen = len(rows)
            conn.execute("BEGIN")
            conn.executemany(sql, rows)
            conn.execute("COMMIT")
            stats.rows_seen += seen
            stats.rows_stored += len(rows)
        stats.seconds = time.perf_counter() - wall
        stats.cpu_seconds = time.process_time() - cpu
        out[table] = stats
    conn.close()
    return out
