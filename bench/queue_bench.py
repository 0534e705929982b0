"""Distributed mode: tenants synced per hour with 1, 2 and 3 `smtpauth worker` processes on this machine.

One run per worker count, each on a fresh PostgreSQL schema: an estate of N tenants (one multi-tenant app) in the
registry, the simulator over HTTPS in this process enforcing Microsoft's limits time-scaled by S (the connector
paces with `rate_limit_time_scale = S`), real worker processes and one `smtpauth serve`. All N syncs are queued at
once through the API (`POST /api/v1/sync`); the run ends when every tenant has a finished sync.

Per run: wall time, tenants per hour, CPU seconds per tenant-sync (the workers' user+system time from /proc), queue
wait (deferred → started, p50/p95), the simulator's 429s, the load average. Then, with the last worker count, a
second round over the same tenants (the nightly, incremental size) and the pickup latency of an idle worker
(LISTEN/NOTIFY: a job deferred → started, 20 samples).

    .venv/bin/python bench/queue_bench.py --tenants 60 --workers 1,2,3 --out bench/out/queue
"""

import argparse
import json
import os
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import median
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connector.distributed.queue import Deferrer, conninfo  # noqa: E402
from tests.distributed.cluster import Cluster, wait_for  # noqa: E402

PG = os.environ.get("SMTPAUTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def loadavg() -> list[float]:
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


@dataclass
class Round:
    workers: int
    concurrency: int
    tenants: int
    kind: str
    wall_s: float = 0.0
    tenants_per_hour: float = 0.0
    worker_cpu_s: float = 0.0
    cpu_per_tenant_s: float = 0.0
    sync_wall_p50_s: float = 0.0
    sync_wall_p95_s: float = 0.0
    queue_wait_p50_s: float = 0.0
    queue_wait_p95_s: float = 0.0
    rows_per_tenant: float = 0.0
    requests_per_tenant: float = 0.0
    sim_429: int = 0
    sim_cpu_s: float = 0.0
    failed_runs: int = 0
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)


def schema_url() -> tuple[str, str]:
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = sa.make_url(PG).update_query_dict({"options": f"-csearch_path={schema}"})
    return schema, url.render_as_string(hide_password=False)


def drop(schema: str) -> None:
    engine = sa.create_engine(PG, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sync_round(cluster: Cluster, workers: int, concurrency: int, kind: str, since_run: int) -> Round:
    names = [t.name for t in cluster.sim.directory.tenants]
    pids = [p.pid for n, p in cluster.procs.items() if n.startswith("w")]
    cpu0 = sum(cpu_seconds(p) for p in pids)
    sim0 = os.times()
    r = Round(workers=workers, concurrency=concurrency, tenants=len(names), kind=kind, load_before=loadavg())
    stats0 = cluster.sim.stats.snapshot()
    throttled0 = sum(v for k, v in stats0.items() if k.startswith("throttled."))
    start = time.monotonic()
    response = cluster.api("/api/v1/sync", method="POST", json={"tenants": names})
    assert response.status_code == 202, response.text
    run_id = response.json()["run_id"]

    def done() -> bool:
        rows = cluster.rows(
            "SELECT count(DISTINCT tenant) FROM sync_run WHERE id > :s AND status <> 'running' "
            "AND tenant NOT IN (SELECT tenant FROM sync_run WHERE id > :s AND status = 'running')",
            s=since_run,
        )
        return bool(rows[0][0] == len(names))

    wait_for(done, 3600, f"{len(names)} tenants synced", interval=1.0)
    r.wall_s = time.monotonic() - start
    sim1 = os.times()
    r.worker_cpu_s = sum(cpu_seconds(p) for p in pids) - cpu0
    r.sim_cpu_s = (sim1.user + sim1.system) - (sim0.user + sim0.system)
    r.load_after = loadavg()
    r.tenants_per_hour = len(names) / r.wall_s * 3600
    r.cpu_per_tenant_s = r.worker_cpu_s / len(names)
    per_tenant = cluster.rows(
        "SELECT tenant, extract(epoch FROM max(ended_at) - min(started_at)), sum(rows_seen), "
        "bool_or(status = 'failed') FROM sync_run WHERE id > :s GROUP BY tenant",
        s=since_run,
    )
    walls = [float(w) for _, w, _, _ in per_tenant]
    r.sync_wall_p50_s, r.sync_wall_p95_s = percentile(walls, 0.5), percentile(walls, 0.95)
    r.rows_per_tenant = sum(int(n or 0) for _, _, n, _ in per_tenant) / len(names)
    r.failed_runs = sum(1 for *_, f in per_tenant if f)
    waits = [
        float(w)
        for (w,) in cluster.rows(
            "SELECT extract(epoch FROM s.at - d.at) FROM procrastinate_jobs j "
            "JOIN procrastinate_events d ON d.job_id = j.id AND d.type = 'deferred' "
            "JOIN procrastinate_events s ON s.job_id = j.id AND s.type = 'started' "
            "WHERE j.task_name = 'smtpauth:sync_tenant' AND j.args->>'run_id' = :r",
            r=run_id,
        )
    ]
    r.queue_wait_p50_s, r.queue_wait_p95_s = percentile(waits, 0.5), percentile(waits, 0.95)
    r.sim_429 = int(sum(v for k, v in cluster.sim.stats.snapshot().items() if k.startswith("throttled.")) - throttled0)
    r.requests_per_tenant = (cluster.sim.stats.snapshot().get("requests", 0) - stats0.get("requests", 0)) / len(names)
    return r


def storage(cluster: Cluster) -> dict[str, dict[str, float]]:
    """Rows and bytes (table + indexes + TOAST) per data table, and bytes per row."""
    out = {}
    for table in ("signin", "message_trace", "usage_user_detail", "usage_user_counts", "sync_run", "coverage"):
        ((rows, size),) = cluster.rows(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}")  # noqa: S608
        out[table] = {"rows": int(rows), "bytes": int(size), "bytes_per_row": int(size) / max(1, int(rows))}
    return out


def pickup_latency(cluster: Cluster, samples: int = 20) -> list[float]:
    """Seconds from deferring a job to a worker starting it, workers idle (LISTEN/NOTIFY)."""
    deferrer = Deferrer(conninfo(cluster.db_url))
    out = []
    try:
        for _ in range(samples):
            job = deferrer.notify()
            assert job is not None

            def started(job: int = job) -> float | None:
                rows = cluster.rows(
                    "SELECT extract(epoch FROM s.at - d.at) FROM procrastinate_events d "
                    "JOIN procrastinate_events s ON s.job_id = d.job_id AND s.type = 'started' "
                    "WHERE d.job_id = :j AND d.type = 'deferred'",
                    j=job,
                )
                return float(rows[0][0]) if rows else None

            out.append(wait_for(started, 30, "the job started", interval=0.05))
            time.sleep(0.3)
    finally:
        deferrer.close()
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"rounds": [], "args": vars(args), "cores": os.cpu_count(), "started": time.time()}
    counts = [int(x) for x in args.workers.split(",")]
    for n, workers in enumerate(counts):
        schema, url = schema_url()
        tmp = Path(args.out) / f"w{workers}"
        tmp.mkdir(parents=True, exist_ok=True)
        cluster = Cluster(
            tmp,
            url,
            tenants=args.tenants,
            users=args.users,
            time_scale=args.time_scale,
            cron="0 0 1 1 *",
            tick_seconds=60,
            stalled_seconds=60,
            heartbeat_seconds=5,
            history_days=args.days,
        )
        try:
            cluster.start()
            cluster.start_serve()
            for i in range(workers):
                cluster.start_worker(f"w{i + 1}", args.concurrency)
            time.sleep(3)
            first = sync_round(cluster, workers, args.concurrency, "first sync (backfill)", 0)
            results["rounds"].append(asdict(first))
            print(json.dumps(asdict(first)), flush=True)
            results.setdefault("storage_after_first_sync", storage(cluster))
            if n == len(counts) - 1:
                last = cluster.rows("SELECT coalesce(max(id), 0) FROM sync_run")[0][0]
                nightly = sync_round(cluster, workers, args.concurrency, "nightly (incremental)", int(last))
                results["rounds"].append(asdict(nightly))
                print(json.dumps(asdict(nightly)), flush=True)
                lat = pickup_latency(cluster)
                results["pickup_latency_s"] = {"p50": median(lat), "max": max(lat), "samples": len(lat)}
                print(json.dumps(results["pickup_latency_s"]), flush=True)
            results["sim_requests"] = cluster.sim.stats.snapshot().get("requests", 0)
        finally:
            cluster.close()
            drop(schema)
    Path(args.out, "queue_bench.json").write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=60)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--days", type=int, default=30, help="days of history in each simulated tenant")
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--out", default="bench/out/queue")
    args = parser.parse_args()
    run(args)


if __name__ == "__main__":
    main()
