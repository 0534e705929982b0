"""The benchmark's sync process: ``smtpauth sync --plain`` with the wall clock frozen, plus per-source timings.

Runs what the CLI runs (:func:`jobs.sync.run_sync_job` with plain log lines, then the summary table), with two
differences the benchmark needs: the wall clock stands still at ``--now`` (the simulator's is frozen at the same
instant, so a replayed sync asks exactly the questions a recorded one asked), and the monotonic start and end of
each source go to ``--timings`` as JSON (``sync_run`` dates them by the frozen clock, which cannot).
"""

import argparse
import json
import logging
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--now", required=True, help="the frozen wall clock, ISO time (UTC)")
    parser.add_argument("--timings", type=Path, required=True)
    parser.add_argument("--source", action="append", default=[])
    args = parser.parse_args()
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
    }
    args.timings.write_text(json.dumps(timings), encoding="utf-8")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
