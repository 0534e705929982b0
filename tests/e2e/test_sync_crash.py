"""A sync killed with SIGKILL at random points, then rerun, ends with exactly the rows of a clean sync.

The simulator serves over HTTPS from this process, its clock frozen so every run sees the same tenant; each
`smtpauth sync` is a separate process, killed at a random moment, again and again, each run resuming from what the
previous ones left. Then one last run completes, and its database is compared with a clean sync's, table by
table, and with the simulator's ground truth.
"""

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.clock import FakeClock
from connector.simulator import SimDirectory, Simulator, SimulatorServer, SimulatorSettings, ThrottleConfig
from connector.store.store import open_store
from tests.e2e.conftest import START, SimEnv
from tests.e2e.test_sync_truth import assert_matches_truth

pytestmark = [pytest.mark.https, pytest.mark.slow]

#: the reliability plan asks for 20; SMTPAUTH_CRASH_POINTS lowers it for a quick local run
CRASH_POINTS = int(os.environ.get("SMTPAUTH_CRASH_POINTS", "20"))
SYNC = (
    "[sync]\nsignin_page_size = 200\nmessage_trace_page_size = 200\nsignin_slice_hours = 72.0\n"
    "message_trace_backfill_days = 21\n"
)
#: data tables and the columns that identify a row's content (surrogate ids and fetch times left out)
TABLES = {
    "signin": None,
    "message_trace": None,
    "usage_user_detail": None,
    "usage_user_counts": None,
    "usage_apps_kpi": None,
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, SimulatorServer]]:
    # 20 days of history: every run's backfill covers all of it, however long the runs take
    sim = Simulator(
        SimDirectory.default(seed=5, users=150),
        clock=FakeClock(START),
        settings=SimulatorSettings(history_days=20),
        throttle=ThrottleConfig(enabled=False),
    )
    with SimulatorServer(sim, tmp_path_factory.mktemp("sim")) as server:
        yield sim, server


def config(tmp: Path, server: SimulatorServer) -> Path:
    path = tmp / "smtpauth.toml"
    # the simulator runs without Microsoft's limits here, so the connector need not pace itself either
    head = f'data_dir = "{tmp / "data"}"\n[http]\npace_requests = false\n{SYNC}\n'
    path.write_text(head + server.config_snippet().split("\n\n")[0] + "\n")
    return path


def start_sync(cfg: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "connector", "-c", str(cfg), "sync", "--plain"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stored_rows(db: Path) -> int:
    """Rows in the data tables right now, read beside the writer (WAL)."""
    if not db.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
            return sum(conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES)  # noqa: S608
    except sqlite3.OperationalError:  # the schema is still being created
        return 0


def describe(table: str, got: set[tuple[object, ...]], want: set[tuple[object, ...]]) -> str:
    """Which rows differ, and in which positions, for a readable failure."""
    extra, missing = sorted(got - want, key=str), sorted(want - got, key=str)
    lines = [f"{table}: {len(extra)} rows differ from the clean sync, {len(missing)} missing"]
    for a, b in list(zip(extra, missing, strict=False))[:3]:
        lines.append(f"  {[(i, x, y) for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]}")
    return "\n".join(lines)


def snapshot(db: Path) -> dict[str, set[tuple[object, ...]]]:
    store = open_store(f"sqlite:///{db}")
    try:
        out: dict[str, set[tuple[object, ...]]] = {}
        with store.read() as conn:
            for table in TABLES:
                cols = [c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] != "id"]
                rows = conn.execute(sa.text(f"SELECT {', '.join(cols)} FROM {table}")).all()  # noqa: S608
                out[table] = {tuple(r) for r in rows}
                assert len(out[table]) == len(rows), f"duplicate rows in {table}"
        return out
    finally:
        store.close()


def test_sigkill_at_random_points_then_rerun_equals_clean_sync(
    served: tuple[Simulator, SimulatorServer], tmp_path: Path
) -> None:
    sim, server = served
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    assert start_sync(config(clean_dir, server)).wait(timeout=300) == 0
    clean = snapshot(clean_dir / "data" / "smtpauth.db")
    assert sum(map(len, clean.values())) > 5000

    crash_dir = tmp_path / "crash"
    crash_dir.mkdir()
    cfg = config(crash_dir, server)
    db = crash_dir / "data" / "smtpauth.db"
    total = sum(map(len, clean.values()))
    # kill points spread over the whole sync, measured in rows stored so far (runs resume, so time would not do)
    rng = random.Random(20261128)
    targets = sorted(rng.uniform(0, total) for _ in range(CRASH_POINTS))
    killed = 0
    for target in targets:
        proc = start_sync(cfg)
        try:
            while proc.poll() is None and stored_rows(db) < target:
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                killed += 1
            proc.wait(timeout=60)
    assert killed >= CRASH_POINTS * 3 // 4, f"only {killed} of {CRASH_POINTS} runs were killed mid-way"
    assert start_sync(cfg).wait(timeout=300) == 0

    recovered = snapshot(crash_dir / "data" / "smtpauth.db")
    for table in TABLES:
        assert recovered[table] == clean[table], describe(table, recovered[table], clean[table])

    # and both equal what the simulator says a correct sync finds
    env = SimEnv(sim, sim.clock, crash_dir, f"sqlite:///{crash_dir / 'data' / 'smtpauth.db'}")  # type: ignore[arg-type]
    env.sync_toml = SYNC.removeprefix("[sync]\n")
    try:
        assert_matches_truth(env, env.truth())
    finally:
        env.close()
