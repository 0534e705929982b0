"""The simulator's attacks are found with the right accounts and windows; a quiet tenant raises nothing high;
findings survive re-runs without duplicates and stay acknowledged."""

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from connector.config import InsightsSettings
from connector.insights import detect
from connector.insights.detect import STATE_KEY, STATE_SOURCE
from connector.insights.store import acknowledge, list_findings
from models import Watermark
from tests.e2e.conftest import SimEnv
from tests.insights.conftest import make_env

SPRAY_IP = "203.0.113.250"

wm: Any = Watermark.__table__  # type: ignore[attr-defined]


def _rows(env: SimEnv) -> list[Any]:
    with env.store.read() as conn:
        return list_findings(conn, include_acknowledged=True)


def _findings(env: SimEnv) -> dict[tuple[str, str], list[Any]]:
    out: dict[tuple[str, str], list[Any]] = {}
    for r in _rows(env):
        out.setdefault((r.kind, r.account), []).append(r)
    return out


def test_compromised_accounts_are_found_with_their_spike_day(attacked: SimEnv) -> None:
    attacked.sync()
    truth = attacked.truth().compromised_accounts()
    assert len(truth) == 2
    found = _findings(attacked)
    for account, spike_day in truth.items():
        (spike,) = found[("volume_spike", account)]
        assert spike.severity == "high"
        assert spike.window_start.date() == spike_day
        (origin,) = found[("new_origin", account)]
        assert origin.severity == "high"
        assert origin.window_start.date() == spike_day
        evidence = json.loads(origin.evidence)
        assert evidence["new_countries"]
        assert evidence["correlated_with"]["kind"] == "volume_spike"
    spiked = {a for kind, a in found if kind == "volume_spike"}
    assert spiked == set(truth), "no other account's volume is flagged"


def test_password_spray_is_found_with_its_window_and_targets(attacked: SimEnv) -> None:
    attacked.sync()
    truth = attacked.truth()
    window = truth.spray_window()
    assert window is not None
    (spray,) = _findings(attacked)[("password_spray", SPRAY_IP)]
    assert spray.severity == "high"
    assert (spray.window_start, spray.window_end) == window
    evidence = json.loads(spray.evidence)
    assert set(evidence["accounts"]) == truth.spray_targets()
    assert evidence["error_codes"] == {"50126": evidence["failed_signins"]}
    assert not any(kind == "brute_force" for kind, _ in _findings(attacked)), (
        "1-3 failures per account is no brute force"
    )


def test_quiet_tenants_raise_no_high_finding(tmp_path: Path) -> None:
    seeds = range(25)
    with_high, kinds = [], []
    for seed in seeds:
        folder = tmp_path / str(seed)
        folder.mkdir()
        env = make_env(folder, f"sqlite:///{folder / 'db.sqlite'}", seed=seed, attacks=False)
        env.sync()
        found = detect(env.store, InsightsSettings(), "contoso", env.clock.now())
        kinds += [(seed, c.kind, c.severity) for c in found]
        if any(c.severity == "high" for c in found):
            with_high.append(seed)
        env.close()
    rate = len(with_high) / len(seeds)
    print(f"quiet tenants: {len(with_high)}/{len(seeds)} with a high finding (rate {rate:.0%}); all findings: {kinds}")
    assert with_high == []


def test_rerun_keeps_one_row_per_finding_and_the_acknowledgement(attacked_sqlite: SimEnv) -> None:
    env = attacked_sqlite
    env.sync()
    first = {(r.kind, r.account, r.window_start): r.id for r in _rows(env)}
    assert first
    spray_id = next(i for (kind, _, _), i in first.items() if kind == "password_spray")
    with env.store.transaction() as conn:
        assert acknowledge(conn, spray_id, note="blocked at the firewall", now=env.clock.now())
    env.sync()
    env.clock.advance(timedelta(days=1).total_seconds())
    env.sync()
    again = {(r.kind, r.account, r.window_start): r.id for r in _rows(env)}
    assert again == first
    # a run that judges the whole window again (no record of an earlier run) finds the same findings
    with env.store.transaction() as conn:
        conn.execute(wm.delete().where(wm.c.source == STATE_SOURCE, wm.c.key == STATE_KEY))
    env.sync()
    assert {(r.kind, r.account, r.window_start): r.id for r in _rows(env)} == first
    (row,) = [r for r in _rows(env) if r.id == spray_id]
    assert row.acknowledged_at is not None
    assert row.ack_note == "blocked at the firewall"
    assert row.last_seen_at > row.first_seen_at, "the later run found it again"
