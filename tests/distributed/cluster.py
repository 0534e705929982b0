"""A distributed smtpauth on this machine: PostgreSQL, the simulator over HTTPS, `smtpauth worker` processes and
one `smtpauth serve`, all real processes; used by the end-to-end test and by bench/queue_bench.py.

The simulator serves an estate of customer tenants through one multi-tenant app (a certificate); the tenants are
put in the registry with `smtpauth tenants import` and the app is an [[apps]] table of the configuration.
"""

import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from connector.simulator import GroundTruth, SimDirectory, Simulator, SimulatorServer, SimulatorSettings, ThrottleConfig
from connector.store.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
SMTPAUTH = [sys.executable, "-m", "connector"]
TOKEN = "cluster-test-token-0123456789abcdefghijklmnop"
TOKEN_ENV = "SMTPAUTH_CLUSTER_API_TOKEN"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    tmp: Path
    db_url: str
    tenants: int = 12
    users: int = 30
    unconsented: tuple[int, ...] = ()
    #: Microsoft's limits, time-scaled (None: no throttling in the simulator, no pacing in the connector)
    time_scale: float | None = None
    cron: str = "* * * * *"
    spread_seconds: int = 15
    tick_seconds: int = 2
    heartbeat_seconds: float = 1.0
    stalled_seconds: float = 5.0
    history_days: int = 30
    extra_toml: str = ""
    sim: Simulator = field(init=False)
    server: SimulatorServer = field(init=False)
    config: Path = field(init=False)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    api_port: int = 0
    killed: set[str] = field(default_factory=set)
    stopped: bool = False
    _store: Store | None = None

    # ---- set-up ---------------------------------------------------------------------------------------------

    def start_simulator(self) -> None:
        throttle = ThrottleConfig(enabled=self.time_scale is not None, time_scale=self.time_scale or 1.0)
        self.sim = Simulator(
            SimDirectory.estate(self.tenants, seed=7, users=self.users, unconsented=self.unconsented),
            settings=SimulatorSettings(history_days=self.history_days, attack_scenarios=True),
            throttle=throttle,
        )
        self.server = SimulatorServer(self.sim, self.tmp / "sim")
        self.server.start()

    def write_config(self) -> Path:
        ep = self.server.endpoints
        assert ep is not None
        files = self.server.credential_files[(self.sim.directory.tenants[0].name, "msp")]
        if self.time_scale is None:
            http = "[http]\npace_requests = false\n"
        else:
            http = f"[http]\nrate_limit_time_scale = {self.time_scale}\n"
        self.config = self.tmp / "smtpauth.toml"
        self.config.write_text(
            f'data_dir = "{self.tmp / "data"}"\n'
            f'[database]\nurl = "{self.db_url}"\n'
            f"{http}"
            "[sync]\nsignin_backfill_days = 30\nmessage_trace_backfill_days = 30\n"
            f'[service]\nexecutor = "procrastinate"\ntoken_envs = ["{TOKEN_ENV}"]\nshutdown_grace_seconds = 5\n'
            f"misfire_grace_hours = 1\n"
            f'[service.schedule]\ncron = "{self.cron}"\n'
            f"[service.queue]\nspread_seconds = {self.spread_seconds}\ntick_seconds = {self.tick_seconds}\n"
            f"heartbeat_seconds = {self.heartbeat_seconds}\nstalled_seconds = {self.stalled_seconds}\n"
            "poll_seconds = 1.0\nbusy_retry_seconds = 2\n"
            f"{self.extra_toml}"
            "[[apps]]\n"
            'name = "msp"\n'
            f'client_id = "{self.sim.directory.multi_tenant_apps[0].client_id}"\n'
            f'certificate_path = "{files["certificate"]}"\n'
            f'private_key_path = "{files["private_key"]}"\n'
            f'authority_host = "{ep.login}"\n'
            f'graph_endpoint = "{ep.graph}"\n'
            f'exchange_endpoint = "{ep.exchange}"\n'
            f'ca_bundle = "{self.server.ca_path}"\n'
        )
        return self.config

    def registry_csv(self) -> Path:
        path = self.tmp / "tenants.csv"
        lines = ["name,tenant_id,cloud,credential,primary_domain"]
        lines += [f"{t.name},{t.tenant_id},global,app:msp,{t.primary_domain}" for t in self.sim.directory.tenants]
        path.write_text("\n".join(lines) + "\n")
        return path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMTPAUTH_")}
        env[TOKEN_ENV] = TOKEN
        env["PYTHONPATH"] = str(ROOT)
        return env

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*SMTPAUTH, "-c", str(self.config), *args],
            capture_output=True,
            text=True,
            env=self.env(),
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"smtpauth {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
        return proc

    def start(self) -> None:
        self.start_simulator()
        self.write_config()
        self.cli("tenants", "import", str(self.registry_csv()))

    # ---- processes ------------------------------------------------------------------------------------------

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.tmp / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                [*SMTPAUTH, "-v", "-c", str(self.config), *args],
                stdout=log,
                stderr=log,
                env=self.env(),
                start_new_session=True,
            )
        self.procs[name] = proc
        return proc

    def start_worker(self, name: str, concurrency: int = 2) -> subprocess.Popen[bytes]:
        return self.spawn(name, "worker", "--concurrency", str(concurrency))

    def start_serve(self) -> None:
        self.api_port = free_port()
        self.spawn("serve", "serve", "--port", str(self.api_port))
        wait_for(self._api_up, 60, "serve answers")

    def alive(self) -> None:
        """Fail at once (with the logs) when a process of the cluster died."""
        if self.stopped:
            return
        dead = [n for n, p in self.procs.items() if p.poll() is not None and n not in self.killed]
        if dead:
            raise AssertionError(f"{', '.join(dead)} exited:\n{self.logs(tail=4000)}")

    def _api_up(self) -> bool:
        self.alive()
        try:
            return self.api("/api/v1/health").status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, path: str, method: str = "GET", **kwargs: Any) -> httpx.Response:
        return httpx.request(
            method,
            f"http://127.0.0.1:{self.api_port}{path}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
            **kwargs,
        )

    def stop(self) -> None:
        self.stopped = True
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        with contextlib.suppress(AttributeError):
            self.server.stop()

    def close(self) -> None:
        """Stop everything and close the database (the test reads it after stop())."""
        self.stop()
        if self._store is not None:
            self._store.close()
            self._store = None

    def logs(self, tail: int | None = None) -> str:
        """Every process's log, whole (what assertions search), or its last ``tail`` characters (for a message)."""
        return "\n".join(
            f"== {p.name}\n{p.read_text(errors='replace')[-tail if tail else 0 :]}"
            for p in sorted(self.tmp.glob("*.log"))
        )

    # ---- the database ---------------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.db_url)
        return self._store

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.store.read() as conn:
            return list(conn.execute(sa.text(sql), params))

    def runs(self) -> list[Any]:
        """Per (tenant, run id): start of the first source, end of the last, and the statuses."""
        self.alive()
        return self.rows(
            "SELECT tenant, run_id, min(started_at) AS started, max(ended_at) AS ended, "
            "string_agg(DISTINCT status, ',') AS statuses, count(*) AS sources, "
            "bool_or(status = 'running') AS running "
            "FROM sync_run GROUP BY tenant, run_id ORDER BY tenant, min(started_at)"
        )


def wait_for(probe: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")


def overlaps(runs: list[Any]) -> list[tuple[str, str, str]]:
    """Pairs of runs of one tenant whose [start, end] intervals intersect."""
    by_tenant: dict[str, list[Any]] = defaultdict(list)
    for r in runs:
        by_tenant[r.tenant].append(r)
    found = []
    for tenant, items in by_tenant.items():
        items.sort(key=lambda r: r.started)
        for a, b in itertools.pairwise(items):
            if a.ended is None or b.started < a.ended:
                found.append((tenant, a.run_id, b.run_id))
    return found


def tenant_truth_mismatches(cluster: Cluster, tenant: str) -> list[str]:
    """What the stored data of ``tenant`` gets wrong against the simulator's ground truth (empty: nothing).

    The simulator runs on the real clock, so each sync's backfill window starts a little later than the previous
    one: every row the latest window covers must be stored (nothing lost), every stored row must be one the
    simulator served within the windows of all the tenant's syncs (nothing invented), and none twice.
    """
    from tests.e2e.test_sync_truth import trace_messages

    truth = GroundTruth(cluster.sim, tenant)
    problems: list[str] = []
    ((first, last),) = cluster.rows("SELECT min(started_at), max(started_at) FROM sync_run WHERE tenant = :t", t=tenant)
    slack = last - first + timedelta(minutes=5)
    ((until_text,),) = cluster.rows(
        "SELECT value FROM watermark WHERE tenant = :t AND source = 'signins' AND key = 'created_until'", t=tenant
    )
    until = datetime.fromisoformat(until_text)
    since = until - timedelta(days=30) + timedelta(minutes=5)
    must = {sid for ids in truth.signin_ids(since, until).values() for sid in ids}
    may = {sid for ids in truth.signin_ids(since - slack, until).values() for sid in ids}
    stored = [r[0] for r in cluster.rows("SELECT signin_id FROM signin WHERE tenant = :t", t=tenant)]
    if not must <= set(stored):
        problems.append(f"sign-ins lost: {len(must - set(stored))}")
    if not set(stored) <= may:
        problems.append(f"sign-ins the simulator never served: {len(set(stored) - may)}")
    if len(stored) != len(set(stored)):
        problems.append(f"{len(stored) - len(set(stored))} duplicated sign-ins")
    senders = {
        r[0]: datetime.fromisoformat(r[1])
        for r in cluster.rows(
            "SELECT substr(key, 8), value FROM watermark WHERE tenant = :t AND source = 'message_trace'", t=tenant
        )
    }
    if senders:
        backfill = timedelta(days=30) - timedelta(minutes=10)
        served = trace_messages(truth, min(senders.values()) - backfill - slack, max(senders.values()))
        trace: dict[str, set[str]] = defaultdict(set)
        for sender, mid in cluster.rows(
            "SELECT sender_address, message_id FROM message_trace WHERE tenant = :t", t=tenant
        ):
            trace[sender].add(mid)
        for sender, end in senders.items():
            want = {mid for received, mid in served.get(sender, []) if end - backfill <= received <= end}
            allowed = {mid for received, mid in served.get(sender, []) if end - backfill - slack <= received <= end}
            got = trace.get(sender, set())
            if not want <= got:
                problems.append(f"message trace of {sender}: {len(want - got)} lost")
            if not got <= allowed:
                problems.append(f"message trace of {sender}: {len(got - allowed)} never served")
        if set(trace) - set(senders):
            problems.append(f"message trace of unknown senders: {sorted(set(trace) - set(senders))}")
    ((trace_dupes,),) = cluster.rows(
        "SELECT count(*) - count(DISTINCT trace_id) FROM message_trace WHERE tenant = :t", t=tenant
    )
    if trace_dupes:
        problems.append(f"{trace_dupes} duplicated message-trace rows")
    kpi = cluster.rows("SELECT smtp_app FROM usage_apps_kpi WHERE tenant = :t", t=tenant)
    if [k[0] for k in kpi] != [truth.d7_count()]:
        problems.append(f"7-day KPI {kpi} != {truth.d7_count()}")
    if not stored:
        problems.append("no sign-in stored at all")
    return problems


@contextlib.contextmanager
def running_cluster(cluster: Cluster) -> Iterator[Cluster]:
    """Start the cluster; stop its processes at the end of the block (its database stays open until close())."""
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
