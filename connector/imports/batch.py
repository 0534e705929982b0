"""Many files in one call (``smtpauth import FILE... | FOLDER``, the inbox): one group commit across them all.

Files are loaded in order through one :class:`~connector.imports.loading.ImportWriter`, so consecutive files share
transactions the way a sync's pages do (at most ``MAX_GROUP_ROWS`` rows or ``MAX_GROUP_SECONDS`` of CPU time a
group), each file all or nothing in its own savepoint. A refused or unreadable file is reported and the others go on.
"""

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from connector.clock import Clock
from connector.imports.files import ImportOptions, import_file
from connector.imports.loading import ImportRefused, ImportResult, ImportWriter
from connector.imports.payloads import load_payload
from connector.store.store import Store
from connector.sync.writer import MAX_GROUP_ROWS

__all__ = ["FileOutcome", "FileProgress", "ImportBatch", "expand_paths", "import_files"]


@dataclass(frozen=True, slots=True)
class FileOutcome:
    path: Path
    result: ImportResult | None
    #: why the file was not loaded (None when it was, or was already)
    error: str | None = None

    def summary(self) -> str:
        if self.result is not None:
            return self.result.summary()
        return f"{self.path}: not loaded: {self.error}"


@dataclass
class ImportBatch:
    outcomes: list[FileOutcome] = field(default_factory=list)
    commits: int = 0

    @property
    def results(self) -> list[ImportResult]:
        return [o.result for o in self.outcomes if o.result is not None]

    @property
    def refused(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.result is None]

    def totals(self) -> str:
        loaded = [r for r in self.results if not r.already_imported]
        return (
            f"{len(self.outcomes)} file(s): {len(loaded)} loaded, {len(self.results) - len(loaded)} already imported, "
            f"{len(self.refused)} refused; {sum(r.rows_seen for r in loaded)} row(s): "
            f"{sum(r.inserted for r in loaded)} new, {sum(r.updated for r in loaded)} updated, "
            f"{sum(r.skipped for r in loaded)} skipped"
        )


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """The files named, a folder standing for the files directly in it (sorted by name; hidden files left out)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        else:
            out.append(path)
    return out


class FileProgress(Protocol):
    """What :func:`import_files` reports while it works (the CLI shows it as one progress display)."""

    def file_started(self, index: int, total: int, path: Path) -> None:
        """Before the ``index``-th (from 1) of ``total`` files."""

    def rows(self, count: int) -> None:
        """``count`` more rows read (of the current file)."""

    def file_done(self, outcome: FileOutcome, size: int) -> None:
        """A file is done (``size`` bytes)."""


class _Quiet:
    def file_started(self, index: int, total: int, path: Path) -> None:
        pass

    def rows(self, count: int) -> None:
        pass

    def file_done(self, outcome: FileOutcome, size: int) -> None:
        pass


def import_files(
    store: Store,
    clock: Clock,
    paths: Sequence[Path],
    *,
    tenant: str,
    source: str | None = None,
    options: ImportOptions | None = None,
    view: str = "D7",
    progress: FileProgress | None = None,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    group_rows: int = MAX_GROUP_ROWS,
) -> ImportBatch:
    """Import ``paths`` (files, or folders of files) in order: admin files, or with ``source`` saved Graph payloads
    of that source (``--load``). Never raises for a file that is refused or unreadable (its outcome says why);
    raises StorageError when the database fails (the files committed before stay loaded). ``group_rows``: the
    rows a group may hold before it is committed (between files)."""
    batch = ImportBatch()
    files = expand_paths(paths)
    progress = progress or _Quiet()
    with ImportWriter(store, max_rows=group_rows) as writer:
        writer.on_rows = progress.rows
        for index, path in enumerate(files, 1):
            progress.file_started(index, len(files), path)
            try:
                if source is not None:
                    result = load_payload(store, clock, path, tenant=tenant, source=source, view=view, writer=writer)
                else:
                    result = import_file(store, clock, path, tenant=tenant, options=options, writer=writer)
                outcome = FileOutcome(path, result)
            except ImportRefused as exc:
                outcome = FileOutcome(path, None, str(exc))
            except OSError as exc:
                outcome = FileOutcome(path, None, f"cannot read the file ({exc.strerror or type(exc).__name__})")
            batch.outcomes.append(outcome)
            size = path.stat().st_size if path.exists() else 0
            progress.file_done(outcome, size)
            if on_outcome is not None:
                on_outcome(outcome)
    batch.commits = writer.group.commits
    return batch
