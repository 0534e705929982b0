"""Read-path benchmark: the API under 10 concurrent clients, the dashboard's first paint in headless Chromium,
`smtpauth report` per format, each report table's statement alone (``reads``), and the insights step after a
nightly sync; peak RSS of each.

Usage::

    .venv/bin/python bench/read_bench.py --db-url sqlite:///bench/out/big90.db --tenant bench \\
        --from 2026-08-30 --to 2026-11-27 --out bench/out/read_sqlite

The database is one `bench/artifacts_bench.py --make` filled (SQLite or PostgreSQL, ``--db-url``). Each phase runs
in its own process (``smtpauth serve`` for the API and the dashboard; a child for each report format and for the
insights), so each peak RSS is its own. Every request has a time limit (``--timeout``); a phase that exceeds its
budget is stopped and reported as such ("> N s"), which is how the code before the rollups is measured on large
data. Results: ``OUT/read_bench.json`` and a summary on stdout.
"""

import argparse
import json
import os
import resource
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TOKEN = secrets.token_hex(24)
TABLES = (
    "sending_volume_by_domain",
    "sending_volume_by_sender",
    "sending_volume_sender_totals",
    "tls_usage_by_sender",
    "auth_protocol_by_sender",
    "accounts",
    "kpi_history",
    "findings",
)
FORMATS = ("csv", "xlsx", "parquet", "html")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, url: str, tenant: str, port: int, cache_mb: int | None = None) -> Path:
    path = tmp / "smtpauth.toml"
    cache = "" if cache_mb is None else f"read_cache_mb = {cache_mb}\n"
    path.write_text(
        f'data_dir = "{tmp}"\n[database]\nurl = "{url}"\n'
        f'[service]\ntoken_envs = ["SMTPAUTH_BENCH_TOKEN"]\nscheduler = false\nport = {port}\n{cache}'
        f'[[tenants]]\nname = "{tenant}"\ntenant_id = "00000000-0000-4000-8000-000000000001"\n'
        'client_id = "00000000-0000-4000-8000-000000000002"\nclient_secret_env = "SMTPAUTH_BENCH_SECRET"\n'
    )
    return path


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a running process."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


def _wait_for_warmup(base: str, deadline: float) -> float:
    """Wait until the service has computed its start-up answers (``/health``'s ``read_cache.warming`` false), as a
    service that has been up for a while has; the seconds waited. A service without that field is not waited for."""
    import httpx

    t0 = time.monotonic()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    while time.monotonic() < deadline:
        body = httpx.get(base + "/api/v1/health", headers=headers, timeout=5).json()
        if not body.get("read_cache", {}).get("warming", False):
            break
        time.sleep(0.1)
    return round(time.monotonic() - t0, 2)


def api_phase(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:  # noqa: PLR0915
    import httpx

    port = _free_port()
    cfg = _config(tmp, args.db_url, args.tenant, port, args.read_cache_mb)
    env = dict(os.environ, SMTPAUTH_BENCH_TOKEN=TOKEN, SMTPAUTH_BENCH_SECRET=secrets.token_hex(16))
    # started in the temporary directory: ``-m`` puts the working directory first on the module path, which would
    # run the checkout the benchmark was started from instead of the code PYTHONPATH names
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "connector", "-c", str(cfg), "serve", "--no-scheduler"],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("w"),
    )
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {"clients": args.clients, "rounds": args.rounds, "read_cache_mb": args.read_cache_mb}
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        out["waited_for_warmup_s"] = _wait_for_warmup(base, time.monotonic() + 300) if args.after_warmup else None
        rng = {"tenant": args.tenant, "from": args.date_from, "to": args.date_to}
        paths = [("/api/v1/summary", rng)] + [(f"/api/v1/data/{t}", rng) for t in TABLES]
        lat: dict[str, list[float]] = {p: [] for p, _ in paths}
        first_pass: list[float] = []  # each client's first request of each endpoint
        errors: list[str] = []
        stop_at = time.monotonic() + args.budget
        lock = threading.Lock()

        def client(i: int) -> None:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=base, headers=headers, timeout=args.timeout) as c:
                for k in range(args.rounds * len(paths)):
                    if time.monotonic() > stop_at:
                        return
                    path, params = paths[(i + k) % len(paths)]
                    t0 = time.perf_counter()
                    try:
                        r = c.get(path, params=params)
                        problem = None if r.status_code == 200 else f"{path}: {r.status_code}"
                    except httpx.HTTPError as exc:
                        problem = f"{path}: {type(exc).__name__}"
                    with lock:
                        lat[path].append(time.perf_counter() - t0)
                        if k < len(paths):
                            first_pass.append(lat[path][-1])
                        if problem:
                            errors.append(problem)

        out["load_average_at_start"] = [round(x, 1) for x in os.getloadavg()]
        cpu0 = _cpu_s(server.pid)
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        out["wall_s"] = round(time.perf_counter() - t0, 1)
        cpu1 = _cpu_s(server.pid)
        out["serve_cpu_s"] = round(cpu1 - cpu0, 2) if cpu0 is not None and cpu1 is not None else None
        out["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
        out["stopped_at_budget"] = time.monotonic() > stop_at
        out["errors"] = errors[:20]
        out["error_count"] = len(errors)
        out["endpoints"] = {
            p: {
                "n": len(v),
                "p50_ms": round(1000 * statistics.median(v)) if v else None,
                "p95_ms": round(1000 * _pct(v, 0.95)) if v else None,
                "max_ms": round(1000 * max(v)) if v else None,
            }
            for p, v in lat.items()
        }
        all_lat = [x for v in lat.values() for x in v]
        out["all_p95_ms"] = round(1000 * _pct(all_lat, 0.95)) if all_lat else None
        out["first_pass_p50_ms"] = round(1000 * statistics.median(first_pass)) if first_pass else None
        out["first_pass_max_ms"] = round(1000 * max(first_pass)) if first_pass else None
        if not args.no_browser:
            out["dashboard"] = dashboard(args, base)
    finally:
        out["serve_peak_rss_mb"] = _vm_hwm_mb(server.pid)
        server.terminate()
        server.wait(30)
    return out


def dashboard(args: argparse.Namespace, base: str) -> dict[str, Any]:
    """Seconds from navigation (signed in) to the first panel with data and to every panel loaded."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.add_init_script(f"sessionStorage.setItem('smtpauth-token', {json.dumps(TOKEN)})")
        t_cold = time.perf_counter()
        page.goto(base + "/")  # the first load warms the server and the browser cache
        page.wait_for_selector("body[data-ready=true]", timeout=args.timeout * 1000)
        cold_all = time.perf_counter() - t_cold
        # a dashboard without panels (before they load on their own) paints its data all at once
        first_ready = (
            "[data-panel][data-state=ready]" if page.locator("[data-panel]").count() else "body[data-ready=true]"
        )
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            page.goto(base + "/")
            page.wait_for_selector(first_ready, timeout=args.timeout * 1000)
            first = time.perf_counter() - t0
            page.wait_for_selector("body[data-ready=true]", timeout=args.timeout * 1000)
            runs.append((first, time.perf_counter() - t0))
        browser.close()
    return {
        "first_panel_s": round(statistics.median(r[0] for r in runs), 3),
        "all_panels_s": round(statistics.median(r[1] for r in runs), 3),
        "first_load_all_panels_s": round(cold_all, 3),
        "note": "default range (30 days ending yesterday), signed in, median of 3 loads after a first load",
    }


def reads(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    """Each report table's statement alone, in this process, over the range (the statement the API pages and the
    reports read, no HTTP, no cache): the first run (cold for this process) and the median of ``--repeat`` more,
    wall and CPU ms, and a SHA-256 of the rows, so two codes' answers can be compared."""
    import hashlib

    from connector.artifacts.tables import TABLES as SPECS
    from connector.store.readside.params import ReportParams
    from connector.store.readside.sql import Dialect

    params = ReportParams(
        tenant=args.tenant, date_from=date.fromisoformat(args.date_from), date_to=date.fromisoformat(args.date_to)
    )
    out: dict[str, Any] = {}
    for spec in SPECS:
        if spec.query is None:
            continue
        walls, cpus, digest = [], [], ""
        for _ in range(1 + args.repeat):
            with store.read() as conn:
                t0, c0 = time.perf_counter(), time.process_time()
                rows = conn.execute(spec.query(Dialect(store.dialect), params)).all()
                walls.append((time.perf_counter() - t0) * 1000)
                cpus.append((time.process_time() - c0) * 1000)
            digest = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()[:16]
        out[spec.name] = {
            "rows": len(rows),
            "first_ms": round(walls[0], 1),
            "median_ms": round(statistics.median(walls[1:]), 1) if args.repeat else None,
            "median_cpu_ms": round(statistics.median(cpus[1:]), 1) if args.repeat else None,
            "sha256": digest,
        }
    return {"tables": out}


def child(args: argparse.Namespace) -> dict[str, Any]:
    from connector.store import open_store

    store = open_store(args.db_url, migrate_schema=not args.no_migrate)
    t0, c0 = time.perf_counter(), time.process_time()
    result: dict[str, Any] = {"phase": args.child, "load_avg_start": [round(x, 1) for x in os.getloadavg()]}
    if args.child.startswith("report-"):
        from connector.artifacts import ReportParams, build_report

        fmt = args.child.removeprefix("report-")
        params = ReportParams(
            tenant=args.tenant,
            date_from=date.fromisoformat(args.date_from),
            date_to=date.fromisoformat(args.date_to),
            formats=(fmt,),
        )
        with tempfile.TemporaryDirectory() as tmp:
            build_report(store, params, Path(tmp))
        result["seconds"] = round(time.perf_counter() - t0, 2)
        result["cpu_s"] = round(time.process_time() - c0, 2)
    elif args.child == "reads":
        result.update(reads(args, store))
    else:
        result.update(insights(args, store))
    store.close()
    result["load_avg_end"] = [round(x, 1) for x in os.getloadavg()]
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return result


def insights(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    """From no stored finding: the insights step as of the last stored day, then a nightly sync's worth of new rows
    (the last day's message-trace rows again, one day later, as new rows) and the insights step of the next
    morning."""
    import sqlalchemy as sa

    from connector.config import InsightsSettings
    from connector.insights.detect import run_detection
    from models import MessageTrace

    tr = MessageTrace.__table__  # type: ignore[attr-defined]
    # every run starts from no stored finding (an earlier run's findings would turn its inserts into updates)
    with store.transaction() as tx:
        findings = sa.select(sa.text("id")).select_from(sa.table("finding")).where(sa.column("tenant") == args.tenant)
        tx.execute(sa.table("finding_notification").delete().where(sa.column("finding_id").in_(findings)))
        tx.execute(sa.table("finding").delete().where(sa.column("tenant") == args.tenant))
        tx.execute(
            sa.table("watermark").delete().where(sa.column("tenant") == args.tenant, sa.column("source") == "insights")
        )
    cfg = InsightsSettings()
    last = date.fromisoformat(args.date_to)
    now = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC) + timedelta(hours=6)
    t0, c0 = time.perf_counter(), time.process_time()
    first = run_detection(store, cfg, args.tenant, now)
    first_s, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    start = datetime.combine(last, datetime.min.time(), UTC)
    cols = [c.name for c in tr.columns if c.name not in ("id", "utc_day", "sender_domain")]  # written by the store
    with store.read() as conn:
        rows = [
            dict(r._mapping)
            for r in conn.execute(
                sa.select(*[tr.c[c] for c in cols]).where(
                    tr.c.tenant == args.tenant, tr.c.received_at >= start, tr.c.received_at < start + timedelta(1)
                )
            )
        ]
    for r in rows:
        r["trace_id"] = "next-" + r["trace_id"]
        r["received_at"] = r["received_at"] + timedelta(days=1)
    t1, c1 = time.perf_counter(), time.process_time()
    with store.transaction() as tx:
        store.upsert(tx, MessageTrace, rows, key=("tenant", "trace_id"))
    sync_s, sync_cpu = time.perf_counter() - t1, time.process_time() - c1
    t2, c2 = time.perf_counter(), time.process_time()
    nightly = run_detection(store, cfg, args.tenant, now + timedelta(days=1))
    nightly_s, nightly_cpu = time.perf_counter() - t2, time.process_time() - c2
    t3 = time.perf_counter()
    again = run_detection(store, cfg, args.tenant, now + timedelta(days=1))
    again_s = time.perf_counter() - t3
    with store.transaction() as tx:  # leave the database as it was
        tx.execute(tr.delete().where(tr.c.tenant == args.tenant, tr.c.trace_id.like("next-%")))
        try:
            from connector.store import rollups
        except ImportError:  # the code before the rollups
            pass
        else:
            keys = {(args.tenant, last + timedelta(days=1), r["sender_address"]) for r in rows}
            rollups.touch(tx, "message_trace", keys)
    return {
        "first_run_s": round(first_s, 2),
        "first_run_cpu_s": round(first_cpu, 2),
        "first_run_findings": len(first.candidates),
        "nightly_rows": len(rows),
        "nightly_store_s": round(sync_s, 2),
        "nightly_store_cpu_s": round(sync_cpu, 2),
        "after_nightly_sync_s": round(nightly_s, 2),
        "after_nightly_sync_cpu_s": round(nightly_cpu, 2),
        "after_nightly_findings": len(nightly.candidates),
        "unchanged_rerun_s": round(again_s, 3),
        "unchanged_rerun_skipped": getattr(again, "skipped", None),
    }


def run_child(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--db-url", args.db_url, "--tenant", args.tenant, "--from", args.date_from,
           "--to", args.date_to, "--child", phase, "--repeat", str(args.repeat),
           *(["--no-migrate"] if args.no_migrate else [])]  # fmt: skip
    t0 = time.perf_counter()
    try:
        done = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=args.budget)  # noqa: S603
    except subprocess.TimeoutExpired:
        return {"phase": phase, "stopped_after_s": args.budget}
    except subprocess.CalledProcessError as exc:
        return {"phase": phase, "failed": exc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = round(time.perf_counter() - t0, 2)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db-url", required=True)
    ap.add_argument("--tenant", default="bench")
    ap.add_argument("--from", dest="date_from", default="2026-08-30")
    ap.add_argument("--to", dest="date_to", default="2026-11-27")
    ap.add_argument("--phases", default="api,report,insights", help="of api, report, reads, insights")
    ap.add_argument("--formats", default=",".join(FORMATS), help="report formats to time, one process each")
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=5, help="passes over the endpoints per client")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    ap.add_argument("--budget", type=float, default=900.0, help="seconds per phase before it is stopped")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument(
        "--after-warmup",
        action="store_true",
        help="api phase: start the clients once the service has warmed its read cache (a service up for a while), "
        "not as soon as it answers (a cold start)",
    )
    ap.add_argument("--repeat", type=int, default=3, help="reads phase: runs of each statement after the first")
    ap.add_argument("--read-cache-mb", type=int, default=None, help="service.read_cache_mb of the server (0: off)")
    ap.add_argument("--no-migrate", action="store_true", help="open the database as it is (old code)")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "read")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    phases = [p for p in args.phases.split(",") if p]
    results: dict[str, Any] = {"db_url": args.db_url.split("@")[-1], "from": args.date_from, "to": args.date_to}
    with tempfile.TemporaryDirectory() as tmp:
        if "api" in phases:
            results["api"] = api_phase(args, Path(tmp))
            print(json.dumps(results["api"], indent=1), flush=True)
    if "report" in phases:
        results["report"] = {fmt: run_child(args, f"report-{fmt}") for fmt in args.formats.split(",")}
        print(json.dumps(results["report"], indent=1), flush=True)
    if "reads" in phases:
        results["reads"] = run_child(args, "reads")
        print(json.dumps(results["reads"], indent=1), flush=True)
    if "insights" in phases:
        results["insights"] = run_child(args, "insights")
        print(json.dumps(results["insights"], indent=1), flush=True)
    (args.out / "read_bench.json").write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
