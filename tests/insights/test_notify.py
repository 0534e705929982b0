"""Notifications of new high-severity findings: a local SMTP relay and a local webhook receiver, and their
failures (down, HTTP 500, timeout): the sync still succeeds, the failure is recorded and retried next run."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import SimEnv
from tests.insights.conftest import make_env
from tests.insights.servers import free_port, smtp_server, webhook_server

HOOK_ENV = "SMTPAUTH_TEST_WEBHOOK_URL"
SPRAY_IP = "203.0.113.250"


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str) -> Iterator[SimEnv]:
    e = make_env(tmp_path, sqlite_url)
    yield e
    e.close()


def _notify(env: SimEnv, *, smtp_port: int | None = None, hook: bool = False, timeout: float = 2.0) -> None:
    lines = ["[notify]", f"timeout_seconds = {timeout}"]
    if smtp_port is not None:
        lines += [
            'smtp_host = "127.0.0.1"',
            f"smtp_port = {smtp_port}",
            'smtp_security = "none"',
            'mail_from = "smtpauth@contoso.example"',
            'mail_to = ["secops@contoso.example"]',
        ]
    if hook:
        lines.append(f'webhook_url_env = "{HOOK_ENV}"')
    env.http_toml = env.http_toml + "\n" + "\n".join(lines) + "\n"


def _rows(env: SimEnv) -> list[Any]:
    return env.rows(
        "SELECT n.channel, n.status, n.attempts, n.error, f.kind, f.severity FROM finding_notification n "
        "JOIN finding f ON f.id = n.finding_id ORDER BY n.id"
    )


def _sync_ok(env: SimEnv) -> None:
    results = env.sync()
    assert all(r.ok for r in results)


def _high_findings(env: SimEnv) -> int:
    return int(env.rows("SELECT count(*) FROM finding WHERE severity = 'high'")[0][0])


def test_new_high_findings_go_to_the_relay_and_the_webhook_without_message_data(
    env: SimEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    with smtp_server() as (smtp_port, mail), webhook_server() as (hook_port, hook):
        monkeypatch.setenv(HOOK_ENV, f"http://127.0.0.1:{hook_port}/hook/secret-token")
        _notify(env, smtp_port=smtp_port, hook=True)
        _sync_ok(env)
        highs = _high_findings(env)
        assert highs == 5  # two compromised accounts (spike and new origin each), the spray
        assert len(mail.messages) == highs
        assert len(hook.posts) == highs
        assert {r.status for r in _rows(env)} == {"sent"}
        # a second run finds the same findings: nothing is sent again
        _sync_ok(env)
        assert len(mail.messages) == highs
        assert len(hook.posts) == highs
    text = "\n".join(mail.messages) + "\n".join(p["text"] for p in hook.posts)
    assert "Suggested action" in text
    assert "password spray" in text
    stored = env.rows("SELECT evidence FROM finding")
    for leak in (SPRAY_IP, "203.0.113.20", "secret-token", "Notification", "@contoso-com"):
        assert leak not in text, leak
    assert any(SPRAY_IP in r[0] for r in stored), "the IP is in the stored evidence, only not in notifications"


def test_relay_down_is_recorded_and_retried_next_run(env: SimEnv) -> None:
    port = free_port()
    _notify(env, smtp_port=port)
    _sync_ok(env)
    rows = _rows(env)
    assert rows
    assert {(r.status, r.attempts) for r in rows} == {("failed", 1)}
    assert all("ConnectionRefusedError" in r.error for r in rows)
    with smtp_server() as (smtp_port, mail):
        env.http_toml = env.http_toml.replace(f"smtp_port = {port}", f"smtp_port = {smtp_port}")
        _sync_ok(env)
    assert {(r.status, r.attempts) for r in _rows(env)} == {("sent", 2)}
    assert len(mail.messages) == len(rows)


@pytest.mark.parametrize(("status", "delay", "expected"), [(500, 0.0, "answered HTTP 500"), (200, 1.5, "timed out")])
def test_webhook_failure_is_recorded_and_the_sync_succeeds(
    env: SimEnv, monkeypatch: pytest.MonkeyPatch, status: int, delay: float, expected: str
) -> None:
    with webhook_server() as (port, hook):
        hook.status, hook.delay = status, delay
        url = f"http://127.0.0.1:{port}/hook/secret-token"
        monkeypatch.setenv(HOOK_ENV, url)
        _notify(env, hook=True, timeout=0.5)
        _sync_ok(env)
    rows = _rows(env)
    assert rows
    assert all(r.status == "failed" and expected in r.error for r in rows)
    assert all("secret-token" not in r.error for r in rows), "the webhook URL is a credential"


def test_webhook_must_be_https_off_loopback(env: SimEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HOOK_ENV, "http://hooks.example.com/services/T0/B0/x")
    _notify(env, hook=True)
    _sync_ok(env)
    rows = _rows(env)
    assert rows
    assert all(r.status == "failed" and "must be https" in r.error for r in rows)
    assert os.environ[HOOK_ENV]
