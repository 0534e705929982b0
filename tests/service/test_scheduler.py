"""The scheduler on an injected clock: one nightly sync per tenant per night, across restarts and two processes;
interrupted jobs recovered; per-tenant cron and time zone."""

import json
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.clock import FakeClock
from connector.config import Settings, load_settings
from connector.errors import ConfigError
from connector.service import JobRunner
from connector.service.lock import open_scheduler_lock
from connector.store.store import Store, open_store
from models import ReportJob, SyncRun

SECRET_ENV = {"SCHED_SECRET": "s3cret-value-for-tests"}
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _tenant(name: str) -> str:
    return (
        f'[[tenants]]\nname = "{name}"\ntenant_id = "{name}.onmicrosoft.com"\n'
        'client_id = "11111111-2222-3333-4444-555555555555"\nclient_secret_env = "SCHED_SECRET"\n'
    )


def make_settings(tmp: Path, service: str = "", db_url: str = "") -> Settings:
    path = tmp / "smtpauth.toml"
    database = f'[database]\nurl = "{db_url}"\n' if db_url else ""
    path.write_text(
        f'data_dir = "{tmp / "data"}"\n{database}[service]\njitter_seconds = 900\n{service}\n'
        '[service.schedule]\ncron = "30 2 * * *"\ntimezone = "UTC"\n'
        '[service.tenant_schedules.fabrikam]\ncron = "15 1 * * *"\ntimezone = "Europe/Berlin"\n'
        + _tenant("contoso")
        + _tenant("fabrikam")
    )
    return load_settings(path, environ=SECRET_ENV)


class RecordingRunner(JobRunner):
    """The real runner with the sync itself replaced by a record of (tenant, when)."""

    def __init__(self, *args: object, fired: list[tuple[str, datetime]], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fired = fired
        self._fired_lock = threading.Lock()

    def run_sync(self, tenants: list[str], run_id: str) -> None:  # type: ignore[override]
        with self._fired_lock:
            self.fired.extend((t, self.clock.now()) for t in tenants)


@pytest.fixture
def setup(tmp_path: Path, db_url: str) -> Iterator[tuple[Settings, Store]]:
    """Settings and a store on SQLite (file lock) and on PostgreSQL (advisory lock)."""
    settings = make_settings(tmp_path, db_url=db_url)
    store = open_store(settings.database_url)
    yield settings, store
    store.close()


def _runner(settings: Settings, store: Store, clock: FakeClock, fired: list[tuple[str, datetime]]) -> RecordingRunner:
    runner = RecordingRunner(settings, store, clock=clock, manual=True, fired=fired, max_workers=1)
    runner.start()
    return runner


def _run_until(runners: list[RecordingRunner], clock: FakeClock, until: datetime, step: float = 600) -> None:
    while clock.now() < until:
        clock.advance(step)
        for r in runners:
            r.tick()
            _drain(r)


def _drain(runner: JobRunner) -> None:
    # the executor runs the recorded job in a thread: wait until it is idle
    scheduler = runner._scheduler
    if scheduler is not None:
        pool = scheduler._executors["default"]._pool
        pool.submit(lambda: None).result(timeout=10)


def _nights(fired: list[tuple[str, datetime]]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for tenant, when in fired:
        key = (tenant, when.date().isoformat())
        out[key] = out.get(key, 0) + 1
    return out


def test_nightly_sync_fires_once_per_tenant_per_night(setup: tuple[Settings, Store]) -> None:
    settings, store = setup
    clock, fired = FakeClock(START), list[tuple[str, datetime]]()
    runner = _runner(settings, store, clock, fired)
    _run_until([runner], clock, START + timedelta(days=3))
    assert runner.stop(grace_seconds=10)
    nights = _nights(fired)
    assert nights == {
        (t, (START + timedelta(days=d)).date().isoformat()): 1 for t in ("contoso", "fabrikam") for d in (1, 2, 3)
    }
    for tenant, when in fired:
        # contoso 02:30 UTC, fabrikam 01:15 Berlin = 00:15 UTC in December; jitter up to 15 min, 10-min ticks
        base = when.replace(hour=2, minute=30) if tenant == "contoso" else when.replace(hour=0, minute=15)
        assert base <= when <= base + timedelta(minutes=26), (tenant, when)


def test_a_restart_neither_duplicates_nor_loses_a_night(setup: tuple[Settings, Store]) -> None:
    settings, store = setup
    clock, fired = FakeClock(START), list[tuple[str, datetime]]()
    first = _runner(settings, store, clock, fired)
    _run_until([first], clock, START + timedelta(days=1, hours=3))  # night 1 done
    assert first.stop(grace_seconds=10)
    second = _runner(settings, store, clock, fired)  # restart: jobs come back from the job store, same ids
    assert sorted(j.id for j in second.jobs()) == ["nightly-sync:contoso", "nightly-sync:fabrikam"]
    _run_until([second], clock, START + timedelta(days=2))
    assert second.stop(grace_seconds=10)
    # down over night 2's run times, back within misfire_grace_hours: each missed run happens once on start
    clock.advance(10 * 3600)
    third = _runner(settings, store, clock, fired)
    third.tick()
    _drain(third)
    _run_until([third], clock, START + timedelta(days=3, hours=1))
    assert third.stop(grace_seconds=10)
    assert set(_nights(fired).values()) == {1}
    assert len(fired) == 6


def test_a_run_missed_by_more_than_the_grace_time_is_skipped(setup: tuple[Settings, Store]) -> None:
    settings, store = setup
    clock, fired = FakeClock(START), list[tuple[str, datetime]]()
    _runner(settings, store, clock, fired).stop(grace_seconds=10)
    clock.advance(24 * 3600)  # down through the night and 9 h past it (grace is 6 h)
    runner = _runner(settings, store, clock, fired)
    runner.tick()
    _drain(runner)
    assert runner.stop(grace_seconds=10)
    assert fired == []


def test_two_schedulers_on_one_database_run_each_job_once(setup: tuple[Settings, Store]) -> None:
    settings, store = setup
    clock, fired = FakeClock(START), list[tuple[str, datetime]]()
    other_store = open_store(settings.database_url)
    a = _runner(settings, store, clock, fired)
    b = _runner(settings, other_store, clock, fired)
    assert (a.role, b.role) == ("leader", "standby")
    assert "another smtpauth serve" in b.detail
    _run_until([a, b], clock, START + timedelta(days=1, hours=6))
    assert a.stop(grace_seconds=10)  # the leader stops (or dies: the lock goes with its process)
    assert b.try_lead()
    _run_until([b], clock, START + timedelta(days=3, hours=6))
    assert b.stop(grace_seconds=10)
    other_store.close()
    assert set(_nights(fired).values()) == {1}
    assert len(fired) == 6


def test_interrupted_jobs_are_recovered_at_start(setup: tuple[Settings, Store]) -> None:
    settings, store = setup
    job: sa.Table = ReportJob.__table__  # type: ignore[attr-defined]
    run: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
    with store.transaction() as tx:
        tx.execute(
            run.insert().values(tenant="contoso", source="signins", run_id="r1", started_at=START, status="running")
        )
        tx.execute(
            job.insert().values(
                job_id="j1",
                tenant="contoso",
                date_from=START.date(),
                date_to=START.date(),
                parameters=json.dumps({}),
                status="running",
                requested_at=START,
                started_at=START,
                worker_host=os.uname().nodename,
                worker_pid=2**22 + 7,
            )
        )
    runner = _runner(settings, store, FakeClock(START), [])
    with store.read() as conn:
        assert conn.execute(sa.select(run.c.status, run.c.error_class)).one() == ("failed", "interrupted")
        status, error = conn.execute(sa.select(job.c.status, job.c.error)).one()
    assert status == "failed"
    assert "interrupted" in error
    assert runner.stop(grace_seconds=10)


def test_sigterm_marks_a_job_still_running_after_the_grace_time(setup: tuple[Settings, Store]) -> None:
    settings, store = setup
    release = threading.Event()
    started = threading.Event()

    class Slow(RecordingRunner):
        def run_sync(self, tenants: list[str], run_id: str) -> None:  # type: ignore[override]
            run: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
            with self.store.transaction() as tx:
                tx.execute(
                    run.insert().values(
                        tenant=tenants[0],
                        source="signins",
                        run_id=run_id,
                        started_at=self.clock.now(),
                        status="running",
                    )
                )
            with self._guard:
                self._own_runs.add(run_id)
            started.set()
            release.wait(30)

    clock = FakeClock(START)
    runner = Slow(settings, store, clock=clock, manual=True, fired=[], max_workers=1)
    runner.start()
    run_id = runner.trigger_sync(["contoso"])
    runner.tick()
    assert started.wait(10)
    assert runner.stop(grace_seconds=0.5) is False
    release.set()
    assert runner.shutdown_thread is not None
    runner.shutdown_thread.join(10)
    run: sa.Table = SyncRun.__table__  # type: ignore[attr-defined]
    with store.read() as conn:
        assert conn.execute(sa.select(run.c.status).where(run.c.run_id == run_id)).scalar_one() == "failed"


def test_a_bad_cron_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[service.schedule]\ncron = "99 2 * * *"\n' + _tenant("contoso"))
    with pytest.raises(ConfigError, match=r"service.schedule.cron: .*not a valid cron"):
        load_settings(path, environ=SECRET_ENV)
    path.write_text('[service.schedule]\ncron = "daily"\n' + _tenant("contoso"))
    with pytest.raises(ConfigError, match=r"service.schedule.cron: .*5 fields"):
        load_settings(path, environ=SECRET_ENV)


def test_an_unknown_time_zone_and_an_unknown_tenant_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[service.tenant_schedules.nobody]\ncron = "0 1 * * *"\ntimezone = "Mars/Olympus"\n' + _tenant("contoso")
    )
    with pytest.raises(ConfigError, match=r"service.tenant_schedules.nobody.timezone: unknown time zone"):
        load_settings(path, environ=SECRET_ENV)
    path.write_text('[service.tenant_schedules.nobody]\ncron = "0 1 * * *"\n' + _tenant("contoso"))
    with pytest.raises(ConfigError, match=r"not a configured tenant"):
        load_settings(path, environ=SECRET_ENV)


@pytest.mark.postgres
def test_scheduler_locks_of_two_schemas_in_one_database_are_apart(pg_url: str) -> None:
    """Two deployments in different schemas of one PostgreSQL database each have their own scheduler; two
    processes of one schema still exclude each other."""
    url = sa.make_url(pg_url)
    other_schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(url.set(query={}), poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {other_schema}")
    other_url = url.update_query_dict({"options": f"-csearch_path={other_schema}"}).render_as_string(
        hide_password=False
    )
    here, here_too, there = open_scheduler_lock(pg_url), open_scheduler_lock(pg_url), open_scheduler_lock(other_url)
    try:
        assert here.acquire()
        assert not here_too.acquire()
        assert there.acquire()
        assert here.held()
        assert there.held()
        here.release()
        assert here_too.acquire()
    finally:
        for lock in (here, here_too, there):
            lock.release()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {other_schema} CASCADE")
        admin.dispose()
