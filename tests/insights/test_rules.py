"""Rules on small fixtures (aggregates in, candidates out), the findings CSV, and readiness on the simulator."""

import csv
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from connector.config import InsightsSettings
from connector.insights.export import FINDINGS_COLUMNS, finding_rows, write_csv
from connector.insights.readiness import BURNDOWN_COLUMNS, burndown, readiness
from connector.insights.rules_behaviour import (
    external_domain_candidates,
    hour_profiles,
    off_hours_candidates,
    tls_candidates,
)
from connector.insights.rules_signins import brute_force_candidates
from connector.insights.rules_volume import volume_candidates
from connector.insights.stats import longest_quiet_block, median_mad
from tests.e2e.conftest import SimEnv

CFG = InsightsSettings()
DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 3, tzinfo=UTC)


def test_median_mad_and_quiet_block() -> None:
    assert median_mad([1, 2, 3, 4, 100]) == (3.0, 1.0)
    assert longest_quiet_block(range(7, 18)) == [18, 19, 20, 21, 22, 23, 0, 1, 2, 3, 4, 5, 6]


def test_spike_needs_history_and_a_big_enough_jump() -> None:
    history = [("a@x.com", DAY - timedelta(days=k), 10 + k % 3) for k in range(1, 29)]
    judged = [DAY]
    assert volume_candidates(CFG, [*history, ("a@x.com", DAY, 30)], DAY - timedelta(days=28), judged) == []
    (c,) = volume_candidates(CFG, [*history, ("a@x.com", DAY, 80)], DAY - timedelta(days=28), judged)
    assert (c.kind, c.severity, c.window_start.date()) == ("volume_spike", "medium", DAY)
    # the same jump with only 5 days of stored history is not judged
    assert volume_candidates(CFG, [*history, ("a@x.com", DAY, 80)], DAY - timedelta(days=5), judged) == []


def test_first_time_sender_with_high_volume() -> None:
    other = [("b@x.com", DAY - timedelta(days=k), 5) for k in range(1, 29)]
    (c,) = volume_candidates(CFG, [*other, ("new@x.com", DAY, 150)], DAY - timedelta(days=28), [DAY])
    assert (c.kind, c.account) == ("first_time_sender", "new@x.com")


def test_off_hours_for_a_business_hours_account_only() -> None:
    baseline = [("printer@x.com", h, 0, 10) for h in range(7, 18)] + [("app@x.com", h, 0, 10) for h in range(24)]
    judged = [("printer@x.com", DAY, 2, 0, 6), ("app@x.com", DAY, 2, 0, 50), ("printer@x.com", DAY, 10, 0, 40)]
    (c,) = off_hours_candidates(CFG, hour_profiles(baseline), judged)
    assert (c.kind, c.account, c.evidence["days"][DAY.isoformat()]["off_hours_messages"]) == (
        "off_hours_sending",
        "printer@x.com",
        6,
    )
    assert "18:00-07:00 UTC or on weekends" in c.summary


def test_device_mailing_many_external_domains() -> None:
    baseline = {"scanner@x.com": (200, 0), "crm@x.com": (500, 40)}
    (c,) = external_domain_candidates(CFG, baseline, [("scanner@x.com", DAY, 25), ("crm@x.com", DAY, 60)])
    assert (c.kind, c.account) == ("external_domains", "scanner@x.com")


def test_tls_downgrade_from_tls12_to_legacy() -> None:
    base = [("mfp@x.com", DAY - timedelta(days=k), 20, 1, None) for k in range(1, 20)]
    legacy = [("old@x.com", DAY - timedelta(days=k), 20, 20, "10.0.0.9") for k in range(1, 20)]
    rows = [*base, *legacy, ("mfp@x.com", DAY, 12, 10, "10.0.0.5"), ("old@x.com", DAY, 12, 12, "10.0.0.9")]
    (c,) = tls_candidates(CFG, rows, [DAY])
    assert (c.kind, c.account, c.evidence["days"][DAY.isoformat()]["legacy_client_ip"]) == (
        "tls_downgrade",
        "mfp@x.com",
        "10.0.0.5",
    )


def test_brute_force_is_high_when_a_failing_ip_then_succeeds() -> None:
    fails = [("198.51.100.9", "a@x.com", DAY, 50126, 25, T0, T0 + timedelta(minutes=30))]
    (medium,) = brute_force_candidates(CFG, fails, [])
    assert medium.severity == "medium"
    success = [("a@x.com", "198.51.100.9", "US", T0 + timedelta(hours=1), T0 + timedelta(hours=1), 1, 0)]
    (high,) = brute_force_candidates(CFG, fails, success)
    assert high.severity == "high"
    assert high.evidence["ips_with_later_success"] == ["198.51.100.9"]


def test_findings_csv_neutralizes_formulas(tmp_path: Path) -> None:
    row = SimpleNamespace(
        id=1,
        tenant="contoso",
        severity="high",
        kind="volume_spike",
        account='=HYPERLINK("http://evil")@x.com',
        window_start=T0,
        window_end=T0,
        summary="-1+1",
        action="@SUM(A1)",
        evidence=json.dumps({"messages": 3}),
        first_seen_at=T0,
        last_seen_at=T0,
        acknowledged_at=None,
        ack_note="\tnote",
    )
    path = write_csv(tmp_path / "findings.csv", FINDINGS_COLUMNS, finding_rows([row]))
    with path.open(newline="", encoding="utf-8") as fh:
        header, values = list(csv.reader(fh))
    assert tuple(header) == FINDINGS_COLUMNS
    assert not any(v.startswith(("=", "+", "-", "@", "\t", "\r", "\n")) for v in values)
    assert values[4] == '\'=HYPERLINK("http://evil")@x.com'


def test_readiness_and_burndown_on_the_simulator(attacked_sqlite: SimEnv) -> None:
    env = attacked_sqlite
    env.sync()
    today = env.clock.now().date()
    rows = readiness(env.store, "contoso", today=today, days=30)
    by_status: dict[str, list[str]] = {}
    for r in rows:
        by_status.setdefault(r[1], []).append(r[0])
    truth = env.truth()
    basic = {a.upn for a in truth.pop.senders if a.auth_method == "Basic"}
    assert set(by_status["basic_in_use"]) == basic
    disabled = [a.upn for a in truth.pop.senders if not a.enabled]
    assert by_status["blocked_but_attempting"] == disabled
    step = next(r[10] for r in rows if r[1] == "basic_in_use")
    assert "SmtpClientAuthenticationDisabled $true" in step
    assert "December 2026" in step
    burn = burndown(env.store, "contoso", today=today, days=14)
    assert len(burn) == 14
    assert len(burn[0]) == len(BURNDOWN_COLUMNS)
    yesterday = burn[-2]
    sent_basic = {a for a in basic if truth.pop.smtp_count(truth.pop.find(a).index, yesterday[0])}  # type: ignore[union-attr]
    assert yesterday[2] == len(sent_basic)
    assert yesterday[5] == (date(2026, 12, 31) - yesterday[0]).days
