"""``smtpauth findings``, ``findings ack`` and ``readiness`` on a synced simulated tenant."""

import csv
from pathlib import Path

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
