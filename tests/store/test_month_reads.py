"""The per-sender figures of a range's whole months, read from ``rollup_sender_month``, and the volume per domain and
day, read from ``rollup_domain_day``, equal those read sender-day by sender-day.

Every report table is read twice over seeded random data (three months and their edges, days resting on
SmtpCSReport and on message trace, senders known and unknown to use SMTP AUTH, sign-ins with every outcome):
once with the sender-month rollup for the whole months (``Dialect(months=True)``, the default) and once from the
sender-day rollup only (``months=False``); the rows must be identical, for ranges with and without whole months,
with filters, per day and per month, on SQLite (with and without the shared temporary tables) and PostgreSQL.
"""

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from connector.artifacts.tables import TABLES
from connector.service.queries import sender_pages
from connector.store import Store, open_store, upsert
from connector.store.readside.params import ReportParams
from connector.store.readside.sql import Dialect
from connector.store.readside.volume import range_split
from models import MailboxSmtpPosture, MessageTrace, SignIn, SmtpCsReportRow, UsageUserDetail

T0 = datetime(2026, 7, 28, tzinfo=UTC)
DAYS = 110  # to November 14
TENANT = "contoso"
SENDERS = [
    *(f"user{i}@{d}.contoso.com" for i, d in enumerate("aabbc")),
    "Scanner@Mixed.Example",
    "printer@fabrikam.com",
    "no-at-sign",
    "trailing@",
    "Drucker@BÜRO.Example",
    "relay@contoso.com",
]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=10)
    _fill(s, random.Random(20261201))
    yield s
    s.close()


def _when(rnd: random.Random, days: list[int] | None = None) -> datetime:
    day = rnd.choice(days) if days else rnd.randrange(DAYS)
    return T0 + timedelta(days=day, seconds=rnd.choice([0, 86399, rnd.randrange(86400)]))


def _fill(store: Store, rnd: random.Random) -> None:
    cs_days = sorted(rnd.sample(range(DAYS), 30))
    traces = [
        {
            "tenant": TENANT,
            "trace_id": f"t{i}",
            "message_id": None if rnd.random() < 0.1 else f"<m{i // 2}@x>",
            "sender_address": rnd.choice(SENDERS),
            "recipient_address": f"r{i % 7}@ext.example",
            "received_at": _when(rnd),
            "status": "delivered",
            "from_ip": "198.51.100.1",
            "from_smtp_signin_ip": rnd.choice([True, False, None]),
        }
        for i in range(2500)
    ]
    reports = [
        {
            "tenant": TENANT,
            "occurred_at": _when(rnd, cs_days),
            # the first sender never appears in an SmtpCSReport nor signs in: its message trace counts only if
            # the usage report names it (it does not here)
            "sender_address": rnd.choice(SENDERS[1:]),
            "sender_domain": rnd.choice([None, "Contoso.com", "b.example", "Zeta.Example"]),
            "auth_method": rnd.choice(["Basic", "OAuth2", None]),
            "client_ip": rnd.choice(["192.0.2.1", None]),
            "tls_version": rnd.choice(["TLS1.0", "TLS 1.1", "TLS1.2", "1.3", None]),
            "message_count": rnd.choice([1, 2, 5]),
            "message_id": f"<c{i}@x>",
        }
        for i in range(700)
    ]
    # a report row of no message: its (day, domain) is listed with 0 messages, as the sender-day read lists it
    zero = dict(reports[0], occurred_at=_when(rnd, cs_days[:1]), sender_address="zero@zero.example")
    reports.append(dict(zero, message_count=0, sender_domain=None, message_id="<zero@x>"))
    signins = [
        {
            "tenant": TENANT,
            "signin_id": f"s{i}",
            "created_at": _when(rnd),
            "user_principal_name": rnd.choice([*(s.lower() for s in SENDERS[2:7]), None]),
            "ip_address": rnd.choice(["203.0.113.1", "203.0.113.2", None]),
            "country": rnd.choice(["NL", "US", None]),
            "error_code": rnd.choice([0, 0, 50126, 50057, None]),
            "client_app_used": "Authenticated SMTP",
        }
        for i in range(600)
    ]
    with store.transaction() as tx:
        upsert(tx, MessageTrace, traces, key=("tenant", "trace_id"), batch_size=400)
        upsert(tx, SignIn, signins, key=("tenant", "signin_id"), batch_size=200)
    # the SmtpCSReport rows arrive later, moving their days off message trace
    with store.transaction() as tx:
        upsert(tx, SmtpCsReportRow, reports, key=("tenant", "occurred_at", "sender_address", "message_id"))


RANGES = [
    (date(2026, 8, 1), date(2026, 10, 31)),  # whole months only
    (date(2026, 7, 28), date(2026, 11, 14)),  # whole months and both edges
    (date(2026, 8, 17), date(2026, 11, 14)),  # 90 days
    (date(2026, 9, 1), date(2026, 9, 30)),  # one month
    (date(2026, 8, 31), date(2026, 10, 1)),  # one month and a day on each side
    (date(2026, 9, 2), date(2026, 10, 30)),  # no whole month
]


def _read(store: Store, params: ReportParams, *, months: bool, materialize: bool) -> dict[str, list[Any]]:
    with store.read() as conn:
        d = Dialect(store.dialect, months=months, materialize_on=conn if materialize else None)
        return {
            spec.name: [tuple(r) for r in conn.execute(spec.query(d, params))]
            for spec in TABLES
            if spec.query is not None
        }


OPTIONS: list[dict[str, Any]] = [
    {},
    {"granularity": "month"},
    {"granularity": "day", "trace_signin_ip_only": True},
    {"domains": ("b.contoso.com", "mixed.example"), "granularity": "month"},
    {"senders": ("scanner@mixed.example", "user2@b.contoso.com", "no-at-sign")},
]


def test_whole_months_read_as_months_equal_their_days(store: Store) -> None:
    for date_from, date_to in RANGES:
        for options in OPTIONS:
            case = (date_from, date_to, options)
            params = ReportParams(tenant=TENANT, date_from=date_from, date_to=date_to, **options)
            by_month = _read(store, params, months=True, materialize=False)
            by_day = _read(store, params, months=False, materialize=False)
            for name, rows in by_day.items():
                assert by_month[name] == rows, (name, case)
            # the data reaches every table the month rows feed (comparing empty tables would prove nothing)
            if not (options.get("senders") or options.get("domains")):
                tables = ("sending_volume_by_sender", "sending_volume_sender_totals", "tls_usage_by_sender")
                for name in (*tables, "sending_volume_by_domain"):
                    assert by_day[name], (name, case)
            assert _read(store, params, months=True, materialize=True) == by_day, case


def test_the_sender_table_count_from_the_domain_day_rollup_equals_its_rows(store: Store) -> None:
    """The API pages ``sending_volume_by_sender`` with its row count, read from the domain-day rollup for a range
    read per day: the same count as its rows, with every filter, for SmtpCSReport days and message-trace days."""
    spec = next(t for t in TABLES if t.name == "sending_volume_by_sender")
    assert spec.count is not None
    counted = 0
    for date_from, date_to in RANGES:
        for options in [*OPTIONS, {"granularity": "day", "domains": ("a.contoso.com", "mixed.example")}]:
            params = ReportParams(tenant=TENANT, date_from=date_from, date_to=date_to, **options)
            rows = _read(store, params, months=False, materialize=False)["sending_volume_by_sender"]
            with store.read() as conn:
                query = spec.count(Dialect(store.dialect), params)
                if query is None:  # per week or month, or senders filtered: the table's rows are counted
                    assert params.sender_period != "day" or params.senders, (date_from, date_to, options)
                    continue
                assert conn.execute(query).scalar_one() == len(rows), (date_from, date_to, options)
                counted += 1
    assert counted >= 2 * len(RANGES)


def test_the_accounts_count_equals_its_rows(store: Store) -> None:
    """The API pages ``accounts`` with a count of its accounts alone (no per-account figures): the same count as its
    rows, with the usage report's and the mailbox posture's accounts among them, every filter, with and without
    the shared temporary tables."""
    spec = next(t for t in TABLES if t.name == "accounts")
    assert spec.count is not None
    assert spec.query is not None
    usage = [
        {
            "tenant": TENANT,
            "report_view": "D90",
            "report_refresh_date": date(2026, 9, 1),
            "user_principal_name": upn,
            "smtp_app": smtp,
            "is_deleted": False,
            "concealed": concealed,
        }
        for upn, smtp, concealed in [
            ("user0@a.contoso.com", True, False),  # also in message trace
            ("usage-only@b.contoso.com", True, False),
            ("0123456789abcdef0123456789abcdef", True, True),  # concealed: never an account
            ("no-smtp@b.contoso.com", False, False),
        ]
    ]
    posture = [
        {"tenant": TENANT, "snapshot_date": day, "user_principal_name": upn, "effective_enabled": enabled}
        for day, upn, enabled in [
            (date(2026, 8, 1), "old-snapshot@contoso.com", True),  # not the newest snapshot
            (date(2026, 11, 1), "idle@mixed.example", True),
            (date(2026, 11, 1), "off@mixed.example", False),
            (date(2026, 11, 1), "scanner@mixed.example", None),
            (date(2026, 11, 1), "user2@b.contoso.com", True),
        ]
    ]
    with store.transaction() as tx:
        upsert(tx, UsageUserDetail, usage, key=("tenant", "report_view", "user_principal_name"))
        upsert(tx, MailboxSmtpPosture, posture, key=("tenant", "snapshot_date", "user_principal_name"))
    checked = set()
    for date_from, date_to in RANGES:
        for options in [*OPTIONS, {"domains": ("mixed.example",)}]:
            params = ReportParams(tenant=TENANT, date_from=date_from, date_to=date_to, **options)
            for materialize in (False, True):
                with store.read() as conn:
                    d = Dialect(store.dialect, materialize_on=conn if materialize else None)
                    rows = [r[0] for r in conn.execute(spec.query(d, params))]
                    query = spec.count(d, params)
                    assert query is not None
                    assert conn.execute(query).scalar_one() == len(rows), (date_from, date_to, options)
                checked |= set(rows)
    # the usage report's and the posture's accounts were among the rows counted; the others never
    assert {"usage-only@b.contoso.com", "idle@mixed.example", "user0@a.contoso.com"} <= checked
    assert not {"0123456789abcdef0123456789abcdef", "no-smtp@b.contoso.com", "off@mixed.example"} & checked
    assert "old-snapshot@contoso.com" not in checked


def test_the_sender_tables_are_compiled_once_for_every_range(store: Store) -> None:
    """Reading the sender tables for a second range compiles nothing: the temporary tables' statements bind the
    request's values and read the same Table objects, and a range's months, weeks and edge days are listed (empty
    lists where it has none), so SQLAlchemy's compiled cache answers every statement of any range read through the
    rollups once one was (a request that compiled its five CREATE ... AS and four reads again spent a third of its
    time compiling)."""
    one_month = ReportParams(tenant=TENANT, date_from=date(2026, 9, 1), date_to=date(2026, 9, 30))
    first = sender_pages(store, one_month, limit=7, offset=1)
    seen: list[tuple[str, str]] = []

    def record(*args: Any) -> None:  # after_cursor_execute(conn, cursor, statement, parameters, context, many)
        statement, context = args[2], args[4]
        if context is not None and context.compiled is not None:
            seen.append((context.cache_hit.name, " ".join(statement.split())[:60]))

    sa.event.listen(store.engine, "after_cursor_execute", record)
    try:
        again = sender_pages(store, one_month, limit=7, offset=1)
        assert again == first
        # read per day (up to 92 days): months, weeks and edge days; weeks and edge days only; a month and a day on
        # each side
        for date_from, date_to in (RANGES[2], RANGES[5], RANGES[4]):
            params = ReportParams(tenant=TENANT, date_from=date_from, date_to=date_to)
            assert range_split(Dialect(store.dialect), params) is not None
            pages = sender_pages(store, params, limit=7, offset=1)
            assert pages["sending_volume_sender_totals"][0] > 7, (date_from, date_to)
    finally:
        sa.event.remove(store.engine, "after_cursor_execute", record)
    assert any(stmt.startswith("CREATE") for _, stmt in seen), seen
    assert len(seen) >= 5 * 9, seen  # five temporary tables and four pages a read
    assert {stats for stats, _ in seen} == {"CACHE_HIT"}, [s for s in seen if s[0] != "CACHE_HIT"]


def test_the_split_of_a_range() -> None:
    d = Dialect("sqlite")

    def split(a: date, b: date) -> Any:
        s = range_split(d, ReportParams(tenant=TENANT, date_from=a, date_to=b))
        return None if s is None else (s.months, s.weeks, s.edges)

    def day(month: int, dd: int, year: int = 2026) -> date:
        return date(year, month, dd)

    assert split(day(8, 1), day(10, 31)) == ((day(8, 1), day(10, 1)), (), ())
    # August 17 and 24, November 2: Mondays; the weeks stay inside their month (not Aug 31 - Sep 6)
    assert split(day(8, 17), day(11, 14)) == (
        (day(9, 1), day(10, 1)),
        ((day(8, 17), day(8, 24)), (day(11, 2), day(11, 2))),
        ((day(8, 31), day(8, 31)), (day(11, 1), day(11, 1)), (day(11, 9), day(11, 14))),
    )
    assert split(day(12, 15, 2025), day(2, 28)) == (
        (day(1, 1), day(2, 1)),
        ((day(12, 15, 2025), day(12, 22, 2025)),),
        ((day(12, 29, 2025), day(12, 31, 2025)),),
    )
    # no whole month: each month's whole weeks
    assert split(day(9, 2), day(10, 30)) == (
        None,
        ((day(9, 7), day(9, 21)), (day(10, 5), day(10, 19))),
        ((day(9, 2), day(9, 6)), (day(9, 28), day(9, 30)), (day(10, 1), day(10, 4)), (day(10, 26), day(10, 30))),
    )
    assert split(day(2, 1), day(2, 27)) == (
        None,
        ((day(2, 2), day(2, 16)),),
        ((day(2, 1), day(2, 1)), (day(2, 23), day(2, 27))),
    )
    # neither a whole month nor a whole week inside one month (September 28 - October 4 crosses months)
    assert split(day(9, 29), day(10, 4)) is None
    assert split(day(9, 2), day(9, 6)) is None
    assert (
        range_split(Dialect("sqlite", months=False), ReportParams(TENANT, date(2026, 8, 1), date(2026, 9, 30))) is None
    )
