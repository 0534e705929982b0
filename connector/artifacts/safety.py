"""Safe artifacts: atomic files and spreadsheet cells that cannot turn into formulas.

Atomic: the content goes to a temporary file in the destination folder, is flushed and fsynced, then renamed over
the final name (and the folder fsynced), so a reader never sees a half-written artifact and a crash leaves none.

Cells: a text value starting with ``=``, ``+``, ``-``, ``@``, tab, carriage return or line feed is prefixed with
``'`` (OWASP "CSV injection"); sender addresses and display names are attacker-controlled.
"""

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from glob import escape as glob_escape
from pathlib import Path
from typing import IO

__all__ = ["atomic_open", "atomic_path", "neutralize", "remove_stale_temps"]

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "\n")


def neutralize(value: str) -> str:
    """``value`` made inert for spreadsheet applications."""
    return "'" + value if value.startswith(_DANGEROUS) else value


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems cannot fsync a directory; the rename is still atomic
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_stale_temps(final: Path) -> list[Path]:
    """Delete the temporary files of earlier writers of ``final`` that died (``kill -9``) before renaming them.

    A live writer holds an exclusive ``flock`` on its temporary file until it is renamed or removed; a file
    whose lock can be taken belongs to nobody. Returns what was deleted.
    """
    removed: list[Path] = []
    for tmp in final.parent.glob(f".{glob_escape(final.name)}.*.tmp"):
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # its writer is alive
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
                removed.append(tmp)
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """A temporary path next to ``final`` for a writer that opens files itself; renamed over ``final`` on success.

    Temporary files a killed earlier writer of ``final`` left behind are removed first (see
    :func:`remove_stale_temps`).
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(final)
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".tmp")
    tmp = Path(name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # "in use" for remove_stale_temps, released when fd closes (or we die)
        yield tmp
        with tmp.open("rb+") as fh:
            os.fsync(fh.fileno())
        tmp.chmod(0o644)
        tmp.replace(final)
        _fsync_dir(final.parent)
    finally:
        tmp.unlink(missing_ok=True)
        os.close(fd)


@contextlib.contextmanager
def atomic_open(final: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A UTF-8 text file that appears under ``final`` only once it is complete."""
    with atomic_path(final) as tmp, tmp.open("w", encoding="utf-8", newline=newline) as fh:
        yield fh
        fh.flush()
