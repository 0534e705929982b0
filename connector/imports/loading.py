"""Load normalized rows from one file as one recorded run: all rows or none, skipped rows counted, the file's
sha256 remembered so the same file is never loaded twice."""

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

__all__ = ["IMPORTS", "ImportRefused", "ImportResult", "already_imported", "load_file_rows", "sha256_of"]

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


def _end_failed(store: Store, clock: Clock, run_pk: int, error: BaseException) -> None:
    try:
        with store.transaction() as tx:
            runs.finish_run(tx, run_pk, status="failed", now=clock.now(), counts=runs.RunCounts(), error=error)
    except Exception:  # the original error is the one to report; recovery ends the run later
        log.exception("could not mark import run %s failed", run_pk)


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
) -> ImportResult:
    """Load ``rows()`` into ``model`` in one transaction, recorded as a ``sync_run`` of ``source``.

    ``after`` runs in the same transaction once the rows are in (a matched search is marked loaded there); what
    it returns is added to the summary. Raises ImportRefused (and records the run as failed) when the input as a
    whole is unusable.
    """
    note: str | None = None
    now = clock.now()
    # a random tail: the same file refused and retried within one clock tick is another run
    run_id = f"import-{now:%Y%m%dT%H%M%S%fZ}-{sha256[:12]}-{secrets.token_hex(3)}"
    with store.transaction() as tx:
        run_pk = runs.start_run(tx, tenant=tenant, source=source, run_id=run_id, now=now)
    counts = runs.RunCounts()
    try:
        with store.transaction() as tx:
            items = iter(rows())
            while batch := list(islice(items, BATCH)):
                good: list[dict[str, Any]] = []
                for item in batch:
                    counts.rows_seen += 1
                    if isinstance(item, RecordError):
                        counts.rows_skipped += 1
                        runs.record_skipped(tx, tenant=tenant, source=source, run=run_pk, error=item, now=now)
                    else:
                        good.append(item)
                result = store.upsert(tx, model, good, key=key)
                counts.rows_inserted += result.inserted
                counts.rows_updated += result.updated
            mark = json.dumps({"file": path.name, "as": source, "at": _iso(clock.now())})
            runs.set_watermark(tx, tenant, IMPORTS, f"sha256:{sha256}", mark, now=clock.now())
            if after is not None:
                note = after(tx, counts)
    except DownloadError as exc:
        refused = ImportRefused(f"{path.name}: {exc}")
        _end_failed(store, clock, run_pk, refused)
        raise refused from None
    except BaseException as exc:
        # the rows' transaction rolled back: nothing of the file is stored; the run ends, never stays "running"
        # (a killed process's run is ended by the next recovery, connector.store.owner)
        _end_failed(store, clock, run_pk, exc)
        raise
    with store.transaction() as tx:
        runs.finish_run(tx, run_pk, status="succeeded", now=clock.now(), counts=counts)
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
