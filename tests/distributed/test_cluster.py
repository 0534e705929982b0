"""Distributed mode end to end: 12 tenants in the registry, 2 `smtpauth worker` processes and one `smtpauth serve`
on PostgreSQL, the simulator over HTTPS.

- the scheduler queues every tenant's sync once per scheduled tick (cron every minute, tenants spread over 15 s);
- a worker killed with SIGKILL in the middle of a sync loses nothing: its job is taken up again by another worker
  and the tenant's data equals the simulator's ground truth (nothing lost, nothing twice);
- no two syncs of one tenant ever overlap (from sync_run start and end times), a CLI `smtpauth sync` included;
- report jobs and notification deliveries run on the workers; the API shows the queue and each tenant's runs.
"""

import itertools
import os
import re
import signal
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta

import pytest

from tests.distributed.cluster import Cluster, overlaps, running_cluster, tenant_truth_mismatches, wait_for
from tests.insights.servers import webhook_server

pytestmark = [pytest.mark.postgres, pytest.mark.https, pytest.mark.slow]

TENANTS = 12
_JOB_RUN_IDS = "SELECT args->>'run_id' FROM procrastinate_jobs WHERE task_name = 'smtpauth:sync_tenant'"
WEBHOOK_ENV = "CLUSTER_TEST_WEBHOOK_URL"


def _fires(cluster: Cluster) -> dict[str, list[datetime]]:
    """The scheduled time of every nightly sync job queued, per tenant."""
    out: dict[str, list[datetime]] = defaultdict(list)
    for tenant, reason in cluster.rows(
        "SELECT args->>'tenant', args->>'reason' FROM procrastinate_jobs WHERE task_name = 'smtpauth:sync_tenant'"
    ):
        if reason.startswith("scheduled "):
            out[tenant].append(datetime.fromisoformat(reason.removeprefix("scheduled ")))
    return out


def _succeeded(cluster: Cluster) -> dict[str, int]:
    done: dict[str, int] = defaultdict(int)
    for r in cluster.runs():
        if not r.running and r.statuses == "succeeded":
            done[r.tenant] += 1
    return done


def _job_of(run_id: str) -> str:
    """The run id the job was queued with (a later attempt's adds ``-r`` and 6 hex digits)."""
    return re.sub(r"-r[0-9a-f]{6}$", "", run_id)


def _running_sync_worker(cluster: Cluster) -> tuple[int, str] | None:
    """(pid, tenant) of a worker whose sync has stored its first source already (so it dies mid-sync)."""
    running = {r.tenant for r in cluster.runs() if r.running}
    for worker in cluster.api("/api/v1/queue").json()["workers"]:
        for job in worker["running"]:
            # read again after the queue: a sync that ended between the two reads (its job not yet acknowledged
            # on a loaded machine) would be killed after its run succeeded, and its retry would sync once more
            if job["task"] == "sync_tenant" and job["tenant"] in running and _still_running(cluster, job["tenant"]):
                return int(worker["pid"]), str(job["tenant"])
    return None


def _still_running(cluster: Cluster, tenant: str) -> bool:
    return any(r.running for r in cluster.runs() if r.tenant == tenant)


def test_workers_sync_every_tenant_once_per_tick_and_survive_a_killed_worker(
    make_cluster: Callable[..., Cluster],
) -> None:
    with webhook_server() as (port, inbox):
        os.environ[WEBHOOK_ENV] = f"http://127.0.0.1:{port}/hook"
        cluster = make_cluster(
            tenants=TENANTS,
            extra_toml=f'[notify]\nwebhook_url_env = "{WEBHOOK_ENV}"\n',
        )
        try:
            with running_cluster(cluster):
                cluster.start_serve()
                workers = {"w1": cluster.start_worker("w1"), "w2": cluster.start_worker("w2")}

                # the scheduler gives every registry tenant its next run: the coming minute plus its own offset
                def scheduled() -> list[dict[str, object]] | None:
                    items: list[dict[str, object]] = cluster.api("/api/v1/tenants").json()["tenants"]
                    return items if all(t["next_sync_at"] for t in items) and len(items) == TENANTS else None

                tenants = wait_for(scheduled, 30, "every tenant scheduled")
                assert {t["origin"] for t in tenants} == {"registry"}
                next_runs = sorted(datetime.fromisoformat(str(t["next_sync_at"])) for t in tenants)
                # each at its own offset into the 15-second window after the cron minute, not all in the same second
                assert all(r.second < 15 and r.microsecond == 0 for r in next_runs), next_runs
                assert len({r.second for r in next_runs}) > 3

                # SIGKILL a worker in the middle of a sync
                pid, victim = wait_for(lambda: _running_sync_worker(cluster), 120, "a sync running on a worker")
                name = next(n for n, p in workers.items() if p.pid == pid)
                os.kill(pid, signal.SIGKILL)
                cluster.killed.add(name)
                cluster.start_worker("w3")

                # the first tick: every tenant synced, the victim's job taken up again after its worker died
                wait_for(lambda: len(_succeeded(cluster)) == TENANTS, 150, "every tenant synced once")

                # a report requested through the API runs on a worker
                report = cluster.api(
                    "/api/v1/reports",
                    method="POST",
                    json={"tenant": "cust002", "from": str(date.today() - timedelta(days=20)), "to": str(date.today())},
                )
                assert report.status_code == 202, report.text
                job_id = report.json()["job_id"]
                job = wait_for(
                    lambda: (
                        (j := cluster.api(f"/api/v1/reports/{job_id}").json())["status"] in ("succeeded", "failed")
                        and j
                    ),
                    60,
                    "the report job",
                )
                assert job["status"] == "succeeded", job["error"]
                # the second tick
                wait_for(lambda: min(_succeeded(cluster).values()) >= 2, 120, "every tenant synced twice")

                queue = cluster.api("/api/v1/queue").json()
                health = cluster.api("/api/v1/health").json()
                listed = cluster.api("/api/v1/tenants").json()["tenants"]
        finally:
            os.environ.pop(WEBHOOK_ENV, None)

        logs = cluster.logs()
        # once per scheduled tick: per tenant, distinct scheduled times a minute apart, one job for each
        fires = _fires(cluster)
        assert set(fires) == {f"cust{i:03d}" for i in range(1, TENANTS + 1)}
        for tenant, times in fires.items():
            assert len(times) == len(set(times)), (tenant, times)
            ordered = sorted(times)
            assert all((b - a).total_seconds() == 60 for a, b in itertools.pairwise(ordered)), ordered
        runs = cluster.runs()
        # every sync started at or after its scheduled time, and each tick's runs succeeded exactly once per tenant
        for tenant, times in fires.items():
            # per job: the attempts of one job (a killed worker's, then the retry's) are one sync of the tick
            ok = [(r.started, _job_of(r.run_id)) for r in runs if r.tenant == tenant and r.statuses == "succeeded"]
            for fire in sorted(times)[:2]:
                assert len({job for s, job in ok if fire <= s < fire + timedelta(seconds=60)}) == 1

        # every run carries the run id its job was queued with; a later attempt of a job adds "-r" and 6 hex digits
        job_run_ids = {r[0] for r in cluster.rows(_JOB_RUN_IDS)}
        assert None not in job_run_ids
        assert all(_job_of(r.run_id) in job_run_ids for r in runs), runs
        # the victim: the rest of its sync under the same job's id; a source cut in the middle (the kill can also land
        # between two sources) marked interrupted by the retry
        victim_runs = [r for r in runs if r.tenant == victim]
        cut = any("failed" in r.statuses for r in victim_runs)
        assert any(re.fullmatch(r".+-r[0-9a-f]{6}", r.run_id) for r in victim_runs), victim_runs
        assert not [r for r in runs if r.running]
        interrupted = cluster.rows(
            "SELECT count(*) FROM sync_run WHERE tenant = :t AND error_class = 'interrupted'", t=victim
        )
        assert (interrupted[0][0] >= 1) == cut, victim_runs
        assert "queued again" in logs
        for tenant in sorted(fires):
            assert tenant_truth_mismatches(cluster, tenant) == [], tenant

        # never two syncs of a tenant at once
        assert overlaps(runs) == []

        # report and notifications ran on the workers, not in serve
        worker_pids = {int(w.pid) for w in workers.values()} | {int(cluster.procs["w3"].pid)}
        (report_pid,) = cluster.rows("SELECT worker_pid FROM report_job WHERE job_id = :j", j=job_id)[0]
        assert report_pid in worker_pids
        sent = cluster.rows("SELECT count(*) FROM finding_notification WHERE status = 'sent'")[0][0]
        assert sent > 0
        assert len(inbox.posts) == sent
        assert "deliver_notifications" in logs

        # what the API showed: the executor, the workers with their pids, each tenant's last and next run
        assert health["executor"] == "procrastinate"
        assert health["scheduler"]["role"] == "queue"
        assert {w["pid"] for w in queue["workers"]} <= worker_pids
        assert len(queue["workers"]) >= 2
        assert {q["queue"] for q in queue["queues"]} >= {"sync", "schedule"}
        assert all(t["last_sync_at"] and t["next_sync_at"] for t in listed)


def test_cli_sync_and_worker_never_overlap(make_cluster: Callable[..., Cluster]) -> None:
    """A CLI sync of a tenant holds its lock: the worker's job for that tenant waits and runs afterwards."""
    cluster = make_cluster(tenants=2, cron="0 0 1 1 *", tick_seconds=60)
    with running_cluster(cluster):
        cluster.start_serve()
        cluster.start_worker("w1")
        cli = cluster.spawn("cli", "sync", "--tenant", "cust001", "--plain")
        cluster.killed.add("cli")  # it exits by itself
        wait_for(lambda: any(r.running for r in cluster.runs()), 60, "the CLI sync started")
        assert cluster.api("/api/v1/sync", method="POST", json={"tenants": ["cust001"]}).status_code == 202
        assert cli.wait(120) == 0
        wait_for(lambda: _succeeded(cluster).get("cust001", 0) >= 2, 120, "the worker's sync after the CLI's")
        logs = cluster.logs()
    runs = cluster.runs()
    assert overlaps(runs) == []
    assert len([r for r in runs if r.tenant == "cust001"]) == 2
    assert "already running in another process" in logs
