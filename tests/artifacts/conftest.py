"""A simulated tenant synced into SQLite once per module, with SmtpCSReport rows for a few days, and the ground
truth to compare the report with."""

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from connector.artifacts import ReportParams
from connector.clock import FakeClock
from connector.simulator import GroundTruth
from connector.simulator.exchange import render_smtpcs, smtpcs_rows
from connector.sources.smtp_cs_report import normalize_smtp_cs_report
from connector.store.store import Store
from models import SmtpCsReportRow
from tests.e2e.conftest import START, SimEnv, make_sim

#: the report's range: 14 complete days ending the day before the simulator's "now"
DATE_TO = START.date() - timedelta(days=1)
DATE_FROM = DATE_TO - timedelta(days=13)
#: days for which an SmtpCSReport file is loaded (the rest of the range rests on message trace)
CS_DAYS = (DATE_TO - timedelta(days=9), DATE_TO - timedelta(days=8), DATE_TO - timedelta(days=7))


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(), UTC)


def load_smtp_cs_report(store: Store, truth: GroundTruth, days: tuple[date, ...], tenant: str = "contoso") -> int:
    """Load the simulator's SmtpCSReport file of ``days`` through the production normalizer."""
    loaded = 0
    for d in days:
        messages = smtpcs_rows(
            truth.pop, day_start(d), day_start(d + timedelta(days=1)) - timedelta(microseconds=1), truth.now
        )
        rows = [
            r
            for r in normalize_smtp_cs_report(io.BytesIO(render_smtpcs(messages)), tenant=tenant, job_id="t")
            if isinstance(r, dict)
        ]
        with store.transaction() as tx:
            store.upsert(tx, SmtpCsReportRow, rows, key=("tenant", "occurred_at", "sender_address", "message_id"))
        loaded += len(rows)
    return loaded


@dataclass
class Synced:
    env: SimEnv
    truth: GroundTruth
    cs_rows: int

    @property
    def store(self) -> Store:
        return self.env.store

    def params(self, **kw: object) -> ReportParams:
        settings = self.env.settings()
        args: dict[str, object] = {
            "tenant": "contoso",
            "date_from": DATE_FROM,
            "date_to": DATE_TO,
            "today": START.date(),
        }
        args.update(kw)
        return ReportParams.build(settings, **args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synced]:
    tmp = tmp_path_factory.mktemp("synced")
    clock = FakeClock(START)
    env = SimEnv(make_sim(clock=clock), clock, tmp, f"sqlite:///{tmp / 'smtpauth.db'}")
    env.sync_toml = ""
    results = env.sync()
    assert all(r.ok for r in results)
    truth = env.truth()
    n = load_smtp_cs_report(env.store, truth, CS_DAYS)
    assert n > 0
    yield Synced(env, truth, n)
    env.close()


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "report"
