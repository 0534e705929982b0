"""Sync benchmark: throughput and peak RSS of a full sync against a large simulated tenant, beside a stdlib floor,
at several sizes; then request pacing against the simulator enforcing Microsoft's limits (time-scaled).

Usage::

    .venv/bin/python bench/sync_bench.py --out bench/out/            # full size, all parts
    .venv/bin/python bench/sync_bench.py --users 30000 --sizes 1.0 --no-throttled   # a quick look

The simulator runs in its own process (``sim_serve.py``) and the sync runs as ``smtpauth sync --plain`` in a
child process, so the RSS and CPU measured are the connector's alone. Numbers go to ``OUT/sync_bench.json``
and a table is printed.
"""

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import floor

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
SMTPAUTH = str(Path(PYTHON).with_name("smtpauth"))
#: sources whose rows the benchmark counts (the report-settings source stores no rows)
DATA_SOURCES = ("usage_user_detail", "usage_user_counts", "usage_apps_kpi", "signins", "message_trace")
TABLE_OF_SOURCE = {"usage_user_detail": "usage_user_detail", "signins": "signin", "message_trace": "message_trace"}


# ---------------------------------------------------------------------------------------------- processes


@dataclass
class SimProcess:
    proc: subprocess.Popen[bytes]
    state_dir: Path
    snippet: str

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        _, _, usage = os.wait4(self.proc.pid, 0)
        self.proc.returncode = 0
        stats: dict[str, Any] = json.loads((self.state_dir / "stats.json").read_text(encoding="utf-8"))
        stats["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
        stats["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
        return stats


def start_simulator(
    state_dir: Path,
    *,
    users: int,
    tenant: dict[str, float],
    throttle_scale: float | None,
    now: str | None = None,
    dump_dir: Path | None = None,
) -> SimProcess:
    """Start ``sim_serve.py``; with ``now`` its clock is frozen and it records and replays (see its docstring)."""
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    cmd = [
        PYTHON,
        str(HERE / "sim_serve.py"),
        "--state-dir",
        str(state_dir),
        "--users",
        str(users),
        "--smtp-share",
        str(tenant["smtp_share"]),
        "--volume",
        str(tenant["volume"]),
        "--background-rate",
        str(tenant["background_rate"]),
        "--history-days",
        str(int(tenant["history_days"])),
    ]
    if throttle_scale is not None:
        cmd += ["--throttle", "--time-scale", str(throttle_scale)]
    if now is not None:
        cmd += ["--now", now, "--replay"]
    if dump_dir is not None:
        cmd += ["--dump-dir", str(dump_dir)]
    log = (state_dir / "simulator.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 (our own script)
    ready = state_dir / "ready.json"
    deadline = time.monotonic() + 300
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the simulator did not start; see {state_dir / 'simulator.log'}")
        time.sleep(0.1)
    return SimProcess(proc, state_dir, json.loads(ready.read_text(encoding="utf-8"))["snippet"])


def write_config(data_dir: Path, snippet: str, sync: dict[str, Any], http: dict[str, Any]) -> Path:
    def table(name: str, values: dict[str, Any]) -> str:
        lines = [f"[{name}]"]
        for k, v in values.items():
            lines.append(f"{k} = {json.dumps(v) if not isinstance(v, bool) else str(v).lower()}")
        return "\n".join(lines) + "\n"

    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "smtpauth.toml"
    text = f'data_dir = "{data_dir.resolve()}"\n' + table("sync", sync) + table("http", http) + "\n" + snippet
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class ProcessMeasure:
    returncode: int
    wall_seconds: float
    user_seconds: float
    system_seconds: float
    peak_rss_mb: float
    #: (seconds since start, RSS MB) sampled from /proc every 0.2 s
    rss_timeline: list[tuple[float, float]] = field(default_factory=list)


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cli_sync(config: Path, sources: tuple[str, ...] = ()) -> list[str]:
    """The command line of ``smtpauth sync --plain``."""
    cmd = [SMTPAUTH, "-c", str(config), "sync", "--plain"]
    for s in sources:
        cmd += ["--source", s]
    return cmd


def frozen_sync(config: Path, now: str, timings: Path, *, statements: bool = False) -> list[str]:
    """The command line of the same sync with the wall clock frozen at ``now`` (``sync_child.py``); with
    ``statements`` every SQL statement is timed too (slower: for finding where the time goes, not for throughput)."""
    cmd = [PYTHON, str(HERE / "sync_child.py"), "--config", str(config), "--now", now, "--timings", str(timings)]
    return [*cmd, "--statements"] if statements else cmd


def run_sync(cmd: list[str], log_path: Path) -> ProcessMeasure:
    """Run a sync as a child; its peak RSS comes from wait4 (the kernel's high-water mark)."""
    timeline: list[tuple[float, float]] = []
    started = time.monotonic()
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 (our own CLI)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            rss = _rss_mb(proc.pid)
            if rss is not None:
                timeline.append((round(time.monotonic() - started, 2), round(rss, 1)))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    done.set()
    sampler.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcessMeasure(
        returncode=proc.returncode,
        wall_seconds=wall,
        user_seconds=usage.ru_utime,
        system_seconds=usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,
        rss_timeline=timeline,
    )


# ---------------------------------------------------------------------------------------------- results


def sync_runs(db: Path) -> dict[str, dict[str, Any]]:
    """Per source: status, rows seen/inserted/updated/skipped and seconds, from the sync_run records."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT source, status, rows_seen, rows_inserted, rows_updated, rows_skipped, retries, throttled_count,"
            " (julianday(ended_at) - julianday(started_at)) * 86400 FROM sync_run ORDER BY id"
        ).fetchall()
    out = {}
    for source, status, seen, ins, upd, skipped, retries, throttled, secs in rows:
        out[source] = {
            "status": status,
            "rows_seen": seen,
            "rows_inserted": ins,
            "rows_updated": upd,
            "rows_skipped": skipped,
            "retries": retries,
            "throttled": throttled,
            "seconds": round(secs or 0.0, 2),
        }
    return out


def table_counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 (fixed table names)
            for t in ("usage_user_detail", "usage_user_counts", "usage_apps_kpi", "signin", "message_trace")
        }


# ---------------------------------------------------------------------------------------------- full syncs


def sync_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "usage_detail_days": args.usage_detail_days,
        "signin_backfill_days": args.signin_days,
        "message_trace_backfill_days": args.trace_days,
        "message_trace_max_requests": 1_000_000,
    }


def tenant_knobs(args: argparse.Namespace) -> dict[str, float]:
    return {
        "smtp_share": args.smtp_share,
        "volume": args.volume,
        "background_rate": 0.0,
        "history_days": max(args.signin_days, args.trace_days) + 5,
    }


def _apply_timings(runs: dict[str, dict[str, Any]], timings_path: Path) -> dict[str, Any]:
    """Replace each source's seconds (dated by the frozen clock in ``sync_run``) by its monotonic timing."""
    timings: dict[str, Any] = json.loads(timings_path.read_text(encoding="utf-8"))
    for source, t in timings["sources"].items():
        if source in runs:
            runs[source]["seconds"] = round(t["ended"] - t["started"], 2)
    return timings


def replay_share(requests: list[list[Any]], since: float) -> dict[str, int]:
    """How many requests arriving after ``since`` were answered from the recording."""
    later = [r for r in requests if r[0] >= since]
    return {"requests": len(later), "replayed": sum(1 for r in later if r[3])}


def full_sync(args: argparse.Namespace, users: int, *, with_floor: bool) -> dict[str, Any]:
    """Record the tenant with a first sync against the live simulator, then measure a second sync (fresh
    database) that the simulator answers from the recording, then the floor on the recorded payloads."""
    work = args.out / f"full-{users}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    now = datetime.now(UTC).replace(second=0, microsecond=0).isoformat()
    print(f"== full sync, {users:,} users (simulator starting, clock frozen at {now})", flush=True)
    payloads = work / "payloads"
    sim = start_simulator(
        work / "simulator",
        users=users,
        tenant=tenant_knobs(args),
        throttle_scale=None,
        now=now,
        dump_dir=payloads if with_floor else None,
    )
    result: dict[str, Any] = {"users": users, "frozen_now": now}
    try:
        # throttling is off in the simulator, so the connector does not pace either
        settings, http = sync_settings(args), {"pace_requests": False}
        live_cfg = write_config(work / "data-live", sim.snippet, settings, http)
        live = run_sync(frozen_sync(live_cfg, now, work / "timings-live.json"), work / "sync-live.log")
        live_runs = sync_runs(work / "data-live" / "smtpauth.db")
        _apply_timings(live_runs, work / "timings-live.json")
        print(
            f"   recording sync (live simulator) exit {live.returncode}: {live.wall_seconds:.1f} s wall, "
            f"{live.user_seconds + live.system_seconds:.1f} s CPU, peak RSS {live.peak_rss_mb:.0f} MB",
            flush=True,
        )
        result["live"] = {"process": asdict(live), "sources": live_runs}
        replay_started = time.monotonic()
        config = write_config(work / "data", sim.snippet, settings, http)
        measure = run_sync(
            frozen_sync(config, now, work / "timings.json", statements=args.statements), work / "sync.log"
        )
        db = work / "data" / "smtpauth.db"
        runs = sync_runs(db)
        result["timings"] = _apply_timings(runs, work / "timings.json")
        counts = table_counts(db)
        print(
            f"   measured sync (replayed) exit {measure.returncode}: {measure.wall_seconds:.1f} s wall, "
            f"{measure.user_seconds + measure.system_seconds:.1f} s CPU, peak RSS {measure.peak_rss_mb:.0f} MB",
            flush=True,
        )
        print("   rows per table: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()), flush=True)
        timed = result["timings"]
        if timed.get("rollups_flush_s") is not None:
            flushed = f"{timed['rollups_flush_s']} s ({timed['rollups_flushes']} flushes)"
            print(f"   rollups recomputed before commits: {flushed}", flush=True)
        live_counts = table_counts(work / "data-live" / "smtpauth.db")
        if live_counts != counts:
            raise RuntimeError(f"the replayed sync stored {counts}, the recording sync {live_counts}")
        result.update({"process": asdict(measure), "sources": runs, "table_rows": counts})
    finally:
        sim_stats = sim.stop()
    result["replay"] = replay_share(sim_stats["requests"], replay_started)
    print(
        f"   {result['replay']['replayed']:,} of {result['replay']['requests']:,} requests of the measured sync "
        "answered from the recording",
        flush=True,
    )
    result["simulator"] = {
        "counters": sim_stats["counters"],
        "population": sim_stats["population"],
        "cpu_seconds": sim_stats["cpu_seconds"],
        "peak_rss_mb": sim_stats["peak_rss_mb"],
    }
    if with_floor:
        files = {t: sorted((payloads / t).iterdir()) if (payloads / t).is_dir() else [] for t in floor.TABLES}
        print(f"   timing the floor on {sum(len(f) for f in files.values()):,} recorded payloads", flush=True)
        tables = floor.run_floor(files, db, work / "floor.db")
        result["floor"] = {t: {**asdict(v), "rows_per_second": v.rows_per_second} for t, v in tables.items()}
        shutil.rmtree(payloads, ignore_errors=True)
    result["throughput"] = throughput(result)
    return result


def throughput(result: dict[str, Any]) -> dict[str, Any]:
    """Rows per second per table and overall: sync (wall and per CPU second of the sync process) and floor."""
    runs = result["sources"]
    measure = result["process"]
    out: dict[str, Any] = {}
    total_rows = sum(runs.get(s, {}).get("rows_seen", 0) for s in DATA_SOURCES)
    cpu = measure["user_seconds"] + measure["system_seconds"]
    # the sync job ends with the insights step (findings over the stored data): timed apart, from the end of the
    # last source to the end of the process
    timings = result.get("timings") or {}
    ends = [t["ended"] for t in timings.get("sources", {}).values()]
    insights = timings["process_ended"] - max(ends) if ends else 0.0
    sources_wall = measure["wall_seconds"] - insights
    out["overall"] = {
        "rows": total_rows,
        "sync_rows_per_s_wall": total_rows / measure["wall_seconds"],
        "sync_rows_per_s_cpu": total_rows / cpu if cpu else 0.0,
        "insights_seconds": insights,
        "sync_rows_per_s_wall_without_insights": total_rows / sources_wall if sources_wall > 0 else 0.0,
    }
    for source, table in TABLE_OF_SOURCE.items():
        run = runs.get(source, {})
        secs = run.get("seconds") or 0.0
        out[table] = {"rows": run.get("rows_seen", 0), "sync_rows_per_s": run.get("rows_seen", 0) / secs if secs else 0}
    if "floor" in result:
        fl = result["floor"]
        rows = sum(v["rows_seen"] for v in fl.values())
        secs = sum(v["seconds"] for v in fl.values())
        out["overall"]["floor_rows"] = rows
        out["overall"]["floor_rows_per_s"] = rows / secs if secs else 0.0
        # the three big tables, sync time per source vs floor time per table
        sync_rows = sum(out[t]["rows"] for t in TABLE_OF_SOURCE.values())
        sync_secs = sum(runs.get(s, {}).get("seconds", 0.0) for s in TABLE_OF_SOURCE)
        out["overall"]["sync_rows_per_s_three_tables"] = sync_rows / sync_secs if sync_secs else 0.0
        out["overall"]["ratio_wall"] = out["overall"]["sync_rows_per_s_wall"] / out["overall"]["floor_rows_per_s"]
        out["overall"]["ratio_wall_without_insights"] = (
            out["overall"]["sync_rows_per_s_wall_without_insights"] / out["overall"]["floor_rows_per_s"]
        )
        out["overall"]["ratio_cpu"] = out["overall"]["sync_rows_per_s_cpu"] / out["overall"]["floor_rows_per_s"]
        for table in TABLE_OF_SOURCE.values():
            out[table]["floor_rows"] = fl[table]["rows_seen"]
            out[table]["floor_rows_per_s"] = fl[table]["rows_per_second"]
            fr = fl[table]["rows_per_second"]
            out[table]["ratio"] = out[table]["sync_rows_per_s"] / fr if fr else 0.0
    return out


# ---------------------------------------------------------------------------------------------- throttled mode


#: (family, sources to run, time scale, sync settings, simulator users) of each pacing measurement; the tenant
#: is small enough that the documented limit, not the simulator's data generation, is the bottleneck
THROTTLED: tuple[tuple[str, tuple[str, ...], float, dict[str, Any], int], ...] = (
    ("signins", ("signins",), 10.0, {"signin_backfill_days": 6, "signin_page_size": 100}, 20_000),
    (
        "message_trace",
        ("message_trace",),
        30.0,
        {"message_trace_backfill_days": 30, "message_trace_page_size": 1000},
        20_000,
    ),
    ("reports", ("usage_user_detail",), 120.0, {"usage_detail_days": 26}, 1_000),
)
#: documented limits the simulator enforces: (requests, window seconds) of the binding window per family
LIMITS = {"signins": (5, 10.0), "message_trace": (100, 300.0), "reports": (14, 600.0)}


def pacing(requests: list[list[Any]], family: str, limit: int, window: float) -> dict[str, Any]:
    """Achieved rate of ``family`` vs the allowed rate, over the whole windows of its phase.

    The phase runs from the family's first request to its last; the rate counts admitted requests in the
    ``k = floor(span / window)`` complete windows from the first request, divided by ``k * window`` (a sliding
    window admits bursts, so a partial last window would overstate or understate the rate).
    """
    mine = sorted((r[0], r[2]) for r in requests if r[1] == family or r[1].startswith(family + ":"))
    n = len(mine)
    throttled = sum(1 for _, s in mine if s == 429)
    span = mine[-1][0] - mine[0][0] if n > 1 else 0.0
    k = int(span // window)
    admitted_in = sum(1 for t, s in mine if s != 429 and t < mine[0][0] + k * window) if k else 0
    achieved = admitted_in / (k * window) if k else 0.0
    return {
        "requests": n,
        "answered_429": throttled,
        "share_429": throttled / n if n else 0.0,
        "span_seconds": round(span, 2),
        "whole_windows": k,
        "allowed_per_s": limit / window,
        "achieved_per_s": achieved,
        "efficiency": achieved / (limit / window),
    }


def throttled_mode(args: argparse.Namespace) -> dict[str, Any]:
    work = args.out / "throttled"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    out: dict[str, Any] = {}
    for family, sources, scale, settings, default_users in THROTTLED:
        users = args.throttled_users or default_users
        print(f"== throttled: {family}, time scale {scale:g}, {users:,} users", flush=True)
        sim = start_simulator(work / f"sim-{family}", users=users, tenant=tenant_knobs(args), throttle_scale=scale)
        try:
            # sign-ins first: message trace then traces the senders they found (same database)
            shutil.rmtree(data / "token-cache", ignore_errors=True)
            config = write_config(
                data,
                sim.snippet,
                {"message_trace_max_requests": 1_000_000, **settings},
                # the simulator's clock runs `scale` times faster: so do the pacing windows and backoff delays
                {"pace_requests": True, "rate_limit_time_scale": scale, "backoff_initial_seconds": 1.0 / scale},
            )
            measure = run_sync(cli_sync(config, sources), work / f"sync-{family}.log")
        finally:
            stats = sim.stop()
        limit, window = LIMITS[family]
        result = pacing(stats["requests"], family, limit, window / scale)
        result["time_scale"] = scale
        result["sync_exit"] = measure.returncode
        result["sync_wall_seconds"] = round(measure.wall_seconds, 2)
        if family == "reports":
            # the binding window is per report API: measure the user-detail API, the one with many requests
            result = {
                **pacing(stats["requests"], "reports:getEmailAppUsageUserDetail", limit, window / scale),
                "time_scale": scale,
                "sync_exit": measure.returncode,
                "sync_wall_seconds": round(measure.wall_seconds, 2),
            }
        result["allowed_per_s_unscaled"] = limit / window
        out[family] = result
        print(
            f"   {result['requests']} requests, {result['answered_429']} answered 429; "
            f"{result['achieved_per_s']:.2f}/s vs {result['allowed_per_s']:.2f}/s allowed, "
            f"efficiency {result['efficiency']:.0%}",
            flush=True,
        )
    return out


# ---------------------------------------------------------------------------------------------- report


def print_report(report: dict[str, Any]) -> None:
    print()
    print("Full sync (throttling off)")
    header = f"{'users':>9} {'signins':>10} {'trace':>10} {'usage seen':>11} {'wall s':>7} {'insights':>8}"
    header += f" {'cpu s':>7} {'rows/s wall':>11} {'rows/s cpu':>10} {'floor rows/s':>12} {'ratio':>6} {'w/o ins':>7}"
    header += f" {'peak RSS':>9}"
    print(header)
    for r in report["sizes"]:
        tp = r["throughput"]["overall"]
        p = r["process"]
        floor_rate = tp.get("floor_rows_per_s")
        floor_text = f"{floor_rate:,.0f}" if floor_rate else "-"
        ratio_text = f"{tp['ratio_wall']:.2f}" if floor_rate else "-"
        ratio2_text = f"{tp['ratio_wall_without_insights']:.2f}" if floor_rate else "-"
        print(
            f"{r['users']:>9,} {r['table_rows']['signin']:>10,} {r['table_rows']['message_trace']:>10,} "
            f"{r['sources'].get('usage_user_detail', {}).get('rows_seen', 0):>11,} {p['wall_seconds']:>7.1f} "
            f"{tp['insights_seconds']:>8.1f} "
            f"{p['user_seconds'] + p['system_seconds']:>7.1f} {tp['sync_rows_per_s_wall']:>11,.0f} "
            f"{tp['sync_rows_per_s_cpu']:>10,.0f} "
            f"{floor_text:>12} {ratio_text:>6} {ratio2_text:>7} {p['peak_rss_mb']:>7.0f}MB"
        )
    for r in report["sizes"]:
        if "floor" not in r:
            continue
        print()
        print(f"Per table at {r['users']:,} users (sync: the source's run time; floor: parse + executemany)")
        print(
            f"{'table':>18} {'rows':>10} {'sync s':>7} {'sync rows/s':>11} {'floor s':>7} "
            f"{'floor rows/s':>12} {'ratio':>6}"
        )
        for source, table in TABLE_OF_SOURCE.items():
            t = r["throughput"][table]
            print(
                f"{table:>18} {t['rows']:>10,} {r['sources'][source]['seconds']:>7.1f} {t['sync_rows_per_s']:>11,.0f} "
                f"{r['floor'][table]['seconds']:>7.1f} {t['floor_rows_per_s']:>12,.0f} {t['ratio']:>6.2f}"
            )
    if report.get("throttled"):
        print()
        print("Throttled (simulator enforcing the limits, time-scaled; connector pacing with the same scale)")
        print(
            f"{'family':>14} {'scale':>6} {'requests':>8} {'429s':>5} {'429 %':>6} {'allowed/s':>9} "
            f"{'achieved/s':>10} {'efficiency':>10}"
        )
        for fam, t in report["throttled"].items():
            print(
                f"{fam:>14} {t['time_scale']:>6g} {t['requests']:>8} {t['answered_429']:>5} {t['share_429']:>6.1%} "
                f"{t['allowed_per_s']:>9.2f} {t['achieved_per_s']:>10.2f} {t['efficiency']:>10.0%}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300_000, help="users of the full-size tenant")
    parser.add_argument("--sizes", default="0.25,0.5,1.0", help="fractions of the full size to run")
    parser.add_argument("--smtp-share", type=float, default=0.005, help="share of accounts sending via SMTP AUTH")
    parser.add_argument("--volume", type=float, default=2.4, help="message-rate multiplier of the senders")
    parser.add_argument("--signin-days", type=int, default=30, help="[sync] signin_backfill_days")
    parser.add_argument("--trace-days", type=int, default=22, help="[sync] message_trace_backfill_days")
    parser.add_argument("--usage-detail-days", type=int, default=1, help="[sync] usage_detail_days")
    parser.add_argument("--floor", choices=("largest", "all", "none"), default="largest")
    parser.add_argument("--no-throttled", action="store_true", help="skip the throttled-mode measurements")
    parser.add_argument(
        "--statements", action="store_true", help="time every SQL statement of the measured sync (slows it down)"
    )
    parser.add_argument("--throttled-users", type=int, default=0, help="tenant size of the throttled runs")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)

    fractions = sorted(float(f) for f in args.sizes.split(",") if f.strip())
    report: dict[str, Any] = {"settings": {k: str(v) for k, v in vars(args).items()}, "sizes": []}
    for i, frac in enumerate(fractions):
        users = round(args.users * frac)
        with_floor = args.floor == "all" or (args.floor == "largest" and i == len(fractions) - 1)
        report["sizes"].append(full_sync(args, users, with_floor=with_floor))
        (args.out / "sync_bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    if not args.no_throttled:
        report["throttled"] = throttled_mode(args)
    (args.out / "sync_bench.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print_report(report)
    print(f"\nnumbers: {args.out / 'sync_bench.json'}")


if __name__ == "__main__":
    main()
