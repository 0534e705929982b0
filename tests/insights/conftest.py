"""Insights against the in-process simulator: small tenants, a real sync (which runs the insights step)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.clock import FakeClock
from tests.e2e.conftest import START, SimEnv, make_sim

#: small tenants keep a whole sync near a second; 40 users still hold every kind of SMTP AUTH account
USERS = 40
#: shorter history than the default 90 days: the baseline needs 28 days before the 7 judged ones
SYNC_TOML = "signin_page_size = 1000\nmessage_trace_page_size = 1000\nmessage_trace_backfill_days = 45"


def make_env(tmp: Path, db_url: str, *, seed: int = 3, attacks: bool = True) -> SimEnv:
    clock = FakeClock(START)
    sim = make_sim(users=USERS, seed=seed, clock=clock, attack_scenarios=attacks)
    return SimEnv(sim, clock, tmp, db_url, sync_toml=SYNC_TOML)


@pytest.fixture
def attacked(tmp_path: Path, db_url: str) -> Iterator[SimEnv]:
    """A tenant with the simulator's compromised accounts and password spray, on SQLite and PostgreSQL."""
    e = make_env(tmp_path, db_url)
    yield e
    e.close()


@pytest.fixture
def attacked_sqlite(tmp_path: Path, sqlite_url: str) -> Iterator[SimEnv]:
    e = make_env(tmp_path, sqlite_url)
    yield e
    e.close()
