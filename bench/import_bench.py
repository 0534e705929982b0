"""Import benchmark: ``smtpauth import --load`` of Graph sign-in pages and ``smtpauth import`` of SmtpCSReport files,
beside the stdlib floor (``json``/``csv`` + ``sqlite3.executemany`` into the same table, key and indexes), in the
same run.

Usage::

    .venv/bin/python bench/import_bench.py --out bench/out/import                 # 100,000 rows a data set
    .venv/bin/python bench/import_bench.py --code before=/tmp/old-checkout ...    # also measure an older checkout
    .venv/bin/python bench/import_bench.py --scale 100000,400000 --sets none      # peak RSS against file size

Data sets (``bench/import_data.py``, seeded): sign-ins as one file per 1,000-item page and as one JSON array of
those pages; SmtpCSReport rows (UTF-16) as files of 10,000 rows and as one file. Every run is a fresh process
(``bench/import_child.py``) on a fresh copy of a migrated, empty database: wall and CPU seconds of the load, peak
RSS (``wait4``'s ``ru_maxrss``), bytes written to storage (``/proc/self/io`` ``write_bytes``) and the rows stored
(every loader must store the floor's row count). Medians of ``--repeat`` runs. Results go to ``OUT/import_bench.json``
and a table is printed.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable

CONFIG = """data_dir = "{data}"
[[tenants]]
name = "contoso"
tenant_id = "00000000-0000-0000-0000-000000000001"
client_id = "00000000-0000-0000-0000-000000000002"
client_secret_env = "SMTPAUTH_BENCH_SECRET"
"""


def prepare(out: Path, rows: int) -> dict[str, tuple[str, list[Path]]]:
    """The data sets (made once per size, kept in OUT/data)."""
    data = out / "data" / str(rows)
    sets: dict[str, tuple[str, list[Path]]] = {}
    marker = data / ".done"
    if not marker.exists():
        shutil.rmtree(data, ignore_errors=True)
        write_data("sets", data, rows)
        marker.touch()
    sets["signin pages (many files)"] = ("signins", sorted((data / "pages").glob("*.json")))
    sets["signin pages (one array file)"] = ("signins", [data / "signins.json"])
    sets["SmtpCSReport (many files)"] = ("cs", sorted((data / "cs_many").glob("*.csv")))
    sets["SmtpCSReport (one file)"] = ("cs", sorted((data / "cs_one").glob("*.csv")))
    return sets


def write_data(what: str, where: Path, rows: int) -> None:
    """``bench/import_data.py`` in a process of its own: a measured child starts as a copy of this process, and
    Linux counts the RSS it had before ``exec`` in its peak, so this process must stay small."""
    script = str(HERE / "import_data.py")
    subprocess.run([PYTHON, script, what, str(where), str(rows)], check=True)  # noqa: S603 (this interpreter)


def template(out: Path, label: str = "smtpauth", code: str | None = None) -> Path:
    """A migrated, empty database of the checkout ``code`` (the working tree with None): each run of that loader
    starts from a copy of it (migrations are not timed; an older checkout refuses a newer schema)."""
    db = out / "template" / label / "smtpauth.db"
    if not db.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
        script = f"from connector.store.store import open_store; open_store('sqlite:///{db}').close()"
        env = dict(os.environ, PYTHONPATH=code) if code else None
        # run from the template's folder: "-c" puts the working directory first on sys.path
        subprocess.run([PYTHON, "-c", script], check=True, env=env, cwd=db.parent)  # noqa: S603 (this interpreter)
    return db


def run_child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    cmd = ["nice", "-n", "10", PYTHON, str(HERE / "import_child.py"), *args]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)  # noqa: S603
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    result: dict[str, Any] = json.loads(stdout.strip().splitlines()[-1])
    result["process_seconds"] = time.perf_counter() - started
    result["peak_rss_mb"] = usage.ru_maxrss / 1024
    return result


def measure(  # noqa: PLR0917
    kind: str, paths: list[Path], loader: str, code: str | None, tmpl: Path, work: Path
) -> dict[str, Any]:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    db = work / "smtpauth.db"
    shutil.copyfile(tmpl, db)
    env = dict(os.environ, SMTPAUTH_BENCH_SECRET="unused")  # noqa: S106 (no tenant is contacted)
    files = [str(p) for p in paths]
    if loader == "floor":
        result = run_child(["floor", kind, str(db), *files], env)
    else:
        config = work / "config.toml"
        config.write_text(CONFIG.format(data=work), encoding="utf-8")
        if code is not None:
            env["PYTHONPATH"] = code
        result = run_child(["load" if kind == "signins" else "import", str(config), *files], env)
    result["db_mb"] = sum(f.stat().st_size for f in work.glob("smtpauth.db*")) / 1e6
    return result


def median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "import")
    parser.add_argument("--rows", type=int, default=100_000, help="rows per data set")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--code", action="append", default=[], help="NAME=DIR: also measure the checkout in DIR")
    parser.add_argument("--sets", default="all", help="'all', 'none', or comma-separated prefixes: signin,SmtpCS")
    parser.add_argument("--scale", default="", help="row counts of one array file, for peak RSS against size")
    parser.add_argument("--no-current", action="store_true", help="only the --code checkouts (and the floor)")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    loaders: list[tuple[str, str | None]] = [("floor", None)] + ([] if args.no_current else [("smtpauth", None)])
    loaders += [(name, path) for name, _, path in (c.partition("=") for c in args.code)]
    templates = {label: template(out, label, code) for label, code in loaders}
    report: dict[str, Any] = {"rows": args.rows, "repeat": args.repeat, "sets": {}, "scale": []}
    if args.sets != "none":
        sets = prepare(out, args.rows)
        wanted = [s.strip() for s in args.sets.split(",")] if args.sets != "all" else None
        for name, (kind, paths) in sets.items():
            if wanted and not any(name.startswith(w) for w in wanted):
                continue
            size = sum(p.stat().st_size for p in paths)
            runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _ in loaders}
            for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits every loader
                for label, code in loaders:
                    runs[label].append(measure(kind, paths, label, code, templates[label], out / "work"))
                    print(f"  {name} / {label}: {runs[label][-1]}", file=sys.stderr, flush=True)
            report["sets"][name] = {"files": len(paths), "bytes": size, "runs": runs}
            floor_s = median(runs["floor"], "seconds")
            floor_w = median(runs["floor"], "write_bytes")
            print(f"\n{name}: {len(paths)} file(s), {size / 1e6:.0f} MB, {args.rows:,} rows")
            floor_c = median(runs["floor"], "cpu")
            print(
                "| loader | wall s | vs floor | cpu s | vs floor (cpu) | of which rollups s | peak RSS MB "
                "| written MB | vs floor's | rows stored |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            for label, _ in loaders:
                r = runs[label]
                s, w = median(r, "seconds"), median(r, "write_bytes")
                cpu, rss, roll = median(r, "cpu"), median(r, "peak_rss_mb"), median(r, "rollups")
                print(
                    f"| {label} | {s:.1f} | {floor_s / s:.2f} | {cpu:.1f} | {floor_c / cpu:.2f} | {roll:.1f} "
                    f"| {rss:.0f} | {w / 1e6:.0f} | {w / floor_w:.2f} | {int(median(r, 'rows')):,} |"
                )
    for rows in [int(x) for x in args.scale.split(",") if x]:
        data = out / "data" / f"array-{rows}"
        path = data / "signins.json"
        if not path.exists():
            write_data("array", path, rows)
        for label, code in loaders:
            if label == "floor":
                continue
            r = measure("signins", [path], label, code, templates[label], out / "work")
            r.update(loader=label, rows_in_file=rows, file_mb=path.stat().st_size / 1e6)
            report["scale"].append(r)
            print(
                f"scale: {label}: {rows:,} rows, {r['file_mb']:.0f} MB file: {r['seconds']:.1f} s, "
                f"peak RSS {r['peak_rss_mb']:.0f} MB"
            )
    (out / "import_bench.json").write_text(json.dumps(report, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
