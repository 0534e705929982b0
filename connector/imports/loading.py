"""Load normalized rows from one file as one recorded run: all rows or none, skipped rows counted, the file's
sha256 remembered so the same file is never loaded twice. Files loaded by one call share group commits
(:class:`ImportWriter`)."""

import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from connector.clock import Clock
from connector.errors import DownloadError, RecordError, SmtpAuthError
from connector.sources._base import Normalized
from connector.store import runs
from connector.store.store import Store
from connector.sync.writer import MAX_GROUP_ROWS, MAX_GROUP_SECONDS, GroupWriter

__all__ = [
    "IMPORTS",
    "ImportRefused",
    "ImportResult",
    "ImportWriter",
    "already_imported",
    "load_file_rows",
    "sha256_of",
]

log = logging.getLogger("smtpauth.import")

#: the ``watermark.source`` under which imported files are remembered, keyed ``sha256:<hex>``
IMPORTS = "file_import"
BATCH = 2000


class ImportRefused(SmtpAuthError):  # noqa: N818 (an outcome shown to the admin, like SourceUnavailable)
    """A file that was not loaded (unknown kind, missing columns, undecodable, no period): nothing was stored."""

    kind = "import"


@dataclass(frozen=True, slots=True)
class ImportResult:
    path: str
    kind: str
    sha256: str
    already_imported: bool = False
    rows_seen: int = 0
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    #: a SmtpCSReport file: what became of the search it answers
    search_note: str | None = None

    def summary(self) -> str:
        if self.already_imported:
            return f"{self.path}: already imported ({self.kind}); nothing changed"
        text = (
            f"{self.path}: {self.kind}, {self.rows_seen} row(s): {self.inserted} new, {self.updated} updated, "
            f"{self.skipped} skipped"
        )
        return f"{text}; {self.search_note}" if self.search_note else text


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def already_imported(store: Store, tenant: str, sha256: str) -> str | None:
    """What the file with this hash was loaded as, or None."""
    with store.read() as conn:
        return runs.get_watermark(conn, tenant, IMPORTS, f"sha256:{sha256}")


class ImportWriter:
    """The writes of one import call (one file or many): files share the sync's group commit
    (:class:`connector.sync.writer.GroupWriter`), each file in its own savepoint.

    A group is committed once ``max_rows`` rows are pending or it has cost ``max_seconds`` of CPU time (or is
    ``MAX_GROUP_WALL_SECONDS`` old, see :class:`GroupWriter`; checked each time a file
    ends: a file is never split across transactions), and at the end. A file's rows, its ``sync_run``,
    its sha256 mark and what ``after`` writes are in one savepoint: a file that fails rolls back alone and is
    recorded as a failed run; a crash loses at most the open group, whose files are then simply not imported
    (nothing partial: the next call imports them).
    """

    def __init__(self, store: Store, *, max_rows: int = MAX_GROUP_ROWS, max_seconds: float = MAX_GROUP_SECONDS):
        self.store = store
        self.counts = runs.RunCounts()
        self.group = GroupWriter(store, self, max_rows=max_rows, max_seconds=max_seconds)
        #: sha256 of the files loaded by this call (their marks may not be committed yet)
        self.loaded: set[str] = set()
        #: told the number of rows of each batch read (a progress display)
        self.on_rows: Callable[[int], None] | None = None

    def __enter__(self) -> "ImportWriter":
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        # on an error (a database failure, an interrupt) the files whose savepoints completed are kept, as the
        # sync keeps its completed pages
        self.group.__exit__(exc_type, exc, tb)


def _record_failed(
    writer: ImportWriter,
    *,
    tenant: str,
    source: str,
    run_id: str,
    now: datetime,
    clock: Clock,
    error: BaseException,
) -> None:
    """Record a file's run as failed in its own savepoint (the file's rows rolled back with theirs)."""
    try:
        with writer.group.step() as tx:
            run_pk = runs.start_run(tx, tenant=tenant, source=source, run_id=run_id, now=now)
            runs.finish_run(tx, run_pk, status="failed", now=clock.now(), counts=runs.RunCounts(), error=error)
    except Exception:  # the original error is the one to report
        log.exception("could not record the failed import run %s", run_id)


def load_file_rows(
    store: Store,
    clock: Clock,
    *,
    tenant: str,
    source: str,
    path: Path,
    sha256: str,
    model: Any,
    key: tuple[str, ...],
    rows: Callable[[], Iterable[Normalized]],
    after: Callable[[Connection, runs.RunCounts], str | None] | None = None,
    writer: ImportWriter | None = None,
) -> ImportResult:
    """Load ``rows()`` into ``model``, all or nothing, recorded as a ``sync_run`` of ``source``.

    With ``writer`` the file joins its group (committed by the writer); without, it is committed on its own.
    ``after`` runs in the same savepoint once the rows are in (a matched search is marked loaded there); what it
    returns is added to the summary. Raises ImportRefused (and records the run as failed) when the input as a
    whole is unusable.
    """
    if writer is None:
        with ImportWriter(store) as own:
            return load_file_rows(
                store, clock, tenant=tenant, source=source, path=path, sha256=sha256, model=model, key=key,
                rows=rows, after=after, writer=own,
            )  # fmt: skip
    note: str | None = None
    now = clock.now()
    # a file refused once and offered again at the same instant (a frozen clock) still gets its own run
    run_id = f"import-{now:%Y%m%dT%H%M%S%fZ}-{sha256[:12]}-{secrets.token_hex(3)}"
    counts = runs.RunCounts()
    try:
        with writer.group.step() as tx:
            run_pk = runs.start_run(tx, tenant=tenant, source=source, run_id=run_id, now=now)
            items = iter(rows())
            while batch := list(islice(items, BATCH)):
                good: list[dict[str, Any]] = []
                for item in batch:
                    if isinstance(item, RecordError):
                        counts.rows_skipped += 1
                        runs.record_skipped(tx, tenant=tenant, source=source, run=run_pk, error=item, now=now)
                    else:
                        good.append(item)
                counts.rows_seen += len(batch)
                if writer.on_rows is not None:
                    writer.on_rows(len(batch))
                result = store.upsert(tx, model, good, key=key)
                counts.rows_inserted += result.inserted
                counts.rows_updated += result.updated
            mark = json.dumps({"file": path.name, "as": source, "at": _iso(clock.now())})
            runs.set_watermark(tx, tenant, IMPORTS, f"sha256:{sha256}", mark, now=clock.now())
            if after is not None:
                note = after(tx, counts)
            runs.finish_run(tx, run_pk, status="succeeded", now=clock.now(), counts=counts)
    except DownloadError as exc:
        refused = ImportRefused(f"{path.name}: {exc}")
        _record_failed(writer, tenant=tenant, source=source, run_id=run_id, now=now, clock=clock, error=refused)
        raise refused from None
    except Exception as exc:
        # the file's savepoint rolled back: nothing of it is stored, and its run is recorded as failed, never left
        # "running" (a killed process's open group never committed the run it started)
        _record_failed(writer, tenant=tenant, source=source, run_id=run_id, now=now, clock=clock, error=exc)
        raise
    writer.loaded.add(sha256)
    writer.counts.rows_seen += counts.rows_seen
    writer.counts.rows_inserted += counts.rows_inserted
    writer.counts.rows_updated += counts.rows_updated
    writer.group.pause(next_ready=True)
    imported = ImportResult(
        str(path),
        source,
        sha256,
        rows_seen=counts.rows_seen,
        inserted=counts.rows_inserted,
        updated=counts.rows_updated,
        skipped=counts.rows_skipped,
    )
    return replace(imported, search_note=note) if note else imported


def _iso(moment: datetime) -> str:
    return moment.isoformat()
