"""The soak: ``smtpauth serve`` (scheduler on) beside CLI commands in a loop, with ``kill -9`` of random ones.

Real processes throughout: ``smtpauth simulate`` over HTTPS, one ``smtpauth serve`` on the database, and worker
threads here that each run CLI commands (``sync``, ``import``, ``report``, ``request-report``, ``findings ack``,
``readiness``, ``reports list``) as subprocesses, one after another. Meanwhile a reader thread keeps the API busy
(data, summary, sync runs, report jobs) and asks for a report now and then (202), and a killer thread sends
``SIGKILL`` to a random running CLI process.

What it checks (``SoakResult.problems``, empty when all is well):

- every API answer is below 500, and no CLI command prints a traceback;
- SQLite: ``<db>-wal`` and ``<db>-shm`` exist whenever they are looked at while serve runs, and serve never holds
  a deleted one open (``/proc/<pid>/fd``);
- the sync runs and report jobs the API counts equal those counted in the database, read by another process;
- after serve stops: ``PRAGMA integrity_check`` is ``ok`` (SQLite) and every row an exit-0 command or a 202 wrote
  is in the database: the runs of each successful sync, each imported file's senders, each acknowledged finding,
  each requested report job, and each report job the API accepted (and they all ended);
- nothing is left "running" once the runs' processes are gone.

``tests/soak`` runs it for a bounded time on SQLite and PostgreSQL; ``bench/soak.py`` runs it long.
"""

import json
import os
import queue
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

__all__ = ["SoakResult", "run_soak"]

TOKEN = "soak-token-0123456789abcdefghijklmnopqrstuvwxyz"
TENANT = "contoso"
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SoakResult:
    backend: str
    seconds: float = 0.0
    ops: Counter[str] = field(default_factory=Counter)
    ok: Counter[str] = field(default_factory=Counter)
    kills: Counter[str] = field(default_factory=Counter)
    api_requests: int = 0
    api_202: int = 0
    #: GETs resent once after a transport error on a reused connection
    api_resent: int = 0
    wal_checks: int = 0
    integrity: str = "n/a"
    expected: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "minutes": round(self.seconds / 60, 1),
            "ops": dict(self.ops),
            "exit_0": dict(self.ok),
            "kills": dict(self.kills),
            "api_requests": self.api_requests,
            "api_202": self.api_202,
            "api_resent": self.api_resent,
            "wal_checks": self.wal_checks,
            "integrity": self.integrity,
            "expected": self.expected,
            "found": self.found,
            "problems": self.problems[:20],
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {**os.environ, "SOAK_API_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1"}


def _start_simulator(state: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "simulate", "--state-dir", str(state), "--users", "20", "--seed", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=_env(),
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in proc.stdout or ():
            lines.put(line)
            if line.startswith("# ready"):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    seen: list[str] = []
    while not seen or not seen[-1].startswith("# ready"):
        try:
            seen.append(lines.get(timeout=90))
        except queue.Empty:
            proc.kill()
            proc.communicate()
            raise RuntimeError("the simulator did not start within 90 s") from None
    reader.join()
    match = re.search(rf'\[\[tenants\]\]\nname = "{TENANT}"\n(?:.+\n)+', "".join(seen))
    if match is None:
        proc.kill()
        raise RuntimeError("the simulator printed no contoso table")
    return proc, match.group(0)


def _seed_findings(database_url: str, count: int) -> list[int]:
    """Findings to acknowledge (the data a real sync's insights step would have produced), written before serve
    starts, through the product's own store."""
    from connector.insights.model import Candidate
    from connector.insights.store import save_findings
    from connector.store import open_store

    start = datetime(2026, 11, 1, tzinfo=UTC)
    candidates = [
        Candidate(
            kind="volume_spike",
            severity="medium",
            account=f"soak-finding-{i}@contoso.com",
            window_start=start + timedelta(days=i % 20),
            window_end=start + timedelta(days=i % 20 + 1),
            summary=f"soak finding {i}",
            action="look at it",
        )
        for i in range(count)
    ]
    store = open_store(database_url)
    try:
        with store.transaction() as tx:
            save_findings(tx, TENANT, candidates, now=datetime.now(UTC), channels=[])
            ids = [int(r[0]) for r in tx.execute(sa.text("SELECT id FROM finding ORDER BY id")).all()]
    finally:
        store.close()
        store.engine.dispose()
    return ids


class Soak:
    def __init__(self, workdir: Path, database_url: str | None, seconds: float, workers: int, seed: int) -> None:
        self.workdir = workdir
        self.seconds = seconds
        self.workers = workers
        self.rng = random.Random(seed)
        self.data = workdir / "data"
        self.database_url = database_url or f"sqlite:///{self.data / 'smtpauth.db'}"
        self.sqlite = self.database_url.startswith("sqlite")
        self.db_path = self.data / "smtpauth.db"
        self.result = SoakResult("sqlite" if self.sqlite else "postgresql")
        self.port = _free_port()
        self.stop = threading.Event()
        self.guard = threading.Lock()
        self.running: dict[int, tuple[str, subprocess.Popen[str]]] = {}
        self.killed: set[int] = set()
        # what exit-0 commands and 202 answers promise is in the database
        self.synced = 0
        self.imported_senders: list[str] = []
        self.acked: set[int] = set()
        self.requested_jobs: list[str] = []
        self.api_jobs: list[str] = []
        self.findings: list[int] = []
        self.serve: subprocess.Popen[str] | None = None

    # ---- set-up ------------------------------------------------------------------------------------------------

    def configure(self, tenant_table: str) -> Path:
        database = "" if self.sqlite else f'[database]\nurl = "{self.database_url}"\n'
        config = self.workdir / "smtpauth.toml"
        config.write_text(
            f'data_dir = "{self.data}"\n{database}'
            f'[service]\ntoken_envs = ["SOAK_API_TOKEN"]\nport = {self.port}\nreport_poll_seconds = 1.0\n'
            '[report]\nformats = ["csv", "xlsx"]\n\n' + tenant_table
        )
        return config

    def smtpauth(self, kind: str, *args: str, timeout: float = 90) -> tuple[int | None, str]:
        """Run one CLI command; None when the killer killed it."""
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "-c", str(self.config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
            cwd=self.workdir,
        )
        with self.guard:
            self.running[proc.pid] = (kind, proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            self.problem(f"{kind} did not finish within {timeout} s")
        with self.guard:
            self.running.pop(proc.pid, None)
            killed = proc.pid in self.killed
        self.result.ops[kind] += 1
        if killed:
            return None, out
        if "Traceback" in out:
            self.problem(f"{kind} printed a traceback: {out[-800:]}")
        if proc.returncode == 0:
            self.result.ok[kind] += 1
        return proc.returncode, out

    def problem(self, text: str) -> None:
        with self.guard:
            if len(self.result.problems) < 200 and text not in self.result.problems:
                self.result.problems.append(text)

    # ---- the load ---------------------------------------------------------------------------------------------

    def cli_worker(self, index: int) -> None:
        steps = [self.do_sync, self.do_import, self.do_report, self.do_request, self.do_ack, self.do_readiness]
        steps.append(self.do_list)
        n = 0
        while not self.stop.is_set():
            n += 1
            # round robin (each worker from its own place): every kind runs, whatever the machine's speed
            steps[(index * 3 + n) % len(steps)](index, n)

    def expect_ok(self, kind: str, code: int | None, out: str) -> None:
        if code not in (0, None):
            self.problem(f"{kind} exited {code}: {out[-500:]}")

    def do_sync(self, _index: int, _n: int) -> None:
        code, out = self.smtpauth("sync", "sync", "--plain", "-t", TENANT, "-s", "report_settings")
        if code == 0:
            with self.guard:
                self.synced += 1
        elif "already running" not in out:  # another CLI sync of the tenant holds its lock: exit 1, stated
            self.expect_ok("sync", code, out)

    def do_import(self, index: int, n: int) -> None:
        senders = [f"soak-{index}-{n}-{i}@contoso.com" for i in range(5)]
        path = self.workdir / "imports" / f"clients_2026-11-01_2026-11-07_{index}_{n}.csv"
        path.parent.mkdir(exist_ok=True)
        lines = ["Sender address,Domain,TLS 1.0 %,TLS 1.1 %,TLS 1.2 %,Messages sent,Authentication protocol"]
        lines += [f"{s},contoso.com,0%,0%,100%,{i + 1},OAuth" for i, s in enumerate(senders)]
        path.write_text("\n".join(lines) + "\n")
        code, out = self.smtpauth("import", "import", "-t", TENANT, str(path))
        if code == 0:
            with self.guard:
                self.imported_senders.extend(senders)
        self.expect_ok("import", code, out)

    def do_report(self, index: int, _n: int) -> None:
        out_dir = self.workdir / "reports" / f"{index}"
        dates = ("--from", "2026-11-01", "--to", "2026-11-07")
        code, out = self.smtpauth("report", "report", "-t", TENANT, *dates, "--out", str(out_dir))
        self.expect_ok("report", code, out)
        if code == 0:
            leftovers = [p.name for p in out_dir.rglob("*.tmp")]
            if leftovers:
                self.problem(f"report left temporary files: {leftovers}")

    def do_request(self, _index: int, _n: int) -> None:
        dates = ("--from", "2026-11-01", "--to", "2026-11-07")
        code, out = self.smtpauth("request-report", "request-report", "-t", TENANT, *dates, "--format", "csv")
        self.expect_ok("request-report", code, out)
        if code == 0:
            found = re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", out)
            if found is None:
                self.problem(f"request-report printed no job id: {out[-300:]}")
            else:
                with self.guard:
                    self.requested_jobs.append(found.group(0))

    def do_ack(self, _index: int, _n: int) -> None:
        with self.guard:
            todo = [f for f in self.findings if f not in self.acked]
        fid = self.rng.choice(todo or self.findings)
        code, out = self.smtpauth("findings-ack", "findings", "ack", str(fid))
        if code == 0:
            with self.guard:
                self.acked.add(fid)
        self.expect_ok("findings-ack", code, out)

    def do_readiness(self, _index: int, _n: int) -> None:
        code, out = self.smtpauth("readiness", "readiness", "-t", TENANT)
        self.expect_ok("readiness", code, out)

    def do_list(self, _index: int, _n: int) -> None:
        code, out = self.smtpauth("reports-list", "reports", "list")
        self.expect_ok("reports-list", code, out)

    def killer(self) -> None:
        while not self.stop.wait(self.rng.uniform(3.0, 6.0)):
            with self.guard:
                # a kind is killed only once it succeeded at least once, so each kind is seen both ways
                victims = [(pid, run) for pid, run in self.running.items() if self.result.ok[run[0]] > 0]
            if not victims:
                continue
            pid, (kind, proc) = self.rng.choice(victims)
            # let it get going (past start-up, into its database work) before the kill
            time.sleep(self.rng.uniform(0.3, 1.5))
            with self.guard:
                if proc.poll() is not None or pid not in self.running:
                    continue
                self.killed.add(pid)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            self.result.kills[kind] += 1

    def api_reader(self, client: httpx.Client) -> None:
        paths = [
            ("/api/v1/sync-runs", {"limit": "20"}),
            ("/api/v1/reports", {"limit": "20"}),
            ("/api/v1/summary", {"tenant": TENANT, "from": "2026-11-01", "to": "2026-11-07"}),
            ("/api/v1/data/accounts", {"tenant": TENANT, "from": "2026-11-01", "to": "2026-11-07"}),
            ("/api/v1/health", {}),
            ("/", {}),
        ]
        last_post = 0.0
        while not self.stop.wait(0.05):
            try:
                if time.monotonic() - last_post > 3.0:
                    last_post = time.monotonic()
                    body = {"tenant": TENANT, "from": "2026-11-01", "to": "2026-11-07", "formats": ["csv"]}
                    r = client.post("/api/v1/reports", json=body)
                    self.result.api_requests += 1
                    if r.status_code == 202:
                        self.result.api_202 += 1
                        with self.guard:
                            self.api_jobs.append(r.json()["job_id"])
                    else:
                        self.problem(f"POST /api/v1/reports answered {r.status_code}: {r.text[:300]}")
                    continue
                path, params = self.rng.choice(paths)
                try:
                    r = client.get(path, params=params)
                except httpx.TransportError:
                    # a keep-alive connection the server closed as it was reused: resend once, as clients do
                    self.result.api_resent += 1
                    r = client.get(path, params=params)
                self.result.api_requests += 1
                if r.status_code >= 500:
                    self.problem(f"GET {path} answered {r.status_code}: {r.text[:300]}")
            except httpx.HTTPError as exc:
                self.problem(f"API request failed: {type(exc).__name__}: {exc}")

    def wal_watcher(self) -> None:
        while not self.stop.wait(0.25):
            self.check_wal()

    def check_wal(self) -> None:
        if not self.sqlite or self.serve is None:
            return
        self.result.wal_checks += 1
        for suffix in ("-wal", "-shm"):
            if not Path(str(self.db_path) + suffix).exists():
                self.problem(f"smtpauth.db{suffix} is gone while serve runs")
        try:
            fds = list(Path(f"/proc/{self.serve.pid}/fd").iterdir())
        except OSError:
            return
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if "smtpauth.db" in target and target.endswith("(deleted)"):
                self.problem(f"serve holds a deleted database file open: {target}")

    # ---- the run ----------------------------------------------------------------------------------------------

    def run(self) -> SoakResult:
        started = time.monotonic()
        sim, table = _start_simulator(self.workdir / "sim")
        try:
            self.config = self.configure(table)
            # the schema and the findings to acknowledge, before serve starts
            migrate = self.smtpauth("setup", "reports", "list")
            if migrate[0] != 0:
                raise RuntimeError(f"could not set the database up: {migrate[1]}")
            self.findings = _seed_findings(self.database_url, 400)
            self.run_with_serve()
            self.verify_after_stop()  # (its last sync still needs the simulator)
        finally:
            sim.terminate()
            try:
                sim.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                sim.kill()
                sim.communicate()
        self.result.seconds = time.monotonic() - started
        self.result.expected["sync_runs_of_successful_syncs"] = self.synced
        return self.result

    def run_with_serve(self) -> None:
        log = (self.workdir / "serve.log").open("w")
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "connector", "-c", str(self.config), "serve"],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(),
            cwd=self.workdir,
        )
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    health = client.get("/api/v1/health")
                    if health.status_code == 200 and health.json()["scheduler"]["role"] == "leader":
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or self.serve.poll() is not None:
                    raise RuntimeError("serve did not start: " + (self.workdir / "serve.log").read_text()[-2000:])
                time.sleep(0.2)
            threads = [threading.Thread(target=self.cli_worker, args=(i,), daemon=True) for i in range(self.workers)]
            threads += [
                threading.Thread(target=self.killer, daemon=True),
                threading.Thread(target=self.api_reader, args=(client,), daemon=True),
                threading.Thread(target=self.wal_watcher, daemon=True),
            ]
            for t in threads:
                t.start()
            self.stop.wait(self.seconds)
            self.stop.set()
            for t in threads:
                t.join(timeout=180)
            try:
                self.wait_jobs(client)
                self.check_wal()
                self.compare_counts(client)
            except (httpx.HTTPError, KeyError, ValueError) as exc:
                self.problem(f"the API failed at the end of the soak: {type(exc).__name__}: {exc}")
        finally:
            client.close()
            self.serve.send_signal(signal.SIGTERM)
            try:
                code = self.serve.wait(60)
            except subprocess.TimeoutExpired:
                self.serve.kill()
                code = self.serve.wait()
                self.problem("serve did not stop within 60 s of SIGTERM")
            log.close()
            if code != 0:
                self.problem(f"serve exited {code}")
            text = (self.workdir / "serve.log").read_text()
            for bad in ("Traceback", "malformed", "Logging error"):
                if bad in text:
                    self.problem(f"serve's log has {bad!r}: {text[text.index(bad) - 200 : text.index(bad) + 800]}")

    def wait_jobs(self, client: httpx.Client) -> None:
        """Every accepted or requested report job ends (succeeded) while serve runs."""
        with self.guard:
            jobs = set(self.api_jobs) | set(self.requested_jobs)
        deadline = time.monotonic() + 120
        pending = set(jobs)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                r = client.get(f"/api/v1/reports/{job_id}")
                if r.status_code == 200 and r.json()["status"] in ("succeeded", "failed"):
                    if r.json()["status"] == "failed":
                        self.problem(f"report job {job_id} failed: {r.json()['error']}")
                    pending.discard(job_id)
            time.sleep(0.5)
        if pending:
            self.problem(f"{len(pending)} report job(s) did not end within 120 s")

    def file_query(self, sql: str) -> list[tuple[Any, ...]]:
        """Read the database from this process (a reader apart from serve and the CLI)."""
        if self.sqlite:
            conn = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=30)
            try:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
            finally:
                conn.close()
        engine = sa.create_engine(self.database_url, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(sa.text(sql)).all()]
        finally:
            engine.dispose()

    def compare_counts(self, client: httpx.Client) -> None:
        """The API and the database agree on how many sync runs and report jobs there are."""
        api_runs = client.get("/api/v1/sync-runs", params={"limit": "1"}).json()["total"]
        file_runs = self.file_query("SELECT count(*) FROM sync_run")[0][0]
        api_jobs = len(client.get("/api/v1/reports", params={"limit": "500"}).json()["jobs"])
        file_jobs = min(500, self.file_query("SELECT count(*) FROM report_job")[0][0])
        self.result.expected["api_sync_runs"] = api_runs
        self.result.found["file_sync_runs"] = file_runs
        if api_runs != file_runs:
            self.problem(f"the API counts {api_runs} sync runs, the database {file_runs}")
        if api_jobs != file_jobs:
            self.problem(f"the API counts {api_jobs} report jobs, the database {file_jobs}")

    def verify_after_stop(self) -> None:
        if self.sqlite:
            self.result.integrity = str(self.file_query("PRAGMA integrity_check")[0][0])
            if self.result.integrity != "ok":
                self.problem(f"integrity_check: {self.result.integrity}")
        r = self.result
        synced = self.file_query(
            "SELECT count(*) FROM sync_run WHERE source = 'report_settings' AND status = 'succeeded'"
        )[0][0]
        r.found["sync_runs_of_successful_syncs"] = synced
        if synced < self.synced:
            self.problem(f"{self.synced} syncs exited 0 but only {synced} succeeded runs are stored")
        stored = {s for (s,) in self.file_query("SELECT sender_address FROM imported_tls_aggregate")}
        r.expected["imported_senders"] = len(self.imported_senders)
        r.found["imported_senders"] = len(set(self.imported_senders) & stored)
        if r.found["imported_senders"] != len(self.imported_senders):
            self.problem(f"{len(self.imported_senders) - r.found['imported_senders']} imported senders are missing")
        acked = {int(i) for (i,) in self.file_query("SELECT id FROM finding WHERE acknowledged_at IS NOT NULL")}
        r.expected["acknowledged_findings"] = len(self.acked)
        r.found["acknowledged_findings"] = len(self.acked & acked)
        if self.acked - acked:
            self.problem(f"{len(self.acked - acked)} acknowledged findings are not acknowledged in the database")
        jobs = dict(self.file_query("SELECT job_id, status FROM report_job"))
        wanted = set(self.api_jobs) | set(self.requested_jobs)
        r.expected["report_jobs"] = len(wanted)
        r.found["report_jobs"] = len([j for j in wanted if jobs.get(j) == "succeeded"])
        if r.found["report_jobs"] != len(wanted):
            self.problem(f"{len(wanted) - r.found['report_jobs']} accepted report jobs are missing or not succeeded")
        running = self.file_query("SELECT count(*) FROM sync_run WHERE status = 'running'")[0][0]
        # killed commands' runs stay "running" until a recovery sees their owner dead: run one
        if running:
            code, out = self.smtpauth("recover", "sync", "--plain", "-t", TENANT, "-s", "report_settings")
            if code != 0:
                self.problem(f"the last sync exited {code}: {out[-500:]}")
            left = self.file_query("SELECT count(*) FROM sync_run WHERE status = 'running'")[0][0]
            if left:
                self.problem(f"{left} run(s) of dead processes still running after a new sync of the tenant")


def run_soak(
    workdir: Path, *, database_url: str | None = None, seconds: float = 60, workers: int = 3, seed: int = 0
) -> SoakResult:
    """Run the soak in ``workdir`` (a fresh folder) on SQLite there, or on ``database_url`` (an empty
    PostgreSQL schema)."""
    workdir.mkdir(parents=True, exist_ok=True)
    soak = Soak(workdir, database_url, seconds, workers, seed)
    result = soak.run()
    (workdir / "soak.json").write_text(json.dumps(result.summary(), indent=2))
    return result


def fresh_pg_schema(base_url: str) -> tuple[str, str]:
    """An empty schema on the PostgreSQL server of ``base_url``: (url with that search_path, schema name)."""
    url = sa.make_url(base_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    schema = f"soak_{uuid.uuid4().hex[:10]}"
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine.dispose()
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False), schema


def drop_pg_schema(base_url: str, schema: str) -> None:
    url = sa.make_url(base_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    engine.dispose()
