"""The distributed scheduler: which tenant's nightly sync is due, spread over the night window.

Every tenant runs at its cron time plus a fixed offset in ``[0, service.queue.spread_seconds)`` derived from a
hash of its name, so a thousand tenants on "30 2 * * *" start evenly between 02:30 and 06:30 instead of in the
same second, and each tenant starts at the same minute every night.

A scheduler tick (a periodic job run by one worker per period) calls :func:`enqueue_due`: in one transaction it
locks the ``tenant_schedule`` rows, queues a sync for every tenant whose ``next_run_at`` has passed (in the same
transaction, so a run is queued exactly once even if the tick dies half-way) and moves ``next_run_at`` to the
following run. A run missed by more than ``service.misfire_grace_hours`` (every worker down) is skipped and logged.
"""

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from connector.config import ScheduleSettings, Settings
from connector.store.store import Store
from models import TenantSchedule

__all__ = ["TickResult", "enqueue_due", "next_run", "schedule_of", "tenant_offset"]

log = logging.getLogger("smtpauth.scheduler")

_sched: sa.Table = TenantSchedule.__table__  # type: ignore[attr-defined]

#: queues a sync of a tenant in the given transaction; returns the job id (None: one is already waiting)
DeferSync = Callable[[str, datetime, sa.Connection], int | None]


def tenant_offset(tenant: str, spread_seconds: int) -> int:
    """The tenant's fixed start offset in the night window, in whole seconds."""
    if spread_seconds <= 0:
        return 0
    digest = hashlib.sha256(f"smtpauth-spread:{tenant}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % spread_seconds


def schedule_of(settings: Settings, tenant: str) -> ScheduleSettings:
    return settings.service.tenant_schedules.get(tenant, settings.service.schedule)


def next_run(schedule: ScheduleSettings, offset: int, after: datetime) -> datetime:
    """The first cron time plus ``offset`` seconds that is strictly later than ``after``."""
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(schedule.cron, timezone=ZoneInfo(schedule.timezone))
    shift = timedelta(seconds=offset)
    probe = after - shift + timedelta(microseconds=1)
    fire = trigger.get_next_fire_time(None, probe)
    while fire + shift <= after:
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    result: datetime = (fire + shift).astimezone(after.tzinfo)
    return result


def _key(schedule: ScheduleSettings, offset: int) -> str:
    return f"{schedule.cron}|{schedule.timezone}|{offset}"


@dataclass
class TickResult:
    queued: dict[str, int] = field(default_factory=dict)
    #: a sync of the tenant was still waiting in the queue: not queued twice
    waiting: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def enqueue_due(store: Store, settings: Settings, now: datetime, defer: DeferSync) -> TickResult:
    """Queue the due nightly syncs and advance every tenant's next run (see the module's docstring)."""
    result = TickResult()
    spread = settings.service.queue.spread_seconds
    grace = timedelta(hours=settings.service.misfire_grace_hours)
    wanted = {t.name for t in settings.tenants}
    with store.transaction() as tx:
        rows = {r.tenant: r for r in tx.execute(sa.select(_sched).with_for_update())}
        for name in sorted(set(rows) - wanted):
            tx.execute(_sched.delete().where(_sched.c.tenant == name))
            result.removed.append(name)
        for name in sorted(wanted):
            schedule = schedule_of(settings, name)
            offset = tenant_offset(name, spread)
            key = _key(schedule, offset)
            row = rows.get(name)
            if row is None or row.schedule_key != key:
                values = {"schedule_key": key, "next_run_at": next_run(schedule, offset, now), "updated_at": now}
                if row is None:
                    tx.execute(_sched.insert().values(tenant=name, **values))
                    result.added.append(name)
                else:
                    tx.execute(_sched.update().where(_sched.c.id == row.id).values(**values))
                continue
            if row.next_run_at > now:
                continue
            values = {"next_run_at": next_run(schedule, offset, now), "updated_at": now}
            if now - row.next_run_at > grace:
                log.warning("nightly sync of %s due at %s was missed (more than %s late)", name, row.next_run_at, grace)
                result.missed.append(name)
            else:
                job = defer(name, row.next_run_at, tx)
                values["last_fire_at"] = row.next_run_at
                if job is None:
                    result.waiting.append(name)
                else:
                    values["last_job_id"] = job
                    result.queued[name] = job
            tx.execute(_sched.update().where(_sched.c.id == row.id).values(**values))
    if result.queued or result.missed or result.waiting:
        log.info(
            "scheduler tick: %d sync(s) queued, %d still waiting, %d missed",
            len(result.queued),
            len(result.waiting),
            len(result.missed),
        )
    return result


def next_runs(store: Store) -> dict[str, datetime]:
    """Each tenant's next scheduled sync, as the scheduler recorded it."""
    with store.read() as conn:
        return {r.tenant: r.next_run_at for r in conn.execute(sa.select(_sched.c.tenant, _sched.c.next_run_at))}
