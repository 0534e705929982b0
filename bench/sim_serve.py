"""One simulated tenant over HTTPS, in its own process, for the sync benchmark.

Started by ``sync_bench.py`` so the simulator's memory and CPU are not counted in the connector's. Writes
``ready.json`` (endpoints and the ``[[tenants]]`` TOML snippet) into the state directory once it serves, and on
SIGTERM writes ``stats.json``: the simulator's counters plus one ``[monotonic time, family, status, replayed]``
entry per request, so the benchmark can measure request rates per API family.

``--replay`` keeps every response it serves, keyed by method and URL, and answers the same request from memory
the next time: a first sync against a fresh database records the tenant, a second sync against another fresh
database then gets every page at the speed of the HTTPS server alone, as from a service that answers instantly.
Both syncs must ask the same questions, so the simulator's and the syncs' wall clock are frozen at ``--now``.
``--dump-dir`` writes the recorded bodies of the usage-detail CSVs, sign-in pages and message-trace pages there on
exit, for the benchmark's standard-library floor to parse the very bytes the sync received.
"""

import argparse
import json
import re
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from connector.simulator import (
    SimDirectory,
    SimRequest,
    SimResponse,
    Simulator,
    SimulatorServer,
    SimulatorSettings,
    ThrottleConfig,
)


def family_of(request: SimRequest, sim: Simulator) -> str:
    """The API family of a request, as the throttling limits count them."""
    path = request.path
    role = sim.endpoints.role_of(request.origin)
    if role in ("login", "download", "exchange"):
        return role or "other"
    if "/auditLogs/signIns" in path:
        return "signins"
    if "/tracing/messageTraces" in path:
        return "message_trace"
    if "/reports/getEmailAppUsage" in path:
        api = path.rsplit("/", 1)[-1].split("(", 1)[0]
        return f"reports:{api}"
    return "graph"


class FrozenClock:
    """Wall time stands still at ``at`` (so two syncs ask for the same windows); waits and deadlines are real."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


_USAGE_VIEW = re.compile(r"getEmailAppUsageUserDetail\((?:period='(D\d+)'|date=([0-9-]+))\)")


class RecordingSimulator(Simulator):
    """A simulator that logs when each request arrived and how it was answered, and (``replay=True``) answers a
    request it has answered before from memory."""

    def __init__(self, *args: object, replay: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.log: list[tuple[float, str, int, bool]] = []
        self._log_lock = threading.Lock()
        self.replay = replay
        self._recorded: dict[tuple[str, str], SimResponse] = {}
        #: download URL -> the usage-detail view that redirected to it (D7 or a date)
        self._usage_views: dict[str, str] = {}
        #: (family, view, URL) of each recorded body, in the order first served
        self._order: list[tuple[str, str, str]] = []

    def handle(self, request: SimRequest) -> SimResponse:
        arrived = time.monotonic()
        key = (request.method, request.url)
        response = self._recorded.get(key) if self.replay else None
        replayed = response is not None
        family = family_of(request, self)
        if response is None:
            response = super().handle(request)
            if self.replay:
                self._record(key, family, request, response)
        with self._log_lock:
            self.log.append((arrived, family, response.status, replayed))
        return response

    def _record(self, key: tuple[str, str], family: str, request: SimRequest, response: SimResponse) -> None:
        with self._log_lock:
            if key in self._recorded:
                return
            self._recorded[key] = response
            if response.status == 302 and family == "reports:getEmailAppUsageUserDetail":
                match = _USAGE_VIEW.search(request.path)
                if match:
                    self._usage_views[response.header("Location") or ""] = match.group(1) or match.group(2)
            elif response.status == 200 and family in ("signins", "message_trace"):
                self._order.append((family, "", request.url))
            elif response.status == 200 and family == "download" and request.url in self._usage_views:
                self._order.append(("usage_user_detail", self._usage_views[request.url], request.url))

    def dump(self, dest: Path) -> dict[str, int]:
        """Write the recorded usage-detail CSVs and sign-in / message-trace pages, one file each."""
        tables = {"usage_user_detail": "usage_user_detail", "signins": "signin", "message_trace": "message_trace"}
        counts = dict.fromkeys(tables.values(), 0)
        for family, view, url in self._order:
            table = tables[family]
            folder = dest / table
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{counts[table]:06d}_{view}").write_bytes(self._recorded[("GET", url)].body)
            counts[table] += 1
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smtp-share", type=float, default=0.04)
    parser.add_argument("--volume", type=float, default=1.0)
    parser.add_argument("--background-rate", type=float, default=0.0)
    parser.add_argument("--history-days", type=int, default=90)
    parser.add_argument("--throttle", action="store_true", help="enforce Microsoft's limits")
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--now", help="freeze the wall clock at this ISO time (UTC)")
    parser.add_argument("--replay", action="store_true", help="answer a repeated request from memory")
    parser.add_argument("--dump-dir", type=Path, help="write the recorded payloads here on exit (with --replay)")
    args = parser.parse_args()

    contoso = SimDirectory.default(seed=args.seed, users=args.users).tenant("contoso")
    settings = SimulatorSettings(
        smtp_share=args.smtp_share,
        volume=args.volume,
        background_rate=args.background_rate,
        history_days=args.history_days,
    )
    throttle = ThrottleConfig(enabled=args.throttle, time_scale=args.time_scale)
    clock = FrozenClock(datetime.fromisoformat(args.now).astimezone(UTC)) if args.now else None
    sim = RecordingSimulator(
        SimDirectory([contoso]), settings=settings, throttle=throttle, clock=clock, replay=args.replay
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    with SimulatorServer(sim, args.state_dir) as server:
        assert server.endpoints is not None
        # the benchmark measures the Graph sources; the opt-in Exchange sources have their own pacing
        snippet = server.config_snippet().replace("exchange_admin = true", "exchange_admin = false")
        ready = {"graph": server.endpoints.graph, "snippet": snippet, "users": args.users}
        tmp = args.state_dir / "ready.json.tmp"
        tmp.write_text(json.dumps(ready), encoding="utf-8")
        tmp.replace(args.state_dir / "ready.json")
        stop.wait()
    pop = sim.population(contoso)
    with sim._log_lock:
        log = list(sim.log)
    out = {
        "counters": sim.stats.snapshot(),
        "requests": log,
        "population": {"users": pop.users, "smtp_senders": pop.n_senders},
    }
    if args.dump_dir is not None:
        out["dumped"] = sim.dump(args.dump_dir)
    (args.state_dir / "stats.json").write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
