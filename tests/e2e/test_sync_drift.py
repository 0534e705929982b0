"""The drift guard end to end: Microsoft renames a usage CSV column and adds one, adds a sign-in field and a new
status value, drops a cmdlet property; each lands in schema_drift and in `smtpauth check`, and the run still loads
every row it can. `check --capture` samples are redacted and load back with `import --load`."""

import json
import os
from pathlib import Path

from click.testing import CliRunner

from connector.capture import Redactor, capture_tenant
from connector.cli import cli
from connector.imports import load_payload
from connector.simulator import Fault, SimTransport
from connector.store.store import open_store
from connector.sync.factory import build_client, make_limiter
from tests.e2e.conftest import SimEnv


def test_changed_shapes_are_recorded_per_source_shown_in_check_and_the_rows_still_load(
    sqlite_env: SimEnv,
) -> None:
    env = sqlite_env
    env.tenant_extra = "exchange_admin = true\n"
    for route in ("reports", "signins", "exchange"):
        env.sim.faults.add(Fault(route, "schema_drift", count=None))
    (result,) = env.sync(sources=["usage_user_detail", "signins", "exchange_posture"])
    assert result.ok, result.outcomes
    assert all(o.drift.startswith("schema drift:") for o in result.outcomes)
    drift = {(r[0], r[1], r[2], r[3]) for r in env.rows("SELECT source, subject, kind, name FROM schema_drift")}
    assert ("usage_user_detail", "getEmailAppUsageUserDetail", "missing", "Display Name") in drift
    assert ("usage_user_detail", "getEmailAppUsageUserDetail", "unexpected", "User Display Name") in drift
    assert ("usage_user_detail", "getEmailAppUsageUserDetail", "unexpected", "Future Column") in drift
    assert ("signins", "signIn", "unexpected", "tokenProtectionStatusDetails") in drift
    assert ("signins", "signIn", "unknown_value", "conditionalAccessStatus=reportOnlyNotApplied") in drift
    assert ("exchange_posture", "Get-CASMailbox", "missing", "PrimarySmtpAddress") in drift
    # the rows are loaded all the same (without what the renamed or dropped field held)
    truth = env.truth()
    detail = env.rows("SELECT COUNT(*), COUNT(display_name) FROM usage_user_detail WHERE report_view = 'D7'")
    assert detail == [(len(truth.smtp_users(7)), 0)]
    assert env.rows("SELECT COUNT(*) FROM signin")[0][0] > 0
    assert env.rows("SELECT COUNT(*) FROM mailbox_smtp_posture")[0][0] == env.sim.directory.tenant("contoso").users
    # a second run counts the same drift again instead of adding rows
    before = len(drift)
    env.sync(sources=["signins"])
    assert len(env.rows("SELECT id FROM schema_drift")) == before
    assert env.rows("SELECT MAX(occurrences) FROM schema_drift WHERE source = 'signins'")[0][0] >= 2
    # smtpauth check shows it (whatever the token probe says on this offline machine)
    saved = {k: os.environ.get(k) for k in env.environ}
    os.environ.update(env.environ)
    try:
        out = CliRunner().invoke(cli, ["-c", str(env.tmp / "smtpauth.toml"), "check"], catch_exceptions=False)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
    drift_lines = [" ".join(line.split()) for line in out.output.splitlines() if line.strip().startswith("drift")]
    assert "drift usage_user_detail missing Display Name (getEmailAppUsageUserDetail), last seen 2026-11-28" in (
        drift_lines
    )
    assert any("signins unknown value conditionalAccessStatus=reportOnlyNotApplied (signIn)" in d for d in drift_lines)
    assert any("exchange_posture missing PrimarySmtpAddress (Get-CASMailbox)" in d for d in drift_lines)


def test_redaction_is_stable_within_a_capture_and_keeps_the_shape() -> None:
    red = Redactor(b"fixed-salt-for-the-test")
    item = {
        "id": "0b7c52a8-3f0e-4a51-9a43-5d6c1e7f9a20",
        "userPrincipalName": "Scanner01@Contoso.com",
        "ipAddress": "203.0.113.7",
        "subject": "Invoice 42",
        "status": {"errorCode": 0},
        "conditionalAccessStatus": "notApplied",
        "@odata.nextLink": "https://graph.example/next?$skiptoken=abc",
    }
    once, twice = red.obj(item), red.obj(dict(item))
    assert once == twice
    assert "@odata.nextLink" not in once
    assert once["userPrincipalName"].count("@") == 1
    assert "contoso" not in json.dumps(once).lower()
    assert once["ipAddress"].startswith("198.1")
    assert once["subject"].startswith("redacted-")
    assert once["conditionalAccessStatus"] == "notApplied"
    assert once["status"] == {"errorCode": 0}
    assert Redactor().obj(item)["userPrincipalName"] != once["userPrincipalName"]


def test_captured_samples_are_redacted_and_replay_into_a_database(sqlite_env: SimEnv, tmp_path: Path) -> None:
    env = sqlite_env
    env.tenant_extra = "exchange_admin = true\n"
    settings = env.settings()
    tenant = settings.tenants[0]
    os.environ.update(env.environ)
    client, _tokens, http = build_client(
        settings, tenant, clock=env.clock, limiter=make_limiter(settings, env.clock), transport=SimTransport(env.sim)
    )
    try:
        done = capture_tenant(client, tmp_path / "contoso", exchange=True)
    finally:
        http.close()
    assert set(done.values()) == {"written"}, done
    text = "".join(p.read_text() for p in (tmp_path / "contoso").iterdir())
    pop = env.sim.population(env.sim.directory.tenant("contoso"))
    assert not any(a.upn in text.lower() for a in pop.senders)
    assert "sig=" not in text
    assert not any(t in text for t in env.sim.tokens.issued())
    replay = open_store(f"sqlite:///{tmp_path / 'replay.db'}")
    try:
        for source in ("usage_user_detail", "usage_user_counts", "usage_apps_kpi", "signins", "report_settings"):
            path = next((tmp_path / "contoso").glob(f"{source}.*"))
            result = load_payload(replay, env.clock, path, tenant="contoso", source=source)
            assert result.rows_seen > 0, source
            assert result.skipped == 0, source
    finally:
        replay.close()
