"""Every figure of every CSV equals what the simulator's ground truth says, computed without the database."""

import json
import re
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from connector.artifacts import build_report
from models import ImportedTlsAggregate
from tests.artifacts.conftest import CS_DAYS, DATE_FROM, DATE_TO, Synced
from tests.artifacts.helpers import days, expected_tls, expected_volume, num, pct, read_csv, smtp_senders

CSV = ("csv",)


def test_sending_volume_by_sender_and_domain_equal_truth(synced: Synced, out_dir: Path) -> None:
    build_report(synced.store, synced.params(formats=CSV), out_dir)
    want = expected_volume(synced.truth, DATE_FROM, DATE_TO, CS_DAYS)
    got = {
        (date.fromisoformat(r["date"]), r["sender_address"]): int(r["messages"])
        for r in read_csv(out_dir / "sending_volume_by_sender.csv")
    }
    assert got == want
    assert sum(want.values()) > 500
    domains: dict[tuple[date, str], int] = defaultdict(int)
    for (d, sender), n in want.items():
        domains[d, sender.rsplit("@", 1)[1]] += n
    by_domain = {
        (date.fromisoformat(r["date"]), r["sender_domain"]): int(r["messages"])
        for r in read_csv(out_dir / "sending_volume_by_domain.csv")
    }
    assert by_domain == dict(domains)
    totals = {r["sender_address"]: int(r["messages"]) for r in read_csv(out_dir / "sending_volume_sender_totals.csv")}
    per_sender: dict[str, int] = defaultdict(int)
    for (_, sender), n in want.items():
        per_sender[sender] += n
    assert totals == dict(per_sender)


def test_tls_usage_and_auth_protocol_equal_truth(synced: Synced, out_dir: Path) -> None:
    build_report(synced.store, synced.params(formats=CSV), out_dir)
    tls = expected_tls(synced.truth, CS_DAYS)
    auth = synced.truth.auth_methods()
    rows = read_csv(out_dir / "tls_usage_by_sender.csv")
    assert list(rows[0]) == [
        "sender_address", "sender_domain", "messages", "tls10_messages", "tls11_messages", "tls12_messages",
        "tls13_messages", "tls_unknown_messages", "tls10_pct", "tls11_pct", "tls12_pct", "tls13_pct", "auth_protocol",
    ]  # fmt: skip
    assert {r["sender_address"] for r in rows} == set(tls)
    assert any(c.get("TLS1.0") for c in tls.values()), "the simulated tenant has legacy TLS devices"
    for r in rows:
        counts = tls[r["sender_address"]]
        total = sum(counts.values())
        assert num(r["messages"]) == total
        for key, col in (("TLS1.0", "tls10"), ("TLS1.1", "tls11"), ("TLS1.2", "tls12"), ("TLS1.3", "tls13")):
            assert num(r[f"{col}_messages"]) == counts.get(key, 0), (r["sender_address"], col)
            assert num(r[f"{col}_pct"]) == pct(counts.get(key, 0), total)
        assert num(r["tls_unknown_messages"]) == counts.get("unknown", 0)
        assert r["auth_protocol"] == auth[r["sender_address"]]
    evidence = {r["sender_address"]: r for r in read_csv(out_dir / "auth_protocol_by_sender.csv")}
    for sender, method in auth.items():
        if sender in evidence:
            assert evidence[sender]["auth_protocol"] == method
            assert ("SmtpCSReport" in evidence[sender]["evidence"]) is True


def test_accounts_status_per_kind(synced: Synced, out_dir: Path) -> None:
    build_report(synced.store, synced.params(formats=CSV), out_dir)
    rows = {r["account"]: r for r in read_csv(out_dir / "accounts.csv")}
    pop = synced.truth.pop
    want_volume = expected_volume(synced.truth, DATE_FROM, DATE_TO, CS_DAYS)
    kinds = {a.upn: a.kind.value for a in pop.senders}
    for upn, kind in kinds.items():
        if kind == "unused":
            # no SMTP AUTH activity: only a password spray (failed sign-ins) brings it into the table
            assert upn not in rows or rows[upn]["status"] == "failed_signins_only"
            continue
        r = rows[upn]
        expected = {
            "disabled": "blocked_but_attempting",
            "oauth_app": "oauth_only",
            "lob_oauth": "oauth_only",
        }.get(kind, "basic_in_use")
        assert r["status"] == expected, (upn, kind)
        assert int(r["messages"]) == sum(n for (_, s), n in want_volume.items() if s == upn)
        assert r["action"]
    spray = [r for r in rows.values() if r["account"] not in kinds]
    assert spray, "the password spray hits ordinary mailboxes"
    assert {r["status"] for r in spray} == {"failed_signins_only"}
    assert all(int(r["basic_signins"]) == 0 and int(r["failed_signins"]) > 0 for r in spray)


def test_kpi_history_equals_the_usage_report(synced: Synced, out_dir: Path) -> None:
    result = build_report(synced.store, synced.params(formats=CSV), out_dir)
    truth = synced.truth
    rows = {date.fromisoformat(r["date"]): r for r in read_csv(out_dir / "kpi_history.csv")}
    daily = truth.daily_smtp_users(DATE_FROM, DATE_TO)
    assert {d: int(r["daily_smtp_users"]) for d, r in rows.items() if r["daily_smtp_users"]} == daily
    assert int(rows[truth.refresh_date]["smtp_accounts_7d"]) == truth.d7_count()
    assert result.summary["kpi"] == {"smtp_accounts_7d": truth.d7_count(), "as_of": truth.refresh_date.isoformat()}
    week = list(days(DATE_TO - timedelta(days=6), DATE_TO))
    want = expected_volume(truth, week[0], week[-1], CS_DAYS)
    assert result.summary["flyout"]["messages"] == sum(want.values())


def test_summary_names_the_source_of_each_day(synced: Synced, out_dir: Path) -> None:
    result = build_report(synced.store, synced.params(formats=CSV), out_dir)
    assert result.summary["volume_sources"]["smtp_cs_report_days"] == [d.isoformat() for d in CS_DAYS]
    assert "3 of 14 days rest on SmtpCSReport" in result.summary["sections"]["sending_volume"]["source_note"]
    sources = {(c["section"], c["source"]): c for c in result.summary["coverage"]}
    assert sources["sending_volume", "message_trace"]["status"] == "ok"
    assert sources["sending_volume", "message_trace"]["rows_in_range"] > 0
    assert sources["tls_usage", "eac_export"]["status"] == "not_imported"


def test_signin_ip_only_counts_basic_submissions(synced: Synced, out_dir: Path) -> None:
    trace_days = (DATE_TO - timedelta(days=2), DATE_TO)
    params = synced.params(formats=CSV, trace_signin_ip_only=True, date_from=trace_days[0])
    build_report(synced.store, params, out_dir)
    got = {
        (date.fromisoformat(r["date"]), r["sender_address"]): int(r["messages"])
        for r in read_csv(out_dir / "sending_volume_by_sender.csv")
    }
    auth = synced.truth.auth_methods()
    want = {}
    for d in days(*trace_days):
        for sender, per_day in synced.truth.messages_per_sender_day(d, d).items():
            if auth.get(sender) == "Basic" and per_day.get(d):
                want[d, sender] = per_day[d]
    assert got == want
    assert want


def test_tls_falls_back_to_the_export_then_to_unknown(synced: Synced, out_dir: Path) -> None:
    first, last = DATE_TO - timedelta(days=3), DATE_TO
    senders = sorted(smtp_senders(synced.truth))
    imported = senders[0]
    with synced.store.transaction() as tx:
        synced.store.upsert(
            tx,
            ImportedTlsAggregate,
            [{"tenant": "contoso", "period_start": first, "period_end": last, "sender_address": imported,
              "domain": "contoso.com", "tls10_pct": 25.0, "tls11_pct": 0.0, "tls12_pct": 75.0, "messages": 40,
              "auth_protocol": "Basic", "source_file_sha256": "0" * 64}],
            key=("tenant", "period_start", "period_end", "sender_address"),
        )  # fmt: skip
    try:
        result = build_report(synced.store, synced.params(formats=CSV, date_from=first), out_dir)
        rows = {r["sender_address"]: r for r in read_csv(out_dir / "tls_usage_by_sender.csv")}
        r = rows[imported]
        assert (num(r["messages"]), num(r["tls10_messages"]), num(r["tls12_messages"])) == (40, 10, 30)
        assert (r["tls13_messages"], r["tls13_pct"], num(r["tls10_pct"])) == ("", "", 25.0)
        volume = expected_volume(synced.truth, first, last, ())
        for sender, row in rows.items():
            if sender == imported:
                continue
            total = sum(n for (_, s), n in volume.items() if s == sender)
            assert num(row["messages"]) == total
            assert num(row["tls_unknown_messages"]) == total
            assert row["tls10_messages"] == row["tls12_pct"] == ""
        assert result.summary["tls_sources"] == {"imported_export": 1, "none": len(rows) - 1}
    finally:
        with synced.store.transaction() as tx:
            tx.execute(ImportedTlsAggregate.__table__.delete())  # type: ignore[attr-defined]


def test_sender_and_domain_filters(synced: Synced, out_dir: Path) -> None:
    sender = sorted(smtp_senders(synced.truth))[1]
    build_report(synced.store, synced.params(formats=CSV, senders=[sender.upper()]), out_dir)
    assert {r["sender_address"] for r in read_csv(out_dir / "sending_volume_by_sender.csv")} == {sender}
    assert {r["account"] for r in read_csv(out_dir / "accounts.csv")} == {sender}
    build_report(synced.store, synced.params(formats=CSV, domains=["fabrikam.com"]), out_dir)
    assert read_csv(out_dir / "sending_volume_by_domain.csv") == []


def _page_data(path: Path) -> dict[str, Any]:
    page = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    assert found, "the report page carries its data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_readiness_pivot_follows_the_domain_filter(synced: Synced, out_dir: Path) -> None:
    senders = smtp_senders(synced.truth)
    domains = sorted({s.rsplit("@", 1)[1] for s in senders})
    assert len(domains) > 1, "the simulated tenant sends from more than one domain"
    whole = _page_data(build_report(synced.store, synced.params(formats=("html",)), out_dir).paths[0])
    everyone = {r[0] for r in whole["readiness"]["rows"]}
    assert {a.rsplit("@", 1)[-1] for a in everyone} >= set(domains)
    keep = domains[0]
    data = _page_data(
        build_report(synced.store, synced.params(formats=("html",), domains=[keep.upper()]), out_dir).paths[0]
    )
    accounts = {r[0] for r in data["readiness"]["rows"]}
    assert accounts == {a for a in everyone if a.lower().endswith("@" + keep)}
    assert data["readiness"]["total"] == len(accounts)
    # the burndown counts only the filtered domain's Basic accounts: never more than unfiltered, fewer somewhere
    col = data["burndown"]["columns"].index("basic_accounts")
    part = [r[col] for r in data["burndown"]["rows"]]
    full = [r[col] for r in whole["burndown"]["rows"]]
    assert len(part) == len(full)
    assert all(p <= f for p, f in zip(part, full, strict=True))
    basic = {r[0] for r in whole["readiness"]["rows"] if r[1] in ("basic_in_use", "blocked_now")}
    assert any(not a.endswith("@" + keep) for a in basic), "another domain has Basic accounts too"
    assert sum(part) < sum(full)
