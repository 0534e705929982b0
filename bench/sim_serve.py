"""One simulated tenant over HTTPS, in its own process, for the sync benchmark.

Started by ``sync_bench.py`` so the simulator's memory and CPU are not counted in the connector's. Writes
``ready.json`` (endpoints and the ``[[tenants]]`` TOML snippet) into the state directory once it serves, and on
SIGTERM writes ``stats.json``: the simulator's counters plus one ``[monotonic time, family, status]`` entry per
request, so the benchmark can measure request rates per API family.
"""

import argparse
import json
import signal
import threading
import time
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


class RecordingSimulator(Simulator):
    """A simulator that also logs when each request arrived and how it was answered."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.log: list[tuple[float, str, int]] = []
        self._log_lock = threading.Lock()

    def handle(self, request: SimRequest) -> SimResponse:
        arrived = time.monotonic()
        response = super().handle(request)
        with self._log_lock:
            self.log.append((arrived, family_of(request, self), response.status))
        return response


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
    args = parser.parse_args()

    contoso = SimDirectory.default(seed=args.seed, users=args.users).tenant("contoso")
    settings = SimulatorSettings(
        smtp_share=args.smtp_share,
        volume=args.volume,
        background_rate=args.background_rate,
        history_days=args.history_days,
    )
    throttle = ThrottleConfig(enabled=args.throttle, time_scale=args.time_scale)
    sim = RecordingSimulator(SimDirectory([contoso]), settings=settings, throttle=throttle)
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
    (args.state_dir / "stats.json").write_text(json.dumps(out), encoding="utf-8")


if __name__ == "__main__":
    main()
