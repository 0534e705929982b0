"""National clouds: Microsoft's own hosts and scopes per cloud (in-process), and `smtpauth check` against a
simulator of each cloud over HTTPS, printing which sources exist there."""

import queue
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from connector.clock import FakeClock
from connector.config import load_settings
from connector.probe import check_tenant
from connector.simulator import SimDirectory, SimTransport, Simulator, ThrottleConfig
from connector.simulator.app import SimulatorEndpoints
from connector.sync.factory import build_client, make_limiter
from tests.e2e.conftest import START
from tests.e2e.test_cli_https import smtpauth, tenant_table, write_config

NATIONAL = ("usgov", "usgovdod", "china")
NOT_THERE = {"report_settings", "usage_user_counts", "usage_apps_kpi", "message_trace"}


@pytest.mark.parametrize("cloud", NATIONAL)
def test_each_cloud_is_reached_at_microsofts_hosts_with_its_scopes(tmp_path: Path, cloud: str) -> None:
    sim = Simulator(
        SimDirectory.default(seed=3, users=60),
        clock=FakeClock(START),
        throttle=ThrottleConfig(enabled=False),
        endpoints=SimulatorEndpoints.for_cloud(cloud),
        cloud=cloud,
    )
    t = sim.directory.tenant("contoso")
    app = t.app("reader")
    assert app.secret is not None
    # no host override: the product's own table of the cloud's hosts must be right for anything to answer
    path = tmp_path / "smtpauth.toml"
    path.write_text(
        f'data_dir = "{tmp_path}"\n[[tenants]]\nname = "contoso"\ntenant_id = "{t.tenant_id}"\n'
        f'client_id = "{app.client_id}"\ncloud = "{cloud}"\nclient_secret_env = "SIM_SECRET"\nexchange_admin = true\n'
    )
    settings = load_settings(path, environ={"SIM_SECRET": app.secret})
    tenant = settings.tenants[0]
    clock = FakeClock(START)
    import os

    os.environ["SIM_SECRET"] = app.secret
    try:
        client, tokens, http = build_client(
            settings, tenant, clock=clock, limiter=make_limiter(settings, clock), transport=SimTransport(sim)
        )
        try:
            result = check_tenant(tenant, tokens, client, clock)
        finally:
            http.close()
    finally:
        os.environ.pop("SIM_SECRET", None)
    assert result.token_ok, result.token_detail
    states = {p.source: p.state for p in result.probes}
    assert {s for s, st in states.items() if st == "not_in_cloud"} == NOT_THERE
    assert {s for s, st in states.items() if st == "ok"} == set(states) - NOT_THERE
    assert "exchange_posture" in states
    assert result.ok


@pytest.fixture(scope="module")
def clouds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    """`smtpauth simulate --cloud X` for each national cloud, started side by side."""
    procs: dict[str, subprocess.Popen[str]] = {}
    out: dict[str, tuple[Path, str]] = {}
    for cloud in NATIONAL:
        state = tmp_path_factory.mktemp(f"sim-{cloud}")
        procs[cloud] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connector",
                "simulate",
                "--state-dir",
                str(state),
                "--users",
                "40",
                "--cloud",
                cloud,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        out[cloud] = (state, "")
    try:
        for cloud, proc in procs.items():
            lines: queue.Queue[str] = queue.Queue()
            assert proc.stdout is not None
            stdout = proc.stdout
            threading.Thread(target=lambda s=stdout, q=lines: [q.put(ln) for ln in s], daemon=True).start()
            seen: list[str] = []
            while not seen or not seen[-1].startswith("# ready"):
                seen.append(lines.get(timeout=60))
            out[cloud] = (out[cloud][0], "".join(seen))
        yield out  # type: ignore[misc]
    finally:
        for proc in procs.values():
            proc.terminate()
            proc.communicate(timeout=20)


@pytest.mark.https
@pytest.mark.parametrize("cloud", NATIONAL)
def test_check_in_a_national_cloud_prints_which_sources_exist(
    clouds: dict[str, tuple[Path, str]], tmp_path: Path, cloud: str
) -> None:
    _state, snippet = clouds[cloud]
    table = tenant_table(snippet, "contoso")
    assert f'cloud = "{cloud}"' in table
    result = smtpauth("-c", str(write_config(tmp_path, table)), "check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"contoso ({cloud}" not in result.stdout  # the header names the tenant id, then the cloud
    assert f"{cloud} cloud): token ok" in result.stdout
    for line in result.stdout.splitlines():
        words = line.split()
        if len(words) >= 2 and words[1] in NOT_THERE:
            assert words[0] == "n/a", line
            assert f"unavailable in the {cloud} cloud" in line
        elif len(words) >= 2 and words[1] in ("usage_user_detail", "signins", "exchange_posture", "smtp_cs_report"):
            assert words[0] == "ok", line
    assert sum(1 for ln in result.stdout.splitlines() if ln.split()[:1] == ["n/a"]) == len(NOT_THERE)
    assert "Traceback" not in result.stderr
