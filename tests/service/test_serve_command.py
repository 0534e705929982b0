"""``smtpauth serve`` refuses to start without a usable token or schedule (exit 2, one line naming the key), and
serves on 127.0.0.1 by default."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from connector.cli import cli

TENANT = (
    '[[tenants]]\nname = "contoso"\ntenant_id = "contoso.onmicrosoft.com"\n'
    'client_id = "11111111-2222-3333-4444-555555555555"\nclient_secret_env = "SERVE_SECRET"\n'
)
ENV = {"SERVE_SECRET": "s3cret-value-for-tests"}
TOKEN = "a-long-random-token-for-the-serve-test-0123456789"


def _config(tmp: Path, service: str) -> Path:
    path = tmp / "smtpauth.toml"
    path.write_text(f'data_dir = "{tmp / "data"}"\n[service]\n{service}\n{TENANT}')
    return path


def _run(path: Path, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["--config", str(path), "serve"], env={**ENV, **env})
    return result.exit_code, result.output


def test_no_token_configured_exits_2(tmp_path: Path) -> None:
    code, out = _run(_config(tmp_path, ""), {})
    assert code == 2
    assert "service.token_envs: no API token" in out


def test_a_short_token_exits_2(tmp_path: Path) -> None:
    code, out = _run(_config(tmp_path, 'token_envs = ["API_TOKEN"]'), {"API_TOKEN": "short"})
    assert code == 2
    assert "too weak" in out


def test_a_world_readable_hashes_file_exits_2(tmp_path: Path) -> None:
    hashes = tmp_path / "hashes"
    hashes.write_text("0" * 64 + "\n")
    hashes.chmod(0o644)
    code, out = _run(_config(tmp_path, f'token_hashes_file = "{hashes}"'), {})
    assert code == 2
    assert "service.token_hashes_file" in out


def test_a_bad_cron_exits_2(tmp_path: Path) -> None:
    code, out = _run(_config(tmp_path, '[service.schedule]\ncron = "* * *"'), {})
    assert code == 2
    assert "service.schedule.cron" in out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_binds_loopback_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    path = _config(tmp_path, f'token_envs = ["API_TOKEN"]\nport = {port}')
    env = {**os.environ, **ENV, "API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(path), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while time.monotonic() < deadline and health is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
                health = r.json()
            except httpx.TransportError:
                time.sleep(0.2)
        assert health is not None, "serve did not answer"
        assert health["scheduler"]["role"] == "leader"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/health").status_code == 401
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (tmp_path / "data" / "smtpauth.db.scheduler.lock").exists()


def test_serve_verbose_logs_access_lines_and_its_address(tmp_path: Path) -> None:
    """``serve -v``: one access line per request (no "Logging error"), the start-up line with the real address."""
    port = _free_port()
    path = _config(tmp_path, f'token_envs = ["API_TOKEN"]\nport = {port}')
    env = {**os.environ, **ENV, "API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(path), "-v", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(
                    f"http://127.0.0.1:{port}/api/v1/health?probe=1", headers={"Authorization": f"Bearer {TOKEN}"}
                )
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.2)
        assert r.status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/tenants").status_code == 401
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "Logging error" not in out
    assert "Traceback" not in out
    assert f"Uvicorn running on http://127.0.0.1:{port} (Press CTRL+C to quit)" in out
    assert '"GET /api/v1/health?probe=1 HTTP/1.1" 200' in out
    assert '"GET /api/v1/tenants HTTP/1.1" 401' in out
    assert TOKEN not in out


def test_serve_says_where_it_listens_without_verbose_even_on_port_0(tmp_path: Path) -> None:
    """Without -v, serve prints the URL it listens on (the real port, chosen by the system for port 0)."""
    path = _config(tmp_path, 'token_envs = ["API_TOKEN"]\nscheduler = false')
    env = {**os.environ, **ENV, "API_TOKEN": TOKEN}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "--config", str(path), "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line.startswith("smtpauth serve: dashboard and API on http://127.0.0.1:"), line
        url = line.split(" on ", 1)[1].split(" ", 1)[0]
        assert not url.endswith(":0/")
        r = httpx.get(url + "api/v1/health", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
