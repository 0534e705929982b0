"""`smtpauth import --load FILE --source NAME`: a saved Graph payload gives the same rows as a live sync."""

import json
import os
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner

from connector.cli import cli
from connector.simulator import SimTransport
from connector.sync.factory import build_client, make_limiter
from tests.e2e.conftest import SimEnv


def save_payloads(env: SimEnv, folder: Path) -> dict[str, Path]:
    """What an admin would have saved from Graph: sign-in pages and a usage-report CSV."""
    settings = env.settings()
    tenant = settings.tenants[0]
    os.environ.update(env.environ)
    client, _, http = build_client(
        settings,
        tenant,
        clock=env.clock,
        limiter=make_limiter(settings, env.clock),
        transport=SimTransport(env.sim),
        persist_tokens=False,
    )
    try:
        # the window a first sync reads: 30 days back (plus a safety margin), up to now
        now = env.clock.now().replace(microsecond=0)
        since = (now - timedelta(days=30, minutes=-5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        until = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        flt = f"clientAppUsed eq 'Authenticated SMTP' and createdDateTime ge {since} and createdDateTime le {until}"
        params = {"$filter": flt, "$top": "300"}
        pages = [p.body for p in client.iter_pages("v1.0/auditLogs/signIns", params=params, family="signins")]
        signins = folder / "signins.json"
        signins.write_text(json.dumps(pages))
        counts = folder / "counts.csv"
        with counts.open("wb") as fh:
            client.download_report(
                "v1.0/reports/getEmailAppUsageUserCounts(period='D180')",
                family="reports_csv:getEmailAppUsageUserCounts",
                dest=fh,
            )
    finally:
        http.close()
    return {"signins": signins, "usage_user_counts": counts}


def table(env: SimEnv, name: str, key: str) -> dict[str, tuple[object, ...]]:
    with env.store.read() as conn:
        cols = [c["name"] for c in sa.inspect(conn).get_columns(name) if c["name"] != "id"]
        rows = conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM {name}")).mappings().all()  # noqa: S608
    return {str(r[key]): tuple(r[c] for c in cols) for r in rows}


def test_loaded_payloads_equal_a_live_sync(sqlite_env: SimEnv, tmp_path: Path) -> None:
    payloads = save_payloads(sqlite_env, tmp_path)
    sqlite_env.sync(sources=["signins", "usage_user_counts"])
    live_signins = table(sqlite_env, "signin", "signin_id")
    live_counts = table(sqlite_env, "usage_user_counts", "report_date")

    offline_dir = tmp_path / "offline"
    offline_dir.mkdir()
    offline = SimEnv(sqlite_env.sim, sqlite_env.clock, offline_dir, f"sqlite:///{offline_dir / 'db.sqlite'}")
    settings_path = offline_dir / "smtpauth.toml"
    offline.settings()
    runner = CliRunner()
    for source, path in payloads.items():
        result = runner.invoke(
            cli,
            ["-c", str(settings_path), "import", "--load", str(path), "--source", source, "--tenant", "contoso"],
            env=offline.environ,
        )
        assert result.exit_code == 0, result.output
        assert " 0 skipped" in result.output
    assert table(offline, "signin", "signin_id") == live_signins
    assert table(offline, "usage_user_counts", "report_date") == live_counts

    # the same payload again changes nothing
    again = runner.invoke(
        cli,
        [
            "-c",
            str(settings_path),
            "import",
            "--load",
            str(payloads["signins"]),
            "--source",
            "signins",
            "-t",
            "contoso",
        ],
        env=offline.environ,
    )
    assert again.exit_code == 0
    assert "already imported" in again.output
    runs = offline.rows("SELECT source, status FROM sync_run WHERE tenant = 'contoso' ORDER BY id")
    assert [r[1] for r in runs] == ["succeeded", "succeeded"]
    offline.close()


def test_a_payload_that_is_not_json_is_refused_in_one_line(sqlite_env: SimEnv, tmp_path: Path) -> None:
    sqlite_env.settings()
    bad = tmp_path / "signins.json"
    bad.write_text("<html>not graph</html>")
    result = CliRunner().invoke(
        cli,
        ["-c", str(tmp_path / "smtpauth.toml"), "import", "--load", str(bad), "--source", "signins", "-t", "contoso"],
        env=sqlite_env.environ,
    )
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert "payloads are JSON" in result.output
    assert sqlite_env.rows("SELECT COUNT(*) FROM signin")[0][0] == 0
