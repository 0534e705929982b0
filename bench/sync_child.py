"""The benchmark's sync process: ``smtpauth sync --plain`` with the wall clock frozen, plus per-source timings.

Runs what the CLI runs (:func:`jobs.sync.run_sync_job` with plain log lines, then the summary table), with two
differences the benchmark needs: the wall clock stands still at ``--now`` (the simulator's is frozen at the same
instant, so a replayed sync asks exactly the questions a recorded one asked), and the monotonic start and end of
each source go to ``--timings`` as JSON (``sync_run`` dates them by the frozen clock, which cannot).

The rollups' recompute before each commit (``rollups.flush``) is timed apart, in wall seconds per writing thread's
source. With ``--statements`` every SQL statement is also timed (cursor execution, wall), summed by its first 90
characters: the 25 costliest go to the timings file.
"""

import argparse
import json
import logging
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import sqlalchemy as sa
from sim_serve import FrozenClock

from connector.commands.summary import print_sync_summary
from connector.config import load_settings
from connector.http.redact import install_log_redaction
from connector.sync.progress import LogProgress, SourceOutcome
from jobs.sync import run_sync_job


class TimedProgress:
    """Plain log lines, and the monotonic start and end of every (tenant, source)."""

    def __init__(self) -> None:
        self.inner = LogProgress()
        self.started_at: dict[str, float] = {}
        self.ended_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def started(self, tenant: str, source: str) -> None:
        with self._lock:
            self.started_at[source] = time.monotonic()
        self.inner.started(tenant, source)

    def advanced(self, tenant: str, source: str, rows: int, detail: str = "") -> None:
        self.inner.advanced(tenant, source, rows, detail)

    def finished(self, outcome: SourceOutcome) -> None:
        with self._lock:
            self.ended_at[outcome.source] = time.monotonic()
        self.inner.finished(outcome)

    def __enter__(self) -> Self:
        self.inner.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.inner.__exit__(exc_type, exc, tb)


class Timers:
    """Wall seconds of ``rollups.flush`` and, optionally, of every statement (see the module docstring)."""

    def __init__(self, statements: bool) -> None:
        self.flush_s = 0.0
        self.flushes = 0
        self.statements: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        self._lock = threading.Lock()
        try:
            from connector.store import rollups
        except ImportError:  # a checkout from before the rollups (the benchmark's "without")
            self.flushes = -1
        else:
            self._time_flush(rollups)
        if statements:
            self._time_statements()

    def _time_flush(self, rollups: Any) -> None:
        inner = rollups.flush

        def timed_flush(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                with self._lock:
                    self.flush_s += time.perf_counter() - t0
                    self.flushes += 1

        rollups.flush = timed_flush

    def _time_statements(self) -> None:
        local = threading.local()

        @sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
        def _before(*_: Any) -> None:
            local.t0 = time.perf_counter()

        @sa.event.listens_for(sa.engine.Engine, "after_cursor_execute")
        def _after(_c: Any, _cur: Any, statement: str, *__: Any) -> None:
            spent = time.perf_counter() - local.t0
            key = " ".join(statement.split())[:90]
            with self._lock:
                entry = self.statements[key]
                entry[0] += spent
                entry[1] += 1

    def summary(self) -> dict[str, Any]:
        top = sorted(self.statements.items(), key=lambda kv: -kv[1][0])[:25]
        return {
            "rollups_flush_s": round(self.flush_s, 2) if self.flushes >= 0 else None,
            "rollups_flushes": self.flushes,
            "statements": [{"sql": k, "seconds": round(v[0], 2), "count": v[1]} for k, v in top],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--now", required=True, help="the frozen wall clock, ISO time (UTC)")
    parser.add_argument("--timings", type=Path, required=True)
    parser.add_argument("--source", action="append", default=[])
    parser.add_argument("--statements", action="store_true", help="time every SQL statement (slows the sync)")
    args = parser.parse_args()
    timers = Timers(args.statements)
    # as `smtpauth sync --plain` logs (warnings, redacted), plus the sync's progress lines
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("smtpauth.sync").setLevel(logging.INFO)
    install_log_redaction()

    started = time.monotonic()
    settings = load_settings(args.config)
    progress = TimedProgress()
    clock = FrozenClock(datetime.fromisoformat(args.now).astimezone(UTC))
    results = run_sync_job(settings, sources=args.source or None, progress=progress, clock=clock)
    ended = time.monotonic()
    print_sync_summary(results)
    timings = {
        "process_started": started,
        "process_ended": ended,
        "sources": {
            s: {"started": progress.started_at[s], "ended": progress.ended_at.get(s, ended)}
            for s in progress.started_at
        },
        **timers.summary(),
    }
    args.timings.write_text(json.dumps(timings), encoding="utf-8")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
