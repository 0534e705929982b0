"""One measured process of the import benchmark: the stdlib floor, or smtpauth's loader, on a set of files.

Usage (the benchmark runs it; each run is its own process so RSS and I/O are its alone)::

    import_child.py floor signins DB FILE...        # json + sqlite3.executemany into DB's signin table
    import_child.py floor cs DB FILE...             # csv + sqlite3.executemany into smtp_cs_report_row
    import_child.py load CONFIG FILE...             # smtpauth import --load FILE... --source signins
    import_child.py import CONFIG FILE...           # smtpauth import FILE...

``load``/``import`` run the code found first on ``sys.path`` (the benchmark puts an older checkout there to measure
it in the same run): when it has no multi-file entry point, files are loaded one call each, in this process, as
that code's ``smtpauth import`` did. Prints one JSON line: seconds (wall, from the first file opened to the last
commit), cpu seconds, rows stored, and ``write_bytes`` of ``/proc/self/io`` (bytes this process sent to storage,
the database's WAL and checkpoints included).
"""

import csv
import json
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from floor import GROUP_ROWS, TENANT, insert_sql, signin_tuple


def _write_bytes() -> int:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1


# ---------------------------------------------------------------------------------------------- the floor


def _signin_batches(paths: list[Path], columns: list[str]) -> Any:
    for path in paths:
        body = json.loads(path.read_bytes())
        for page in body if isinstance(body, list) else [body]:
            yield [signin_tuple(item, columns) for item in page["value"]]


def _cs_batches(paths: list[Path], columns: list[str]) -> Any:
    for path in paths:
        with path.open(encoding="utf-16", newline="") as fh:
            reader = csv.reader(fh)
            # the benchmark's files carry connector.sources.smtp_cs_report.SMTP_CS_COLUMNS in that (documented)
            # order (bench/import_data.py); the floor does not import the connector, to stay at the stdlib's size
            header = next(reader)
            if len(header) != 9:
                raise SystemExit(f"{path}: {len(header)} columns, not the nine of SMTP_CS_COLUMNS")
            d, s, dom, auth, ip, tls, cipher, count, mid = range(9)
            batch = []
            for cells in reader:
                row = {
                    "tenant": TENANT,
                    "occurred_at": cells[d],
                    "sender_address": cells[s].lower(),
                    "sender_domain": cells[dom],
                    "auth_method": cells[auth],
                    "client_ip": cells[ip],
                    "tls_version": cells[tls],
                    "tls_cipher": cells[cipher],
                    "message_count": int(cells[count]),
                    "message_id": cells[mid],
                }
                batch.append(tuple(row.get(c) for c in columns))
                if len(batch) == 2000:
                    yield batch
                    batch = []
            if batch:
                yield batch


def floor(kind: str, db: Path, paths: list[Path]) -> dict[str, Any]:
    table = "signin" if kind == "signins" else "smtp_cs_report_row"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
    sql = insert_sql(table, columns)
    wall, cpu = time.perf_counter(), time.process_time()
    pending = rows = 0
    batches = _signin_batches(paths, columns) if kind == "signins" else _cs_batches(paths, columns)
    for batch in batches:
        if not conn.in_transaction:
            conn.execute("BEGIN")
        conn.executemany(sql, batch)
        pending += len(batch)
        rows += len(batch)
        if pending >= GROUP_ROWS:
            conn.execute("COMMIT")
            pending = 0
    if conn.in_transaction:
        conn.execute("COMMIT")
    conn.close()
    return {"seconds": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "rows": rows, "rollups": 0.0}


# ---------------------------------------------------------------------------------------------- smtpauth


def smtpauth(mode: str, config: Path, paths: list[Path]) -> dict[str, Any]:
    from connector import imports
    from connector.clock import SystemClock
    from connector.config import load_settings
    from connector.store import rollups
    from connector.sync.factory import open_settings_store

    settings = load_settings(config, require_tenants=True)
    store = open_settings_store(settings)
    clock = SystemClock()
    # the time spent keeping the rollups exact (recomputed before each commit), which the floor does not do
    in_rollups = [0.0]
    flush = rollups.flush

    def timed_flush(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            flush(*args, **kwargs)
        finally:
            in_rollups[0] += time.perf_counter() - started

    rollups.flush = timed_flush  # type: ignore[assignment]
    wall, cpu = time.perf_counter(), time.process_time()
    rows = 0
    many = getattr(imports, "import_files", None)
    if many is not None:
        source = "signins" if mode == "load" else None
        batch = many(store, clock, paths, tenant=TENANT, source=source)
        rows = sum(r.inserted for r in batch.results)
    else:
        for path in paths:
            if mode == "load":
                result = imports.load_payload(store, clock, path, tenant=TENANT, source="signins")
            else:
                result = imports.import_file(store, clock, path, tenant=TENANT)
            rows += result.inserted
    seconds, cpu_s = time.perf_counter() - wall, time.process_time() - cpu
    store.close()
    return {"seconds": seconds, "cpu": cpu_s, "rows": rows, "rollups": in_rollups[0]}


def main() -> None:
    if sys.argv[1] == "floor":
        out = floor(sys.argv[2], Path(sys.argv[3]), [Path(p) for p in sys.argv[4:]])
    else:
        out = smtpauth(sys.argv[1], Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]])
    out["write_bytes"] = _write_bytes()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
