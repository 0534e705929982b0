"""API load while a sync writes (SQLite WAL): a bounded burst of concurrent reads on loopback, 0 errors."""

import json
import statistics
import threading
import time

import httpx

from tests.service.conftest import AUTH, DATE_FROM, DATE_TO, OUTPUT, Served, wait_for

RANGE = {"tenant": "contoso", "from": DATE_FROM.isoformat(), "to": DATE_TO.isoformat()}
PATHS = (
    "/api/v1/data/sending_volume_by_domain",
    "/api/v1/data/sending_volume_sender_totals",
    "/api/v1/health",
    "/api/v1/tenants",
    "/api/v1/sync-runs",
)
THREADS = 4
MIN_PER_THREAD = 25
MAX_PER_THREAD = 150


def test_concurrent_reads_while_a_sync_writes_have_no_error(served: Served) -> None:
    served.env.clock.advance(6 * 3600)  # six hours later: new sign-ins and messages to write
    latencies: list[float] = []
    errors: list[str] = []
    during_sync = [0]
    lock = threading.Lock()
    sync_over = threading.Event()

    def reader(i: int) -> None:
        with httpx.Client(base_url=served.url, headers=AUTH, timeout=60) as client:
            for k in range(MAX_PER_THREAD):
                syncing = bool(served.runner.syncing())
                if k >= MIN_PER_THREAD and sync_over.is_set():
                    return
                path = PATHS[(i + k) % len(PATHS)]
                params = RANGE if path.startswith(("/api/v1/data", "/api/v1/summary")) else {}
                t0 = time.perf_counter()
                try:
                    r = client.get(path, params=params)
                    ok = r.status_code == 200
                    problem = f"{path}: {r.status_code} {r.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, f"{path}: {exc!r}"
                with lock:
                    latencies.append(time.perf_counter() - t0)
                    during_sync[0] += syncing
                    if not ok:
                        errors.append(problem)

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()  # reading before, while and after the sync writes
    run_id = served.runner.trigger_sync(["contoso"])

    def finished() -> bool:
        runs = served.get("/api/v1/sync-runs", tenant="contoso", limit=100).json()["runs"]
        mine = [r for r in runs if r["run_id"] == run_id]
        return bool(mine) and not served.runner.syncing() and all(r["status"] != "running" for r in mine)

    wait_for(finished, 120)
    sync_over.set()
    for t in threads:
        t.join(120)
    runs = served.get("/api/v1/sync-runs", tenant="contoso", limit=100).json()["runs"]
    mine = [r for r in runs if r["run_id"] == run_id]
    q = statistics.quantiles(latencies, n=20)
    numbers = {
        "requests": len(latencies),
        "during_sync": during_sync[0],
        "errors": len(errors),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(q[18] * 1000, 1),
        "rows_written": sum(r["rows_inserted"] + r["rows_updated"] for r in mine),
        "rows_seen": sum(r["rows_seen"] for r in mine),
    }
    OUTPUT.mkdir(exist_ok=True)
    (OUTPUT / "read_during_sync.json").write_text(json.dumps(numbers, indent=2))
    assert errors == []
    assert numbers["requests"] >= THREADS * MIN_PER_THREAD
    assert numbers["during_sync"] >= 20, numbers
    assert mine
    assert all(r["status"] in ("succeeded", "unavailable") for r in mine)
    assert numbers["rows_written"] > 0, mine
