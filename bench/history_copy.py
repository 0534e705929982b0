"""A longer history for the read benchmark without filling it row by row: a copy of a benchmark SQLite database
whose rollups (and daily KPI rows) hold the same days again, shifted back by whole multiples of ``--shift`` days
(the sender-month and sender-week rollups are then summed again from the shifted days).

The reads of the report, the API and the insights read the rollups, never the raw rows (the insights read a few
sample ids and the oldest message-trace row of the window's senders), so this gives the read side ~365 days of
history of the same tenant in minutes instead of hours. The raw rows are copied as they are, not shifted: the copy
is for reading only (a rebuild of its rollups would drop the shifted days). Filling a real 365-day database with
``bench/artifacts_bench.py --make --days 365`` is the slow, faithful alternative.

Usage::

    .venv/bin/python bench/history_copy.py bench/out/big90.db bench/out/big365.db --copies 3 --shift 91
"""

import argparse
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from connector.store.migrations.v0010_sender_month_rollup import backfill_sql
from connector.store.migrations.v0014_sender_week_rollup import backfill_sql as week_backfill_sql
from connector.store.migrations.v0015_period_last_active_day import backfill_sql as last_active_sql

#: table → (date columns, datetime columns) to shift
TABLES = {
    "rollup_sender_day": (("utc_day",), ("signin_last_at",)),
    "rollup_sender_day_tls": (("utc_day",), ()),
    "rollup_day": (("utc_day",), ()),
    "rollup_sender_hour": (("utc_day",), ()),
    "rollup_sender_recipient_domain": (("utc_day",), ()),
    "rollup_signin_origin": (("utc_day",), ("first_at", "last_at")),
    "rollup_domain_day": (("utc_day",), ()),
    "usage_apps_kpi": (("report_refresh_date",), ()),
}
#: summed again from the shifted days (the shifted days fall in other periods): table → its migration's statement
PERIODS = {"rollup_sender_month": backfill_sql, "rollup_sender_week": week_backfill_sql}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path)
    ap.add_argument("target", type=Path)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--shift", type=int, default=91, help="days between copies")
    args = ap.parse_args()
    t0 = time.perf_counter()
    src = sqlite3.connect(f"file:{args.source}?mode=ro", uri=True)
    dst = sqlite3.connect(args.target)
    src.backup(dst)
    src.close()
    print(f"copied in {time.perf_counter() - t0:.0f} s", flush=True)
    for table, (dates, stamps) in TABLES.items():
        cols = [r[1] for r in dst.execute(f"PRAGMA table_info({table})")]
        cols = [c for c in cols if c != "id"]
        if not cols:  # a table of a later schema
            continue
        first = dst.execute(f"SELECT min({dates[0]}) FROM {table}").fetchone()[0]  # noqa: S608
        for k in range(1, args.copies + 1):
            days = -k * args.shift
            exprs = []
            for c in cols:
                if c in dates:
                    exprs.append(f"date({c}, '{days} days')")
                elif c in stamps:
                    exprs.append(f"strftime('%Y-%m-%d %H:%M:%f', {c}, '{days} days')")
                else:
                    exprs.append(c)
            dst.execute(
                f"INSERT OR IGNORE INTO {table} ({', '.join(cols)}) "  # noqa: S608
                f"SELECT {', '.join(exprs)} FROM {table} WHERE {dates[0]} >= ?",
                (first,),
            )
        dst.commit()
        print(f"{table}: {dst.execute(f'SELECT count(*) FROM {table}').fetchone()[0]} rows", flush=True)  # noqa: S608
    # rollup_sender: days per sender over the whole (longer) history
    dst.execute(
        "UPDATE rollup_sender SET trace_days = s.t, cs_days = s.c, signin_ok_days = s.o, first_day = s.lo, "
        "last_day = s.hi FROM (SELECT tenant, sender_address, sum(trace_rows > 0) AS t, sum(cs_rows > 0) AS c, "
        "sum(signins_ok > 0) AS o, min(utc_day) AS lo, max(utc_day) AS hi FROM rollup_sender_day "
        "GROUP BY tenant, sender_address) AS s WHERE rollup_sender.tenant = s.tenant "
        "AND rollup_sender.sender_address = s.sender_address"
    )
    dst.commit()
    # rollup_sender_month (schema 10 on), rollup_sender_week (schema 14 on)
    for table, statement in PERIODS.items():
        if dst.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchone():
            dst.execute(f"DELETE FROM {table}")  # noqa: S608
            dst.execute(statement("sqlite"))
            columns = {r[1] for r in dst.execute(f"PRAGMA table_info({table})")}
            if "last_active_day" in columns:  # schema 15 on
                dst.execute(last_active_sql("sqlite", table))
            dst.commit()
            print(f"{table}: {dst.execute(f'SELECT count(*) FROM {table}').fetchone()[0]} rows", flush=True)  # noqa: S608
    dst.close()
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
