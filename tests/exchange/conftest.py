"""Exchange-admin sync environments: the e2e simulator environment with ``exchange_admin = true``."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from connector.clock import FakeClock
from connector.config import Settings, load_settings
from tests.e2e.conftest import START, SimEnv, make_sim, tenant_toml


@dataclass
class ExoEnv(SimEnv):
    def settings(self) -> Settings:
        parts = [f'data_dir = "{self.tmp / "data"}"\n', f'[database]\nurl = "{self.db_url}"\n', self.http_toml]
        parts.append("[sync]\n" + self.sync_toml + "\n")
        env: dict[str, str] = {}
        for name, tenant, app in self.tenants:
            text, secret_env = tenant_toml(self.sim, tenant, app, self.tmp, name=name)
            parts.append(text + "exchange_admin = true\n" + self.tenant_extra)
            env.update(secret_env)
        path = self.tmp / "smtpauth.toml"
        path.write_text("\n".join(parts))
        self.environ = env
        return load_settings(path, environ=env)

    def run(self, *sources: str) -> str:
        """Sync the given sources; return the coverage status and reason of the last one."""
        (result,) = self.sync(sources=list(sources))
        assert result.error is None, result.error
        (row,) = self.rows(
            "SELECT status, reason FROM coverage WHERE tenant = 'contoso' AND source = :s", s=sources[-1]
        )
        return f"{row[0]}: {row[1]}"

    def prime(self) -> None:
        """Sync the sources that tell which accounts use SMTP AUTH (the senders a search names)."""
        (result,) = self.sync(sources=["usage_user_detail", "signins"])
        assert result.ok, result.outcomes

    def jobs(self) -> list[tuple[str, str | None]]:
        return [(r[0], r[1]) for r in self.rows("SELECT status, error FROM historical_search_job ORDER BY id")]


@pytest.fixture
def exo(tmp_path: Path, sqlite_url: str) -> Iterator[ExoEnv]:
    clock = FakeClock(START)
    e = ExoEnv(make_sim(clock=clock, users=120), clock, tmp_path, sqlite_url)
    e.sync_toml = (
        "smtp_cs_backfill_days = 10\nsmtp_cs_search_days = 4.0\nsmtp_cs_max_retries = 1\nusage_detail_days = 7"
    )
    yield e
    e.close()
