"""Artifacts benchmark: building every format vs running the bare aggregate queries, and peak RSS.

Usage::

    .venv/bin/python bench/artifacts_bench.py --db bench/out/artifacts.db              # an existing database
    .venv/bin/python bench/artifacts_bench.py --db bench/out/artifacts.db --make --users 30000   # fill one first

``--make`` writes a simulated tenant's 90 days straight into the database (message trace of every SMTP AUTH
sender, Authenticated SMTP sign-ins, SmtpCSReport rows for the last ``--cs-days`` days, usage KPIs), without
HTTP, so the benchmark measures the report, not the sync. Each phase runs in its own child process, so its peak
RSS is its own. The target (issue 5): build time <= 2 x query time, peak RSS < 300 MB.
"""

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def make(
    db: Path, users: int, cs_days: int, seed: int, *, smtp_share: float, volume: float, days: int, url: str | None
) -> None:
    from connector.simulator.population import Population
    from connector.store import open_store
    from models import MessageTrace, SignIn, SmtpCsReportRow, UsageAppsKpi

    now = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    pop = Population(seed, users=users, days=days, now=now, smtp_share=smtp_share, volume=volume)
    store = open_store(url or f"sqlite:///{db}")
    t0 = time.perf_counter()
    day = pop.start
    n_trace = n_cs = 0
    while day < now.date():
        trace, signins, cs = [], [], []
        for m in pop.day_messages(day):
            if pop.find(m.sender) is None:
                continue
            for r in m.recipients:
                trace.append({"tenant": "bench", "trace_id": m.trace_id(r), "message_id": m.message_id,
                              "sender_address": m.sender, "recipient_address": r, "received_at": m.received,
                              "status": m.status.lower(), "size": m.size, "subject": m.subject, "from_ip": m.client_ip,
                              "to_ip": None, "from_smtp_signin_ip": m.signin_id is not None})  # fmt: skip
            if m.smtp_auth and (now.date() - day).days <= cs_days:
                cs.append({"tenant": "bench", "occurred_at": m.received, "sender_address": m.sender,
                           "sender_domain": m.domain, "auth_method": m.auth_method, "client_ip": m.client_ip,
                           "tls_version": m.tls_version, "tls_cipher": m.tls_cipher, "message_count": 1,
                           "message_id": m.message_id, "job_id": None})  # fmt: skip
        for s in pop.day_signins(day) if (now.date() - day).days <= 30 else ():
            signins.append({"tenant": "bench", "signin_id": s.id, "created_at": s.created,
                            "user_principal_name": s.account.upn, "ip_address": s.site.ip,
                            "client_app_used": "Authenticated SMTP", "error_code": s.error_code})  # fmt: skip
        with store.transaction() as tx:
            store.upsert(tx, MessageTrace, trace, key=("tenant", "trace_id"))
            store.upsert(tx, SignIn, signins, key=("tenant", "signin_id"))
            store.upsert(tx, SmtpCsReportRow, cs, key=("tenant", "occurred_at", "sender_address", "message_id"))
            kpi = [{"tenant": "bench", "report_refresh_date": day, "period": "D7", "smtp_app": len(pop.senders)}]
            store.upsert(tx, UsageAppsKpi, kpi, key=("tenant", "report_refresh_date", "period"))
        n_trace, n_cs = n_trace + len(trace), n_cs + len(cs)
        day += timedelta(days=1)
        if day.day == 1:
            print(f"  {day}: {n_trace} trace rows, {time.perf_counter() - t0:.0f} s", flush=True)
    store.close()
    print(f"made {db}: {n_trace} trace rows, {n_cs} SmtpCSReport rows in {time.perf_counter() - t0:.0f} s")


def child(db: Path, phase: str, date_from: date, date_to: date, out: Path) -> dict[str, Any]:
    """Run one phase in this process; return seconds and peak RSS."""
    from connector.artifacts import ReportParams, build_report, run_queries
    from connector.store import open_store

    store = open_store(f"sqlite:///{db}")
    params = ReportParams(tenant="bench", date_from=date_from, date_to=date_to,
                          formats=("html", "csv", "xlsx", "parquet"))  # fmt: skip
    t0 = time.perf_counter()
    rows = run_queries(store, params) if phase == "queries" else build_report(store, params, out).rows
    seconds = time.perf_counter() - t0
    store.close()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"phase": phase, "seconds": round(seconds, 2), "peak_rss_mb": round(rss_mb, 1), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, required=True)
    ap.add_argument("--make", action="store_true", help="fill the database with a simulated tenant first")
    ap.add_argument("--users", type=int, default=30000)
    ap.add_argument("--cs-days", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--smtp-share", type=float, default=0.04, help="share of users sending via SMTP AUTH")
    ap.add_argument("--volume", type=float, default=1.0, help="message-rate multiplier of the senders")
    ap.add_argument("--days", type=int, default=90, help="days of history --make writes")
    ap.add_argument("--db-url", default=None, help="--make into this database URL instead (PostgreSQL)")
    ap.add_argument("--make-only", action="store_true", help="stop after --make")
    ap.add_argument("--from", dest="date_from", default="2026-08-30")
    ap.add_argument("--to", dest="date_to", default="2026-11-27")
    ap.add_argument("--child", choices=("queries", "build"), help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    first, last = date.fromisoformat(args.date_from), date.fromisoformat(args.date_to)
    if args.child:
        print(json.dumps(child(args.db, args.child, first, last, args.out)))
        return 0
    if args.make:
        args.db.parent.mkdir(parents=True, exist_ok=True)
        make(args.db, args.users, args.cs_days, args.seed, smtp_share=args.smtp_share, volume=args.volume,
             days=args.days, url=args.db_url)  # fmt: skip
        if args.make_only:
            return 0
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for phase in ("queries", "build", "queries", "build"):  # twice each: the second runs on a warm cache
            cmd = [sys.executable, __file__, "--db", str(args.db), "--child", phase, "--from", args.date_from,
                   "--to", args.date_to, "--out", str(Path(tmp) / "out")]  # fmt: skip
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)  # noqa: S603
            results[phase] = json.loads(done.stdout.strip().splitlines()[-1])
    q, b = results["queries"], results["build"]
    print(json.dumps(results, indent=2))
    print(f"queries {q['seconds']} s ({q['peak_rss_mb']} MB)  build all formats {b['seconds']} s "
          f"({b['peak_rss_mb']} MB)  ratio {b['seconds'] / max(q['seconds'], 1e-9):.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
