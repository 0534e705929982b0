"""A worker paused past the stalled timeout (a suspended virtual machine, a stopped process), then resumed.

While it is paused the other worker takes it for dead: its sync job is queued again and its Procrastinate row is
deleted. When it resumes it must go on working under a new id (Procrastinate's own worker stopped with a foreign-key
error on its next fetch), and the tenant it was syncing must end up exact, never synced twice at once.
"""

import os
import signal
from collections.abc import Callable

import pytest

from tests.distributed.cluster import Cluster, overlaps, running_cluster, tenant_truth_mismatches, wait_for
from tests.distributed.test_cluster import _running_sync_worker, _succeeded

pytestmark = [pytest.mark.postgres, pytest.mark.https, pytest.mark.slow]

TENANTS = 4


def _worker_id(cluster: Cluster, pid: int) -> int | None:
    rows = cluster.rows("SELECT worker_id FROM queue_worker WHERE pid = :p AND stopped_at IS NULL", p=pid)
    return int(rows[0][0]) if rows else None


def test_a_paused_worker_registers_again_and_goes_on(make_cluster: Callable[..., Cluster]) -> None:
    cluster = make_cluster(tenants=TENANTS)
    with running_cluster(cluster):
        cluster.start_serve()
        workers = {"w1": cluster.start_worker("w1"), "w2": cluster.start_worker("w2")}
        pid, victim = wait_for(lambda: _running_sync_worker(cluster), 120, "a sync running on a worker")
        name = next(n for n, p in workers.items() if p.pid == pid)
        other = next(n for n in workers if n != name)
        first_id = _worker_id(cluster, pid)
        assert first_id is not None

        os.kill(pid, signal.SIGSTOP)
        # the other worker's stalled-job check forgets the paused one
        wait_for(
            lambda: not cluster.rows("SELECT 1 FROM procrastinate_workers WHERE id = :i", i=first_id),
            cluster.stalled_seconds * 6,
            "the paused worker forgotten",
        )
        os.kill(pid, signal.SIGCONT)

        new_id = wait_for(
            lambda: (i := _worker_id(cluster, pid)) != first_id and i, 30, "the resumed worker registered again"
        )
        assert cluster.rows("SELECT 1 FROM procrastinate_workers WHERE id = :i", i=new_id)
        wait_for(lambda: len(_succeeded(cluster)) == TENANTS, 150, "every tenant synced once")

        # the resumed worker alone takes the next tick's jobs
        workers[other].send_signal(signal.SIGTERM)
        workers[other].wait(60)
        cluster.killed.add(other)
        done = sum(_succeeded(cluster).values())
        wait_for(
            lambda: sum(_succeeded(cluster).values()) >= done + TENANTS, 150, "the next tick on the resumed worker"
        )
        assert workers[name].poll() is None
        ran = cluster.rows(
            "SELECT count(*) FROM procrastinate_jobs WHERE worker_id = :i AND status = 'succeeded' "
            "AND task_name = 'smtpauth:sync_tenant'",
            i=new_id,
        )[0][0]
        assert ran >= TENANTS
        listed = {int(w["pid"]) for w in cluster.api("/api/v1/queue").json()["workers"]}
        assert pid in listed

    logs = cluster.logs()
    assert f"worker {first_id} sent no heartbeat" in logs
    assert f"registered again as worker {new_id}" in logs
    assert "violates foreign key constraint" not in logs
    assert overlaps(cluster.runs()) == []
    assert not [r for r in cluster.runs() if r.running]
    # the tenant whose sync was paused included
    assert tenant_truth_mismatches(cluster, victim) == []
    for tenant in range(1, TENANTS + 1):
        assert tenant_truth_mismatches(cluster, f"cust{tenant:03d}") == [], tenant
