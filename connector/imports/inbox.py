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
from connector.imports.files import ImportOptions, ImportRefused, ImportResult, import_file
from connector.store.store import Store

__all__ = ["InboxOutcome", "process_inbox"]

log = logging.getLogger("smtpauth.imports")


@dataclass(frozen=True, slots=True)
class InboxOutcome:
    path: Path
    ok: bool
    detail: str


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
    """Import every file waiting in ``inbox`` for one of ``tenants``; never raises for a bad file."""
    if not inbox.is_dir():
        return []
    outcomes: list[InboxOutcome] = []
    stamp = f"{clock.now():%Y%m%dT%H%M%SZ}"
    for path, tenant in _files(inbox, tenants):
        result: ImportResult | None = None
        reason: str
        if tenant is None:
            reason = f"several tenants are configured: put the file in {inbox.name}/<tenant>/"
        else:
            try:
                result = import_file(store, clock, path, tenant=tenant, options=ImportOptions(via="inbox"))
                reason = result.summary()
            except ImportRefused as exc:
                reason = str(exc)
            except OSError as exc:
                reason = f"cannot read the file ({exc.strerror or type(exc).__name__})"
        if result is not None:
            _move(path, inbox / "done", stamp)
            log.info("inbox: %s", reason)
        else:
            moved = _move(path, inbox / "failed", stamp)
            moved.with_name(moved.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
            log.warning("inbox: %s refused: %s", path.name, reason)
        outcomes.append(InboxOutcome(path, result is not None, reason))
    return outcomes
