"""``sending_volume_by_sender`` per day, ISO week or calendar month: the weekly and monthly rows are the daily rows
summed, a period the range cuts says so, and ``auto`` turns from days to months after 92 days. Runs on SQLite and
PostgreSQL (the period arithmetic is spelled per database)."""

import csv
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from connector.artifacts import ReportParams, build_report
from connector.errors import ConfigError
from connector.store.readside.params import DAILY_MAX_DAYS, parse_granularity
from connector.store.readside.sql import Dialect
from connector.store.readside.tls_auth import tls_rows
from connector.store.readside.volume import volume_by_sender_period
from connector.store.store import Store, open_store
from models import MessageTrace, SignIn, SmtpCsReportRow

FIRST, LAST = date(2026, 1, 1), date(2026, 8, 31)
SENDERS = ("printer@contoso.com", "scanner@contoso.com", "app@fabrikam.com", "erp@fabrikam.com")
#: days whose volume rests on SmtpCSReport rows (one at a month's end, one at a week's start)
CS_DAYS = (date(2026, 3, 31), date(2026, 6, 1))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """About eight months of seeded traffic: each sender sends on most days, a few messages each."""
    rng = random.Random(11)
    s = open_store(db_url)
    trace: list[dict[str, Any]] = []
    cs_rows: list[dict[str, Any]] = []
    signins: list[dict[str, Any]] = []
    day = FIRST
    while day <= LAST:
        at = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
        for k, sender in enumerate(SENDERS):
            if rng.random() < 0.2:
                continue  # a day without mail: no row, and not an active day
            for i in range(rng.randint(1, 4)):
                trace.append(
                    {"tenant": "t", "trace_id": f"{sender}-{day}-{i}", "message_id": f"<{k}.{day}.{i}@x>",
                     "sender_address": sender, "recipient_address": "a@example.net",
                     "received_at": at + timedelta(minutes=i), "status": "delivered", "size": 10, "subject": "s",
                     "from_ip": "198.51.100.2", "to_ip": None, "from_smtp_signin_ip": True}
                )  # fmt: skip
            if day in CS_DAYS:
                cs_rows.append(
                    {"tenant": "t", "occurred_at": at, "sender_address": sender,
                     "sender_domain": sender.split("@")[1], "auth_method": "Basic", "client_ip": "198.51.100.1",
                     "tls_version": "TLS1.2", "tls_cipher": None, "message_count": 7 + k,
                     "message_id": f"<cs{k}.{day}@x>", "job_id": None}
                )  # fmt: skip
        day += timedelta(days=1)
    for k, sender in enumerate(SENDERS):
        signins.append(
            {"tenant": "t", "signin_id": f"s{k}", "created_at": datetime(2026, 1, 2, tzinfo=UTC),
             "user_principal_name": sender, "ip_address": "198.51.100.2",
             "client_app_used": "Authenticated SMTP", "error_code": 0}
        )  # fmt: skip
    with s.transaction() as tx:
        s.upsert(tx, MessageTrace, trace, key=("tenant", "trace_id"))
        s.upsert(tx, SmtpCsReportRow, cs_rows, key=("tenant", "occurred_at", "sender_address", "message_id"))
        s.upsert(tx, SignIn, signins, key=("tenant", "signin_id"))
    yield s
    s.close()


def _params(date_from: date, date_to: date, granularity: str = "auto", **kw: Any) -> ReportParams:
    return ReportParams(tenant="t", date_from=date_from, date_to=date_to, granularity=granularity, **kw)


def _rows(store: Store, params: ReportParams) -> list[tuple[Any, ...]]:
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(volume_by_sender_period(Dialect(store.dialect), params))]


def _week_start(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _month_end(d: date) -> date:
    return (d.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


@pytest.mark.parametrize("period", ["week", "month"])
def test_weekly_and_monthly_rows_are_the_daily_rows_summed(store: Store, period: str) -> None:
    # a range that cuts its first and last week and month: 2026-01-14 (Wednesday) .. 2026-07-17 (Friday)
    date_from, date_to = date(2026, 1, 14), date(2026, 7, 17)
    daily = _rows(store, _params(date_from, date_to, "day"))
    assert {r[5] for r in daily} == {"day"}
    assert all(r[0] == r[4] and r[6] == 1 for r in daily)
    assert {r[0] for r in daily} >= set(CS_DAYS)
    start_of = _week_start if period == "week" else (lambda d: d.replace(day=1))
    want: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    domains: dict[tuple[date, str], str] = {}
    for d, sender, domain, messages, *_ in daily:
        want[start_of(d), sender][0] += messages
        want[start_of(d), sender][1] += 1
        domains[start_of(d), sender] = domain
    rows = _rows(store, _params(date_from, date_to, period))
    assert len(rows) == len(want) < len(daily)
    got = {}
    for d, sender, domain, messages, end, label, active in rows:
        assert label == period
        start = start_of(d)
        natural_end = start + timedelta(days=6) if period == "week" else _month_end(start)
        # the period's days within the range: the first and last periods are cut by it
        assert d == max(start, date_from)
        assert end == min(natural_end, date_to)
        assert domain == domains[start, sender]
        got[start, sender] = [messages, active]
    assert got == want
    assert sum(r[3] for r in rows) == sum(r[3] for r in daily)
    assert rows == sorted(rows, key=lambda r: (r[0], r[1]))
    firsts = {r[0] for r in rows}
    assert date_from in firsts
    assert {r[4] for r in rows if r[0] == date_from} == {date(2026, 1, 18) if period == "week" else date(2026, 1, 31)}
    assert date_to in {r[4] for r in rows}
    if period == "month":
        assert firsts == {date_from, *(date(2026, m, 1) for m in range(2, 8))}
        # the SmtpCSReport day (exact counts, 7 + k per sender) is inside March's figure
        march = {r[1]: r[3] for r in rows if r[0] == date(2026, 3, 1)}
        march_days: dict[str, int] = defaultdict(int)
        for r in daily:
            if r[0].month == 3:
                march_days[r[1]] += r[3]
        assert march == dict(march_days)
        assert {r[1]: r[3] for r in daily if r[0] == CS_DAYS[0]} == {s: 7 + k for k, s in enumerate(SENDERS)}


def test_auto_is_daily_up_to_92_days_then_monthly(store: Store) -> None:
    date_to = date(2026, 8, 31)
    last_daily = date_to - timedelta(days=DAILY_MAX_DAYS - 1)
    short, long = _params(last_daily, date_to), _params(last_daily - timedelta(days=1), date_to)
    assert short.date_from == date(2026, 6, 1)
    assert (short.days, short.sender_period) == (92, "day")
    assert (long.days, long.sender_period) == (93, "month")
    assert {r[5] for r in _rows(store, short)} == {"day"}
    monthly = _rows(store, long)
    assert {r[5] for r in monthly} == {"month"}
    # 2026-05-31 .. 2026-08-31: May cut to its last day, then June, July and August whole (92 days: per day)
    assert sorted({(r[0], r[4]) for r in monthly}) == [
        (date(2026, 5, 31), date(2026, 5, 31)),
        (date(2026, 6, 1), date(2026, 6, 30)),
        (date(2026, 7, 1), date(2026, 7, 31)),
        (date(2026, 8, 1), date(2026, 8, 31)),
    ]
    # asked for, a granularity holds whatever the range
    assert {r[5] for r in _rows(store, _params(long.date_from, date_to, "day"))} == {"day"}
    assert {r[5] for r in _rows(store, _params(short.date_from, date_to, "month"))} == {"month"}


def test_every_format_says_the_period(store: Store, tmp_path: Path) -> None:
    params = _params(date(2026, 1, 14), date(2026, 7, 17), formats=("csv", "parquet", "xlsx", "html"))
    result = build_report(store, params, tmp_path)
    with (tmp_path / "sending_volume_by_sender.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == [
        "date", "sender_address", "sender_domain", "messages", "period_end", "period", "active_days"
    ]  # fmt: skip
    assert (rows[0]["date"], rows[0]["period_end"]) == ("2026-01-14", "2026-01-31")
    assert {r["period"] for r in rows} == {"month"}
    assert len(rows) == result.rows["sending_volume_by_sender"] == len(SENDERS) * 7
    table = pq.read_table(tmp_path / "parquet" / "sending_volume_by_sender.parquet")
    assert [str(t) for t in table.schema.types] == [
        "date32[day]", "string", "string", "int64", "date32[day]", "string", "int64"
    ]  # fmt: skip
    assert table.column("period_end").to_pylist()[0] == date(2026, 1, 31)
    import openpyxl

    sheet = openpyxl.load_workbook(tmp_path / "smtp_auth_report.xlsx")["sending_volume_by_sender"]
    head = [c.value for c in sheet[1]]
    assert head[4:] == ["Period end", "Period", "Active days"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["tables"]["sending_volume_by_sender"]["period"] == "month"
    note = summary["sections"]["sending_volume"]["source_note"]
    assert "per sender per calendar month (UTC) (the range covers 185 days)" in note
    page = (tmp_path / "smtp_auth_report.html").read_text(encoding="utf-8")
    assert "per sender per calendar month" in page
    assert summary["parameters"]["granularity"] == "auto"
    # senders per TLS source, counted while the TLS table was written: as the TLS rows say
    with store.read() as conn:
        t = tls_rows(Dialect(store.dialect), params)
        q = sa.select(t.c.tls_source, sa.func.count()).group_by(t.c.tls_source)
        counted = {str(source): int(n) for source, n in conn.execute(q)}
    assert summary["tls_sources"] == counted == {"smtp_cs_report": len(SENDERS)}


def test_a_short_report_keeps_its_row_per_sender_day(store: Store, tmp_path: Path) -> None:
    params = _params(date(2026, 3, 30), date(2026, 4, 2), formats=("csv",))
    build_report(store, params, tmp_path)
    with (tmp_path / "sending_volume_by_sender.csv").open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    assert all(r["period"] == "day" and r["period_end"] == r["date"] and r["active_days"] == "1" for r in rows)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert "a row per sender per day (the range covers 4 days)" in summary["sections"]["sending_volume"]["source_note"]


def test_a_granularity_is_checked() -> None:
    assert parse_granularity(" Month ") == "month"
    with pytest.raises(ConfigError, match="unknown granularity 'daily': choose from auto, day, week, month"):
        parse_granularity("daily")
