"""Nothing in smtpauth touches the SQLite database files behind SQLite's back, so a running ``serve`` keeps its
locks (and its -wal) whatever CLI command runs beside it.

SQLite's POSIX locks belong to the process: closing any descriptor of the database file, opened by anyone in the
process, drops them all (sqlite.org/howtocorrupt.html, section 2.2), and another process's checkpoint then deletes
the -wal under the open connections. Each process here runs under an audit hook (``audit_run.py``) that records
every Python-level open, chmod, copy, rename or removal of ``smtpauth.db``/``-wal``/``-shm``; ``/proc/locks`` shows
serve still holding its lock after the commands ran.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connector.store import create_engine_for, open_store

TOKEN = "a-long-random-token-for-the-file-test-0123456789"
AUDIT = Path(__file__).with_name("audit_run.py")
TENANT = (
    '[[tenants]]\nname = "contoso"\ntenant_id = "contoso.onmicrosoft.com"\n'
    'client_id = "11111111-2222-3333-4444-555555555555"\nclient_secret_env = "FILES_SECRET"\n'
)
EXPORT = (
    "Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication protocol\n"
    "printer@contoso.com,contoso.com,100%,0%,0%,40,Basic\n"
)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _locks_of(pid: int, inodes: set[int]) -> list[str]:
    found = []
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        # "1: POSIX  ADVISORY  READ 1234 08:01:5678 128 128" (a "->" marks a waiter: one more field)
        if fields[1] == "->":
            fields = fields[1:]
        if fields[1] == "POSIX" and int(fields[4]) == pid and int(fields[5].rsplit(":", 1)[1]) in inodes:
            found.append(line)
    return found


@pytest.mark.slow
def test_serve_and_cli_commands_never_touch_the_database_files(tmp_path: Path) -> None:
    port = _port()
    config = tmp_path / "smtpauth.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n[service]\ntoken_envs = ["FILES_TOKEN"]\nport = {port}\n'
        f"report_poll_seconds = 1.0\n{TENANT}"
    )
    env = {**os.environ, "FILES_TOKEN": TOKEN, "FILES_SECRET": "s3cret-value-for-tests"}
    db = tmp_path / "data" / "smtpauth.db"
    reports: list[Path] = []

    def audited(*args: str) -> list[str]:
        report = tmp_path / f"audit-{len(reports)}.json"
        reports.append(report)
        return [sys.executable, str(AUDIT), str(report), "-c", str(config), *args]

    serve = subprocess.Popen(audited("serve"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/api/v1/health").json()["scheduler"]["role"] == "leader":
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            assert serve.poll() is None, "serve stopped"
            assert time.monotonic() < deadline, "serve did not start within 60 s"
            time.sleep(0.2)
        export = tmp_path / "clients_2026-11-01_2026-11-07.csv"
        export.write_text(EXPORT)
        commands = [
            ("import", "-t", "contoso", str(export)),
            ("findings", "-t", "contoso"),
            ("readiness", "-t", "contoso"),
            ("report", "-t", "contoso", "--from", "2026-11-01", "--to", "2026-11-07", "--out", str(tmp_path / "r")),
            ("request-report", "-t", "contoso", "--from", "2026-11-01", "--to", "2026-11-07", "--format", "csv"),
            ("reports", "list"),
            ("tenants", "list"),
            ("rollups", "rebuild"),
        ]
        for command in commands:
            done = subprocess.run(audited(*command), env=env, capture_output=True, text=True, check=False, timeout=120)
            assert "Traceback" not in done.stderr, (command, done.stderr)
            assert done.returncode in (0, 1), (command, done.stdout, done.stderr)
        r = client.post("/api/v1/reports", json={"tenant": "contoso", "from": "2026-11-01", "to": "2026-11-07"})
        assert r.status_code == 202
        job = r.json()["job_id"]
        deadline = time.monotonic() + 60
        while True:
            polled = client.get(f"/api/v1/reports/{job}")
            assert polled.status_code == 200, polled.text
            if polled.json()["status"] in ("succeeded", "failed"):
                break
            assert time.monotonic() < deadline
            time.sleep(0.3)
        # after all that, the -wal and -shm are still there and serve still holds its locks on them
        shm, wal = Path(f"{db}-shm"), Path(f"{db}-wal")
        assert wal.exists()
        assert shm.exists()
        assert _locks_of(serve.pid, {db.stat().st_ino, shm.stat().st_ino}), Path("/proc/locks").read_text()
        fds = [os.readlink(f) for f in Path(f"/proc/{serve.pid}/fd").iterdir()]
        assert not [f for f in fds if "smtpauth.db" in f and f.endswith("(deleted)")]
    finally:
        client.close()
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err[-2000:]
    assert len(reports) == 9
    for report in reports:
        events = json.loads(report.read_text())
        assert [e for e in events if e["after_first_connect"]] == [], (report.name, events)
        # before it connects, a process creates the file at most once (O_EXCL), never reopens an existing one
        assert len(events) <= 1, (report.name, events)


def test_one_engine_per_database_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'smtpauth.db'}"
    first = create_engine_for(url, busy_timeout_seconds=1)
    assert create_engine_for(url, busy_timeout_seconds=5) is first
    assert create_engine_for(f"sqlite:///{tmp_path / 'a' / '..' / 'a' / 'smtpauth.db'}") is first
    store = open_store(url)
    assert store.engine is first
    store.close()
    with first.connect() as conn:  # disposing closes idle connections only: the engine goes on working
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    assert create_engine_for("sqlite://") is not create_engine_for("sqlite://")  # in memory: one database each
