"""``smtpauth findings``, ``findings ack`` and ``readiness`` on a synced simulated tenant."""

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import cli
from tests.e2e.conftest import SimEnv


def test_findings_list_ack_and_readiness_files(attacked_sqlite: SimEnv, tmp_path: Path) -> None:
    env = attacked_sqlite
    env.sync()
    config = str(env.tmp / "smtpauth.toml")
    runner = CliRunner(env=env.environ)
    listed = runner.invoke(cli, ["-c", config, "findings", "--severity", "high", "--csv", str(tmp_path / "f.csv")])
    assert listed.exit_code == 0, listed.output
    assert "password_spray" in listed.output
    assert "volume_spike" in listed.output
    with (tmp_path / "f.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 5
    assert {r["severity"] for r in rows} == {"high"}
    spray = next(r["id"] for r in rows if r["kind"] == "password_spray")
    acked = runner.invoke(cli, ["-c", config, "findings", "ack", spray, "--note", "blocked"])
    assert acked.exit_code == 0, acked.output
    after = runner.invoke(cli, ["-c", config, "findings", "--tenant", "contoso"])
    assert "password_spray" not in after.output
    assert "password_spray" in runner.invoke(cli, ["-c", config, "findings", "--all"]).output
    missing = runner.invoke(cli, ["-c", config, "findings", "ack", "9999"])
    assert missing.exit_code == 1
    assert "no finding #9999" in missing.output
    out = tmp_path / "ready"
    ready = runner.invoke(cli, ["-c", config, "readiness", "--tenant", "contoso", "--out", str(out)])
    assert ready.exit_code == 0, ready.output
    assert (out / "readiness.csv").exists()
    assert (out / "burndown.csv").exists()


def test_readiness_prints_the_summary_first_and_fits_the_terminal(attacked_sqlite: SimEnv, tmp_path: Path) -> None:
    """Summary first; enabled_but_unused hidden unless asked for; no line over the terminal's width and no word
    (address, command, IP) broken across lines; --status lists one status; each status's advice fits it."""
    env = attacked_sqlite
    env.sync()
    config = str(env.tmp / "smtpauth.toml")
    width = 72
    runner = CliRunner(env={**env.environ, "COLUMNS": str(width)})
    out = tmp_path / "ready"
    result = runner.invoke(cli, ["-c", config, "readiness", "--tenant", "contoso", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("contoso: "), lines[0]
    assert "accounts need action before Basic SMTP AUTH is switched off" in " ".join(ln.strip() for ln in lines[:3])
    # only a single word longer than the terminal (the output folder's path) may exceed it, on a line of its own
    assert [ln for ln in lines if len(ln) > width and " " in ln.strip()] == []
    with (out / "readiness.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    statuses = {r["status"] for r in rows}
    assert {"basic_in_use", "blocked_but_attempting"} <= statuses, statuses
    words = set(result.output.split())
    listed = [r for r in rows if r["status"] not in ("enabled_but_unused", "oauth_only", "no_activity_in_range")]
    assert listed, statuses
    for r in listed:  # every address shown whole, on its own line
        assert f"  {r['account']}" in lines, r["account"]
        for ip in r["client_ips"].split():
            assert ip in words or f"{ip};" in words or f"{ip}," in words, ip
    basic = next(r["account"] for r in rows if r["status"] == "basic_in_use")
    blocked = next(r["account"] for r in rows if r["status"] == "blocked_but_attempting")
    only = runner.invoke(cli, ["-c", config, "readiness", "-t", "contoso", "--status", "basic_in_use",
                               "--out", str(tmp_path / "r2")])  # fmt: skip
    assert only.exit_code == 0, only.output
    assert f"  {basic}" in only.output.splitlines()
    assert f"  {blocked}" not in only.output.splitlines()
    assert "blocked_but_attempting 1" in only.output.replace(",", "") or "(hidden)" in only.output
    for r in rows:
        if r["status"] == "blocked_but_attempting":
            assert "Set-CASMailbox" not in r["next_step"], r["next_step"]
            assert "already refused" in r["next_step"]
        if r["status"] == "basic_in_use":
            assert "-SmtpClientAuthenticationDisabled $true" in r["next_step"]
        if int(r["legacy_tls_messages"]) and r["status"] != "legacy_tls_in_use":
            assert "TLS 1.2" in r["next_step"], r
    bad = runner.invoke(cli, ["-c", config, "readiness", "--status", "nonsense"])
    assert bad.exit_code == 2
    assert bad.output.strip().startswith("invalid --status: unknown status 'nonsense'")


def test_readiness_hides_quiet_statuses_and_advises_per_status(capsys: pytest.CaptureFixture[str]) -> None:
    """enabled_but_unused and oauth_only are counted in the summary but not listed unless asked for; the advice
    of a blocked account does not tell to block it again; legacy TLS gets its own advice whatever the status."""
    from connector.commands.findings import _print_readiness
    from connector.insights.readiness import next_step

    def row(account: str, status: str, legacy: int = 0) -> tuple[object, ...]:
        step = next_step(status, account, "198.51.100.7", legacy_tls=legacy, messages=445, last="2026-11-20")
        return (account, status, "Basic", None, 445, 3, 0, legacy, "198.51.100.7", True, step, None, "2026-11-29")

    rows = [row("printer@contoso.com", "basic_in_use", legacy=445), row("idle@contoso.com", "enabled_but_unused")]
    shown = {"basic_in_use"}
    _print_readiness("contoso", rows, [], shown, 60, 31)
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("contoso: 1 of 2 accounts need action")
    assert "enabled_but_unused 1 (hidden)" in out
    assert "  printer@contoso.com" in out.splitlines()
    assert "idle@contoso.com" not in out
    assert max(len(ln) for ln in out.splitlines()) <= 60
    legacy = rows[0][10]
    assert isinstance(legacy, str)
    assert "TLS 1.0/1.1 (445 of 445 messages)" in legacy
    assert "TLS 1.2" in legacy
    blocked = next_step("blocked_but_attempting", "a@contoso.com", "203.0.113.9")
    assert "Set-CASMailbox" not in blocked
    assert "203.0.113.9" in blocked
    blocked_now = next_step("blocked_now", "a@contoso.com", "203.0.113.9", last="2026-11-20")
    assert blocked_now.startswith("Blocked now, in use until 2026-11-20")
    assert "Set-CASMailbox" not in blocked_now
