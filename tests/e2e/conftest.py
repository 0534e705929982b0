"""Whole jobs against the simulated tenant: in-process (SimTransport, FakeClock) for speed, HTTPS where it matters."""

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connector.clock import FakeClock
from connector.config import Settings, load_settings
from connector.simulator import GroundTruth, SimDirectory, SimTransport, Simulator, SimulatorSettings, ThrottleConfig
from connector.store.store import Store, open_store
from connector.sync.engine import TenantResult
from connector.sync.progress import LogProgress
from jobs.sync import run_sync_job

START = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def tenant_toml(
    sim: Simulator, tenant: str, app: str, tmp: Path, *, name: str | None = None
) -> tuple[str, dict[str, str]]:
    """A [[tenants]] table for one simulated app, and the environment holding its secret."""
    t = sim.directory.tenant(tenant)
    a = t.app(app)
    ep = sim.endpoints
    name = name or tenant
    lines = [
        "[[tenants]]",
        f'name = "{name}"',
        f'tenant_id = "{t.tenant_id}"',
        f'client_id = "{a.client_id}"',
        f'primary_domain = "{t.initial_domain}"',
        f'authority_host = "{ep.login}"',
        f'graph_endpoint = "{ep.graph}"',
        f'exchange_endpoint = "{ep.exchange}"',
    ]
    env: dict[str, str] = {}
    if a.secret is not None:
        var = f"SIM_SECRET_{name.upper().replace('-', '_')}"
        lines.append(f'client_secret_env = "{var}"')
        env[var] = a.secret
    else:
        assert a.certificate is not None
        cert = tmp / f"{name}.pem"
        key = tmp / f"{name}.key"
        cert.write_text(a.certificate.cert_pem)
        key.write_text(a.certificate.key_pem)
        key.chmod(0o600)
        lines += [f'certificate_path = "{cert}"', f'private_key_path = "{key}"']
    return "\n".join(lines) + "\n", env


@dataclass
class SimEnv:
    """A simulator, a FakeClock shared with the connector, a configuration and a database."""

    sim: Simulator
    clock: FakeClock
    tmp: Path
    db_url: str
    tenants: list[tuple[str, str, str]] = field(default_factory=lambda: [("contoso", "contoso", "reader")])
    #: small pages so that paging (and its faults) happens on a small tenant
    sync_toml: str = "signin_page_size = 200\nmessage_trace_page_size = 100"
    http_toml: str = "[http]\npace_requests = false\nmax_attempts = 12\n"
    #: keys added to every [[tenants]] table
    tenant_extra: str = ""
    environ: dict[str, str] = field(default_factory=dict)
    _store: Store | None = None

    def settings(self) -> Settings:
        parts = [f'data_dir = "{self.tmp / "data"}"\n', f'[database]\nurl = "{self.db_url}"\n', self.http_toml]
        if self.sync_toml:
            parts.append("[sync]\n" + self.sync_toml + "\n")
        env: dict[str, str] = {}
        for name, tenant, app in self.tenants:
            text, secret_env = tenant_toml(self.sim, tenant, app, self.tmp, name=name)
            parts.append(text + self.tenant_extra)
            env.update(secret_env)
        path = self.tmp / "smtpauth.toml"
        path.write_text("\n".join(parts))
        self.environ = env
        return load_settings(path, environ=env)

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.db_url)
        return self._store

    def sync(self, **kwargs: Any) -> list[TenantResult]:
        settings = self.settings()
        # the connector reads each secret from the environment variable the configuration names
        saved = {k: os.environ.get(k) for k in self.environ}
        os.environ.update(self.environ)
        try:
            return run_sync_job(
                settings,
                clock=self.clock,
                store=self.store,
                transport=SimTransport(self.sim),
                **{"progress": LogProgress(), **kwargs},
            )
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def truth(self, tenant: str = "contoso") -> GroundTruth:
        return GroundTruth(self.sim, tenant)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(sa.text(sql), params))

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def make_sim(
    *, users: int = 150, seed: int = 3, throttle: bool = False, clock: FakeClock | None = None, **settings: Any
) -> Simulator:
    clock = clock or FakeClock(START)
    return Simulator(
        SimDirectory.default(seed=seed, users=users),
        clock=clock,
        settings=SimulatorSettings(**settings),
        throttle=ThrottleConfig(enabled=throttle),
    )


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> Iterator[SimEnv]:
    """A contoso sync environment on SQLite and on PostgreSQL."""
    clock = FakeClock(START)
    e = SimEnv(make_sim(clock=clock), clock, tmp_path, db_url)
    yield e
    e.close()


@pytest.fixture
def sqlite_env(tmp_path: Path, sqlite_url: str) -> Iterator[SimEnv]:
    clock = FakeClock(START)
    e = SimEnv(make_sim(clock=clock), clock, tmp_path, sqlite_url)
    yield e
    e.close()


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every log record at DEBUG, through the same redaction the CLI installs."""
    from connector.http.redact import install_log_redaction

    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    return caplog
