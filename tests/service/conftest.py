"""A synced simulated tenant served by the real application: JobRunner (scheduler on a FakeClock) + FastAPI."""

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from connector.clock import FakeClock
from connector.config import Settings
from connector.service import JobRunner, TokenVerifier, create_app
from connector.simulator import SimTransport
from tests.artifacts.conftest import CS_DAYS, DATE_FROM, DATE_TO, load_smtp_cs_report
from tests.e2e.conftest import START, SimEnv, make_sim

TOKEN = "t0k3n-for-the-service-tests-0123456789abcdef"
TOKEN_ENV = "SMTPAUTH_TEST_API_TOKEN"
SERVICE_TOML = f'[service]\ntoken_envs = ["{TOKEN_ENV}"]\nreport_poll_seconds = 1.0\n'
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OUTPUT = Path(__file__).parent / "output"

__all__ = ["AUTH", "CS_DAYS", "DATE_FROM", "DATE_TO", "OUTPUT", "START", "TOKEN", "Served", "served", "wait_for"]


@dataclass
class Served:
    env: SimEnv
    settings: Settings
    runner: JobRunner
    app: FastAPI
    client: httpx.Client
    url: str

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params, headers=AUTH)

    def wait_job(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            job: dict[str, Any] = self.get(f"/api/v1/reports/{job_id}").json()
            return job if job["status"] in ("succeeded", "failed") else None

        job: dict[str, Any] = wait_for(done, timeout)
        return job


def wait_for(probe: Any, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not done after {timeout} s")


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("served")
    clock = FakeClock(START)
    env = SimEnv(make_sim(clock=clock), clock, tmp, f"sqlite:///{tmp / 'smtpauth.db'}")
    env.sync_toml = ""
    env.http_toml += SERVICE_TOML
    assert all(r.ok for r in env.sync())
    assert load_smtp_cs_report(env.store, env.truth(), CS_DAYS) > 0
    settings = env.settings()
    saved = {k: os.environ.get(k) for k in env.environ}
    os.environ.update(env.environ)  # a sync on demand reads the tenant's secret from its environment variable
    runner = JobRunner(settings, env.store, clock=clock, transport=SimTransport(env.sim))
    runner.start()
    verifier = TokenVerifier.from_settings(settings.service, {TOKEN_ENV: TOKEN})
    app = create_app(settings, env.store, runner, verifier)
    with LiveServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Served(env, settings, runner, app, client, url)
    assert runner.stop(grace_seconds=60)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    env.close()


class LiveServer:
    """The application under uvicorn on a loopback port, in a thread."""

    def __init__(self, app: FastAPI) -> None:
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        wait_for(lambda: self.server.started, 20)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)
