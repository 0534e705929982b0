"""Copy a benchmark SQLite database (one ``bench/artifacts_bench.py --make`` filled) into PostgreSQL with COPY:
minutes instead of the hours ``--make --db-url postgresql+psycopg://…`` takes (~45 min per million rows).

The target must be empty (or ``--replace``: every table and view of its schema is dropped first). The schema is
the product's own: ``connector.store.migrations.migrate``, so the copy has the tables, views, indexes and
constraints a PostgreSQL store has, and the source must be at the same schema version as this checkout. Every
table is then emptied (the migrations leave rows of their own, e.g. the rollups' rebuild watermark) and filled
with the source's rows as they are: raw rows, rollups (derived, but exactly what the product wrote), tenants, sync
runs, watermarks, findings; ids kept, sequences set past them, then ``VACUUM (ANALYZE)``.

SQLite writes each COPY line itself (text format: escaped text, ``\\N`` for NULL, ``t``/``f`` for booleans,
``\\x…`` for bytes, 17 digits for floats), a batch of lines at a time (bounded memory); dates and naive-UTC
datetimes (``models._types.UTCDateTime``) go as text into a session whose time zone is UTC. The secondary
indexes, primary keys, unique and foreign-key constraints are dropped during the copy and created again after
it (foreign keys validated then).

``--check`` compares, table by table, the row count, the sum of every integer column and the range of every
date/time column of the source and the copy; ``--compare-report TENANT FROM TO`` builds ``smtpauth report
--format csv`` from both (the product's reads) and compares the files; either exits 1 on a difference.

Usage::

    .venv/bin/python bench/pg_copy.py bench/out/big90.db \\
        --db-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_big90 --check
    .venv/bin/python bench/pg_copy.py bench/out/small90.db --db-url postgresql+psycopg://… --check-only \\
        --compare-report bench 2026-08-30 2026-11-27
"""

import argparse
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

#: COPY lines per batch sent to the server
BATCH = 20_000
_INT_TYPES = ("smallint", "integer", "bigint")
_TIME_TYPES = ("date", "timestamp with time zone", "timestamp without time zone")
#: COPY text escapes: (SQLite expression of the character, its escape), the backslash first
_ESCAPES = (("'\\'", "\\\\"), ("char(9)", "\\t"), ("char(10)", "\\n"), ("char(13)", "\\r"))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _line_sql(table: str, columns: list[tuple[str, str]]) -> str:
    """A SELECT whose one value per row is the row's COPY text line (without the newline)."""
    parts = []
    for name, pg_type in columns:
        col = _q(name)
        if pg_type == "boolean":
            expr = f"CASE WHEN {col} IS NULL THEN '\\N' WHEN {col} THEN 't' ELSE 'f' END"
        elif pg_type in _INT_TYPES:
            expr = f"coalesce(CAST({col} AS INTEGER), '\\N')"
        elif pg_type in ("double precision", "real"):
            expr = f"coalesce(printf('%!.17g', {col}), '\\N')"
        elif pg_type == "bytea":
            expr = f"CASE WHEN {col} IS NULL THEN '\\N' ELSE '\\\\x' || hex({col}) END"
        else:
            escaped = col
            for code, rep in _ESCAPES:
                escaped = f"replace({escaped}, {code}, '{rep}')"
            expr = f"coalesce({escaped}, '\\N')"
        parts.append(expr)
    sep = " || char(9) || "
    return f"SELECT {sep.join(parts)} FROM {_q(table)}"  # noqa: S608


def _lines(src: sqlite3.Connection, sql: str, batch: int) -> Iterator[bytes]:
    cur = src.execute(sql)
    while rows := cur.fetchmany(batch):
        yield ("\n".join(r[0] for r in rows) + "\n").encode()


def _pg_tables(cur: Any) -> list[str]:
    cur.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    return [r[0] for r in cur.fetchall()]


def _pg_columns(cur: Any, table: str) -> list[tuple[str, str]]:
    cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
        (table,),
    )
    return [(r[0], r[1]) for r in cur.fetchall()]


def _sqlite_tables(src: sqlite3.Connection) -> set[str]:
    rows = src.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {r[0] for r in rows}


def _constraints(cur: Any) -> list[tuple[str, str, str, str]]:
    """(table, name, type, definition) of the primary keys, unique and foreign-key constraints."""
    cur.execute(
        "SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid) FROM pg_constraint c "
        "JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema() "
        "AND c.contype IN ('p', 'u', 'f') ORDER BY c.conname"
    )
    return [(r[0], r[1], r[2], r[3]) for r in cur.fetchall()]


def _indexes(cur: Any) -> list[tuple[str, str]]:
    """(name, definition) of the indexes that back no constraint."""
    cur.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = current_schema() AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint c WHERE c.conindid = (quote_ident(i.schemaname) || '.' || "
        "quote_ident(i.indexname))::regclass) ORDER BY i.indexname"
    )
    return [(r[0], r[1]) for r in cur.fetchall()]


def _drop_everything(cur: Any) -> None:
    cur.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = current_schema()")
    rows = cur.fetchall()
    for name, kind in rows:
        if kind == "VIEW":
            cur.execute(f"DROP VIEW IF EXISTS {_q(name)} CASCADE")
    for name, kind in rows:
        if kind == "BASE TABLE":
            cur.execute(f"DROP TABLE IF EXISTS {_q(name)} CASCADE")


def _copy_table(src: sqlite3.Connection, cur: Any, table: str, batch: int) -> int:
    t0 = time.perf_counter()
    columns = _pg_columns(cur, table)
    src_cols = {r[1] for r in src.execute(f"PRAGMA table_info({_q(table)})")}
    if src_cols != {c for c, _ in columns}:
        raise SystemExit(f"{table}: the source's columns differ from the schema's")
    n = 0
    names = ", ".join(_q(c) for c, _ in columns)
    with cur.copy(f"COPY {_q(table)} ({names}) FROM STDIN") as cp:
        for chunk in _lines(src, _line_sql(table, columns), batch):
            cp.write(chunk)
            n += chunk.count(b"\n")
    if n:
        print(f"  {table}: {n:,} rows, {time.perf_counter() - t0:.1f} s", flush=True)
    return n


def _reset_sequences(cur: Any, tables: list[str]) -> None:
    for table in tables:
        for column, _ in _pg_columns(cur, table):
            cur.execute("SELECT pg_get_serial_sequence(%s, %s)", (_q(table), column))
            seq = cur.fetchone()[0]
            if seq:
                cur.execute(
                    f"SELECT setval(%s, coalesce(max({_q(column)}), 0) + 1, false) FROM {_q(table)}",  # noqa: S608
                    (seq,),
                )


def copy(source: Path, url: str, *, replace: bool, batch: int) -> dict[str, int]:
    import psycopg
    import sqlalchemy as sa

    from connector.store.engine import normalize_url
    from connector.store.migrations import latest_version, migrate

    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    src_version = src.execute("SELECT max(version) FROM schema_version").fetchone()[0]
    if src_version != latest_version():
        raise SystemExit(
            f"the source is at schema version {src_version}, this checkout's migrations at {latest_version()}: "
            "open the source with this checkout's smtpauth first (or copy with the matching checkout)"
        )
    sa_url = normalize_url(url)
    engine = sa.create_engine(sa_url, poolclass=sa.pool.NullPool)
    dsn = sa_url.set(drivername="postgresql").render_as_string(hide_password=False)
    options = sa_url.query.get("options")
    dsn = dsn.split("?", 1)[0]
    counts: dict[str, int] = {}
    with psycopg.connect(dsn, options=options if isinstance(options, str) else None) as pg:
        with pg.cursor() as cur:
            existing = _pg_tables(cur)
            if existing and not replace:
                raise SystemExit(f"the target holds {len(existing)} tables: give --replace to drop them first")
            if existing:
                _drop_everything(cur)
            pg.commit()
        t0 = time.perf_counter()
        migrate(engine)
        engine.dispose()
        print(f"schema: migrated to version {latest_version()} in {time.perf_counter() - t0:.1f} s", flush=True)
        with pg.cursor() as cur:
            cur.execute("SET TIME ZONE 'UTC'")
            cur.execute("SET maintenance_work_mem = '256MB'")
            tables = _pg_tables(cur)
            missing = sorted(set(tables) - _sqlite_tables(src))
            if missing:
                raise SystemExit(f"the source lacks tables of the schema: {', '.join(missing)}")
            constraints, indexes = _constraints(cur), _indexes(cur)
            for table, name, _, _ in sorted(constraints, key=lambda c: c[2] != "f"):
                cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT {_q(name)}")
            for name, _ in indexes:
                cur.execute(f"DROP INDEX {_q(name)}")
            cur.execute(f"TRUNCATE {', '.join(_q(t) for t in tables)}")
            for table in tables:
                counts[table] = _copy_table(src, cur, table, batch)
            t1 = time.perf_counter()
            for _, definition in indexes:
                cur.execute(definition)
            for table, name, _, definition in sorted(constraints, key=lambda c: c[2] == "f"):
                cur.execute(f"ALTER TABLE {table} ADD CONSTRAINT {_q(name)} {definition}")
            print(f"indexes and constraints: {time.perf_counter() - t1:.1f} s", flush=True)
            _reset_sequences(cur, tables)
        pg.commit()
        t1 = time.perf_counter()
        pg.autocommit = True
        # VACUUM too: a table filled by COPY has no visibility map yet (no index-only scans) until autovacuum
        # gets to it, which a database the product has been writing to for months has long had
        pg.execute("VACUUM (ANALYZE)")
        print(f"VACUUM (ANALYZE): {time.perf_counter() - t1:.1f} s", flush=True)
    src.close()
    return counts


def _norm(value: Any) -> Any:
    """A date/time aggregate of either database as one comparable value."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    text = str(value)
    return datetime.fromisoformat(text) if len(text) > 10 else datetime.fromisoformat(text + "T00:00:00")


def check(source: Path, url: str) -> list[str]:
    """Differences between the source and the copy: counts, integer sums, date/time ranges per table."""
    import psycopg

    from connector.store.engine import normalize_url

    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    sa_url = normalize_url(url)
    options = sa_url.query.get("options")
    dsn = sa_url.set(drivername="postgresql").render_as_string(hide_password=False).split("?", 1)[0]
    problems: list[str] = []
    with psycopg.connect(dsn, options=options if isinstance(options, str) else None) as pg, pg.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        for table in _pg_tables(cur):
            columns = _pg_columns(cur, table)
            exprs, labels, kinds = ["count(*)"], ["rows"], ["n"]
            for name, pg_type in columns:
                if pg_type in _INT_TYPES:
                    exprs.append(f"sum({_q(name)})")
                elif pg_type == "boolean":
                    exprs.append(f"sum(CASE WHEN {_q(name)} THEN 1 ELSE 0 END)")
                elif pg_type in _TIME_TYPES:
                    exprs += [f"min({_q(name)})", f"max({_q(name)})"]
                    labels += [f"min({name})", f"max({name})"]
                    kinds += ["t", "t"]
                    continue
                else:
                    continue
                labels.append(f"sum({name})")
                kinds.append("n")
            select = f"SELECT {', '.join(exprs)} FROM {_q(table)}"  # noqa: S608
            cur.execute(select)
            pg_row = cur.fetchone() or ()
            src_row = src.execute(select).fetchone()
            for label, kind, a, b in zip(labels, kinds, src_row, pg_row, strict=True):
                same = (int(a or 0) == int(b or 0)) if kind == "n" else _norm(a) == _norm(b)
                if not same:
                    problems.append(f"{table}.{label}: source {a!r}, copy {b!r}")
            print(f"  {table}: {pg_row[0]:,} rows, {len(exprs) - 1} aggregates compared", flush=True)
    src.close()
    return problems


def compare_report(source: Path, url: str, tenant: str, date_from: str, date_to: str) -> list[str]:
    """Build ``smtpauth report --format csv`` from a copy of the source (the product opens SQLite for writing) and
    from the PostgreSQL copy; every file must be the same, summary.json but for its generation time."""
    import json
    import tempfile

    from connector.artifacts import ReportParams, build_report
    from connector.store import open_store

    params = ReportParams(
        tenant=tenant, date_from=date.fromisoformat(date_from), date_to=date.fromisoformat(date_to), formats=("csv",)
    )
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(work / "source.db")
        src.backup(dst)
        src.close()
        dst.close()
        outputs = {}
        for name, store_url in (("sqlite", f"sqlite:///{work / 'source.db'}"), ("postgresql", url)):
            store = open_store(store_url)
            try:
                result = build_report(store, params, work / name)
            finally:
                store.close()
            outputs[name] = {p.name: p.read_bytes() for p in result.paths}
        a, b = outputs["sqlite"], outputs["postgresql"]
        if sorted(a) != sorted(b):
            problems.append(f"report files: {sorted(a)} on SQLite, {sorted(b)} on PostgreSQL")
        for name in sorted(set(a) & set(b)):
            left, right = a[name], b[name]
            if name == "summary.json":
                docs = [json.loads(x) for x in (left, right)]
                for doc in docs:
                    doc.pop("generated_at", None)
                same = docs[0] == docs[1]
            else:
                same = left == right
            print(f"  {name}: {len(left):,} bytes, {'the same' if same else 'DIFFERENT'}", flush=True)
            if not same:
                problems.append(f"report file {name} differs")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("source", type=Path, help="the SQLite database (opened read-only)")
    ap.add_argument("--db-url", required=True, help="postgresql+psycopg://… of the target database")
    ap.add_argument("--replace", action="store_true", help="drop the target's tables and views first")
    ap.add_argument("--batch", type=int, default=BATCH, help="COPY lines per batch")
    ap.add_argument("--check", action="store_true", help="compare counts and aggregates after the copy")
    ap.add_argument("--check-only", action="store_true", help="only compare (an existing copy)")
    ap.add_argument(
        "--compare-report",
        nargs=3,
        metavar=("TENANT", "FROM", "TO"),
        help="also build the CSV report from both databases and compare it (copies the source to a temporary file)",
    )
    args = ap.parse_args()
    if not args.source.is_file():
        print(f"no such SQLite database: {args.source}", file=sys.stderr)
        return 2
    if not args.check_only:
        t0 = time.perf_counter()
        c0 = time.process_time()
        counts = copy(args.source, args.db_url, replace=args.replace, batch=args.batch)
        print(
            f"copied {sum(counts.values()):,} rows of {len(counts)} tables in {time.perf_counter() - t0:.0f} s "
            f"(this process: {time.process_time() - c0:.0f} s of CPU)",
            flush=True,
        )
    problems: list[str] = []
    if args.check or args.check_only:
        problems += check(args.source, args.db_url)
    if args.compare_report:
        problems += compare_report(args.source, args.db_url, *args.compare_report)
    for p in problems:
        print(f"DIFFERENT: {p}")
    if args.check or args.check_only or args.compare_report:
        print("check: " + ("the copy differs from the source" if problems else "the copy matches the source"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
