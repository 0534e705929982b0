"""The soak, long: ``smtpauth serve`` with its scheduler beside CLI commands in a loop and ``kill -9`` of random
ones, for minutes, on SQLite (default) or PostgreSQL (``--pg``). What it does and checks: ``tests/soak/harness.py``.

    nice -n 10 .venv/bin/python bench/soak.py --minutes 15 --out bench/out/soak
    nice -n 10 .venv/bin/python bench/soak.py --minutes 15 --pg --out bench/out/soak-pg

Prints the summary (minutes, operations per kind, exit-0 counts, kills, integrity, rows expected vs found,
problems) and writes it to ``<out>/soak.json``. Exit code 1 when a problem was found.
"""

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.soak.harness import drop_pg_schema, fresh_pg_schema, run_soak  # noqa: E402

PG = os.environ.get("SMTPAUTH_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=3, help="CLI processes running at once")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (SMTPAUTH_TEST_PG_URL) instead of SQLite")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "soak")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    url = schema = None
    if args.pg:
        url, schema = fresh_pg_schema(PG)
    try:
        result = run_soak(args.out, database_url=url, seconds=args.minutes * 60, workers=args.workers, seed=args.seed)
    finally:
        if schema is not None:
            drop_pg_schema(PG, schema)
    print(json.dumps(result.summary(), indent=2))
    return 1 if result.problems else 0


if __name__ == "__main__":
    sys.exit(main())
