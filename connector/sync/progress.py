"""How a sync reports what it is doing: a live display on a terminal, plain log lines otherwise."""

import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

if TYPE_CHECKING:
    from rich.progress import TaskID

__all__ = ["LinesProgress", "LogProgress", "Progress", "RichProgress", "SourceOutcome", "make_progress"]

log = logging.getLogger("smtpauth.sync")


@dataclass(slots=True)
class SourceOutcome:
    """What one source did for one tenant in one run (also the row of the summary table)."""

    tenant: str
    source: str
    status: str = "running"
    rows_seen: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    requests: int = 0
    throttled: int = 0
    message: str = ""
    request_ids: list[str] = field(default_factory=list)
    #: one line about the schema drift the run saw (empty: none)
    drift: str = ""
    #: rows (included in the counts above) and files loaded from the inbox/ folder just before the run
    inbox_rows: int = 0
    inbox_files: int = 0

    def add_inbox_file(self, rows: int, inserted: int, updated: int, skipped: int) -> None:
        """Count a file the sync job loaded from the inbox for this source (its rows are stored before the source
        runs, so the source itself finds nothing new)."""
        self.rows_seen += rows
        self.inserted += inserted
        self.updated += updated
        self.skipped += skipped
        self.inbox_rows += rows
        self.inbox_files += 1

    @property
    def inbox_note(self) -> str:
        if not self.inbox_files:
            return ""
        files = "1 inbox file" if self.inbox_files == 1 else f"{self.inbox_files:,} inbox files"
        return f" ({self.inbox_rows:,} from {files})"


class Progress(Protocol):
    def started(self, tenant: str, source: str) -> None: ...

    def advanced(self, tenant: str, source: str, rows: int, detail: str = "") -> None: ...

    def finished(self, outcome: SourceOutcome) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class LogProgress:
    """Plain log lines: for cron, systemd and pipes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[tuple[str, str], int] = {}

    def started(self, tenant: str, source: str) -> None:
        log.info("%s/%s: started", tenant, source)

    def advanced(self, tenant: str, source: str, rows: int, detail: str = "") -> None:
        with self._lock:
            key = (tenant, source)
            before = self._rows.get(key, 0)
            self._rows[key] = before + rows
            total = before + rows
        # one line per 50,000 rows keeps a large first sync readable
        if total // 50_000 > before // 50_000:
            log.info("%s/%s: %d rows %s", tenant, source, total, detail)

    def finished(self, outcome: SourceOutcome) -> None:
        log.info(
            "%s/%s: %s (%d seen, %d inserted, %d updated, %d skipped)%s",
            outcome.tenant,
            outcome.source,
            outcome.status,
            outcome.rows_seen,
            outcome.inserted,
            outcome.updated,
            outcome.skipped,
            f": {outcome.message}" if outcome.message else "",
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class LinesProgress:
    """Plain printed lines for a person watching a pipe or a CI log: one line when a source finishes and, while
    sources run, a line at least every ``heartbeat`` seconds saying which ones and how many rows so far; so the
    output is never silent for longer than that."""

    def __init__(self, out: Callable[[str], None], *, heartbeat: float = 5.0, label: str = "") -> None:
        self._out = out
        self._heartbeat = heartbeat
        self._label = label
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str], int] = {}
        self._started = time.monotonic()
        self._last = self._started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _say(self, line: str) -> None:
        with self._lock:
            self._last = time.monotonic()
        self._out(line)

    def started(self, tenant: str, source: str) -> None:
        with self._lock:
            self._running[(tenant, source)] = 0

    def advanced(self, tenant: str, source: str, rows: int, detail: str = "") -> None:
        with self._lock:
            self._running[(tenant, source)] = self._running.get((tenant, source), 0) + rows

    def finished(self, outcome: SourceOutcome) -> None:
        with self._lock:
            self._running.pop((outcome.tenant, outcome.source), None)
        message = outcome.message.removeprefix(f"{outcome.status}: ")
        note = f": {message}" if message and outcome.status != "succeeded" else ""
        rows = f"{outcome.rows_seen:,} rows{outcome.inbox_note}"
        self._say(f"  {outcome.tenant}/{outcome.source}: {outcome.status}, {rows}{note}")

    def _beat(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                quiet = time.monotonic() - self._last
                running = sorted(self._running.items())
            if quiet < self._heartbeat:
                continue
            elapsed = time.monotonic() - self._started
            if running:
                shown = ", ".join(f"{t}/{s} ({n:,} rows)" for (t, s), n in running[:4])
                more = f" and {len(running) - 4} more" if len(running) > 4 else ""
                self._say(f"  ... {int(elapsed)} s: working on {shown}{more}")
            else:
                self._say(f"  ... {int(elapsed)} s{': ' + self._label if self._label else ''}")

    def __enter__(self) -> Self:
        self._started = self._last = time.monotonic()
        self._stop.clear()
        self._thread = threading.Thread(target=self._beat, name="progress-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class RichProgress:
    """A live table on a terminal: one line per tenant and source, updated as rows arrive."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._console = Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=None),
            TextColumn("{task.completed:>10,.0f} rows"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=self._console,
            transient=False,
        )
        self._tasks: dict[tuple[str, str], TaskID] = {}
        self._lock = threading.Lock()

    def started(self, tenant: str, source: str) -> None:
        with self._lock:
            self._tasks[(tenant, source)] = self._progress.add_task(f"{tenant}/{source}", total=None, detail="")

    def advanced(self, tenant: str, source: str, rows: int, detail: str = "") -> None:
        task = self._tasks.get((tenant, source))
        if task is not None:
            self._progress.update(task, advance=rows, detail=detail)

    def finished(self, outcome: SourceOutcome) -> None:
        task = self._tasks.get((outcome.tenant, outcome.source))
        if task is not None:
            self._progress.update(task, total=1, completed=1, detail=outcome.status)
            self._progress.update(task, completed=outcome.rows_seen, total=max(outcome.rows_seen, 1))

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()


def make_progress(*, force_plain: bool = False) -> Progress:
    """A live display when stderr is a terminal, plain log lines otherwise."""
    if not force_plain and sys.stderr.isatty():
        return RichProgress()
    return LogProgress()
