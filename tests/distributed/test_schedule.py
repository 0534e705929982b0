"""The distributed scheduler on a FakeClock: nightly runs spread over the window, queued exactly once per run."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.clock import FakeClock
from connector.config import ScheduleSettings, Settings, TenantSettings
from connector.distributed.queue import TASK_SYNC, Deferrer, conninfo, ensure_queue_schema
from connector.distributed.schedule import enqueue_due, next_run, next_runs, tenant_offset
from connector.store.store import open_store

pytestmark = pytest.mark.postgres

APP = "0a0b0c0d-1111-4222-8333-444455556666"
NIGHT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def settings(names: list[str], *, spread: int = 14_400, **service: object) -> Settings:
    tenants = [
        TenantSettings(name=n, tenant_id=f"{n}.onmicrosoft.com", client_id=APP, client_secret_env="S") for n in names
    ]
    return Settings(
        data_dir=Path("/nonexistent"),
        database={"url": "postgresql://localhost/x"},
        service={"executor": "procrastinate", "queue": {"spread_seconds": spread}, **service},
        tenants=tenants,
    )


def test_offsets_are_fixed_per_tenant_and_fill_the_window() -> None:
    offsets = [tenant_offset(f"cust{i:04d}", 14_400) for i in range(1000)]
    assert offsets == [tenant_offset(f"cust{i:04d}", 14_400) for i in range(1000)]
    assert all(0 <= o < 14_400 for o in offsets)
    # 1,000 tenants over 4 hours: every quarter of the window gets a fair share, no second holds many
    quarters = [sum(1 for o in offsets if q * 3600 <= o < (q + 1) * 3600) for q in range(4)]
    assert min(quarters) > 200
    assert max(offsets.count(o) for o in set(offsets)) <= 3
    assert tenant_offset("x", 0) == 0


def test_next_run_is_the_cron_time_plus_the_offset_strictly_later() -> None:
    nightly = ScheduleSettings(cron="30 2 * * *", timezone="UTC")
    assert next_run(nightly, 600, NIGHT) == datetime(2026, 11, 30, 2, 40, tzinfo=UTC)
    assert next_run(nightly, 600, datetime(2026, 11, 30, 2, 40, tzinfo=UTC)) == datetime(2026, 12, 1, 2, 40, tzinfo=UTC)
    # an offset reaching past midnight still belongs to the night it started in
    late = ScheduleSettings(cron="30 23 * * *", timezone="UTC")
    assert next_run(late, 3600, datetime(2026, 11, 30, 23, 0, tzinfo=UTC)) == datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert next_run(late, 3600, datetime(2026, 12, 1, 0, 10, tzinfo=UTC)) == datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    berlin = ScheduleSettings(cron="0 3 * * *", timezone="Europe/Berlin")
    assert next_run(berlin, 0, NIGHT) == datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def test_each_due_run_is_queued_once_and_missed_runs_are_skipped(pg_url: str) -> None:
    store = open_store(pg_url)
    info = conninfo(pg_url)
    ensure_queue_schema(info)
    deferrer = Deferrer(info)
    clock = FakeClock(NIGHT)
    names = [f"cust{i:03d}" for i in range(1, 31)]
    config = settings(names, misfire_grace_hours=6)

    def defer(tenant: str, fire_at: datetime, tx: sa.Connection) -> int | None:
        reason = f"scheduled {fire_at.isoformat()}"
        return deferrer.sync(tenant, reason=reason, run_id=f"run-{tenant}-{fire_at:%H%M}", connection=tx)

    def queued() -> list[tuple[str, str]]:
        with store.read() as conn:
            return [
                (r[0], r[1])
                for r in conn.execute(
                    sa.text(
                        "SELECT args->>'tenant', args->>'reason' FROM procrastinate_jobs WHERE task_name = :t "
                        "ORDER BY id"
                    ),
                    {"t": TASK_SYNC},
                )
            ]

    try:
        first = enqueue_due(store, config, clock.now(), defer)
        assert sorted(first.added) == names
        assert first.queued == {}
        planned = next_runs(store)
        assert all(
            datetime(2026, 11, 30, 2, 30, tzinfo=UTC) <= t < datetime(2026, 11, 30, 6, 30, tzinfo=UTC)
            for t in planned.values()
        )

        # one tick every minute through the night: every tenant queued exactly once, at or after its time
        ticks = 0
        while clock.now() < datetime(2026, 11, 30, 7, 0, tzinfo=UTC):
            clock.advance(60)
            ticks += 1
            enqueue_due(store, config, clock.now(), defer)
        jobs = queued()
        assert sorted(t for t, _ in jobs) == names
        for tenant, reason in jobs:
            assert reason == f"scheduled {planned[tenant].isoformat()}"
        assert all(t.date() == datetime(2026, 12, 1, tzinfo=UTC).date() for t in next_runs(store).values())

        # a sync still waiting in the queue is not queued a second time the next night
        clock.advance(23 * 3600 + 40 * 60)
        again = enqueue_due(store, config, clock.now(), defer)
        assert sorted(again.waiting) == names
        assert len(queued()) == len(names)

        # every worker down for longer than the grace time: the night is skipped, not run at noon
        clock.advance(24 * 3600 + 7 * 3600)
        late = enqueue_due(store, config, clock.now(), defer)
        assert sorted(late.missed) == names
        assert late.queued == {}

        # a tenant removed from the configuration loses its schedule; a changed schedule is recomputed
        fewer = settings(names[1:], misfire_grace_hours=6, schedule={"cron": "0 1 * * *"})
        changed = enqueue_due(store, fewer, clock.now(), defer)
        assert changed.removed == [names[0]]
        assert names[0] not in next_runs(store)
        assert all(t.hour in range(1, 5) for t in next_runs(store).values())
    finally:
        deferrer.close()
        store.close()


def test_the_queue_schema_is_created_once_and_checked(pg_url: str) -> None:
    info = conninfo(pg_url)
    version = ensure_queue_schema(info)
    assert ensure_queue_schema(info) == version
    store = open_store(pg_url)
    try:
        with store.transaction() as tx:
            tx.execute(sa.text("COMMENT ON TABLE procrastinate_jobs IS 'smtpauth: procrastinate schema 01.00.00'"))
    finally:
        store.close()
    from connector.errors import StorageError

    with pytest.raises(StorageError, match=r"procrastinate schema 01\.00\.00, this smtpauth needs"):
        ensure_queue_schema(info)
