"""The ``inbox/`` folder of the data directory: files dropped there are imported by the sync job.

``inbox/FILE`` belongs to the only configured tenant; with several tenants use ``inbox/<tenant>/FILE``. A loaded
(or already loaded) file moves to ``inbox/done/``; a refused one to ``inbox/failed/`` next to a
``<name>.reason.txt`` saying why. Names are prefixed with the time of the move, so nothing is overwritten.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from connector.clock import Clock
from connector.imports.batch import import_files
from connector.imports.files import ImportOptions
from connector.imports.loading import ImportResult
from connector.store.store import Store

__all__ = ["InboxOutcome", "process_inbox"]

log = logging.getLogger("smtpauth.imports")


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    path: Path
    ok: bool
    detail: str
    tenant: str | None = None
    #: what the import loaded (None: refused)
    result: ImportResult | None = None


def _files(inbox: Path, tenants: Sequence[str]) -> list[tuple[Path, str | None]]:
    found: list[tuple[Path, str | None]] = []
    for entry in sorted(inbox.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            found.append((entry, tenants[0] if len(tenants) == 1 else None))
        elif entry.is_dir() and entry.name in tenants:
            found += [(f, entry.name) for f in sorted(entry.iterdir()) if f.is_file() and not f.name.startswith(".")]
    return found


def _move(path: Path, folder: Path, stamp: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = folder / f"{stamp}_{path.name}"
    path.replace(target)
    return target


def process_inbox(inbox: Path, store: Store, clock: Clock, tenants: Sequence[str]) -> list[InboxOutcome]:
    """Import every file waiting in ``inbox`` for one of ``tenants``; never raises for a bad file.

    A tenant's files are loaded in one call (:func:`connector.imports.batch.import_files`: one group commit across
    them), and moved once it has committed, so a file is never in ``done/`` before its rows are."""
    if not inbox.is_dir():
        return []
    outcomes: list[InboxOutcome] = []
    stamp = f"{clock.now():%Y%m%dT%H%M%SZ}"
    found = _files(inbox, tenants)
    for path, tenant in found:
        if tenant is None:
            reason = f"several tenants are configured: put the file in {inbox.name}/<tenant>/"
            _refuse(inbox, path, stamp, reason)
            outcomes.append(InboxOutcome(path, False, reason))
    for name in dict.fromkeys(t for _, t in found if t is not None):
        paths = [p for p, t in found if t == name]
        batch = import_files(store, clock, paths, tenant=name, options=ImportOptions(via="inbox"))
        for done in batch.outcomes:
            if done.result is not None:
                reason = done.result.summary()
                _move(done.path, inbox / "done", stamp)
                log.info("inbox: %s", reason)
            else:
                reason = done.error or "not loaded"
                _refuse(inbox, done.path, stamp, reason)
            outcomes.append(InboxOutcome(done.path, done.result is not None, reason, name, done.result))
    return outcomes


def _refuse(inbox: Path, path: Path, stamp: str, reason: str) -> None:
    moved = _move(path, inbox / "failed", stamp)
    moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    log.warning("inbox: %s refused: %s", path.name, reason)
