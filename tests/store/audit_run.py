"""Run the smtpauth command line under an audit hook that records every Python-level touch of the database files.

    python tests/store/audit_run.py REPORT.json -c smtpauth.toml serve

Once this process has opened its first SQLite connection to ``smtpauth.db``, nothing else in it may open, chmod,
copy, rename, truncate or remove ``smtpauth.db``, ``-wal`` or ``-shm`` (SQLite's own file access is in C and
raises no audit event): closing such a descriptor would drop the process's POSIX locks on the database. The
events seen are written to REPORT.json as the process exits.
"""

import atexit
import json
import os
import sys
from typing import Any

NAMES = ("smtpauth.db", "smtpauth.db-wal", "smtpauth.db-shm", "smtpauth.db-journal")
WATCHED = {"open", "os.chmod", "os.chown", "os.remove", "os.rename", "os.truncate", "os.utime", "shutil.copyfile",
           "shutil.copymode", "shutil.copystat", "os.link", "os.symlink", "fcntl.lockf", "fcntl.flock"}  # fmt: skip
events: list[dict[str, Any]] = []
connected = False


def _path(value: Any) -> str | None:
    if isinstance(value, (str, bytes, os.PathLike)):
        text = os.fsdecode(value)
        return text if os.path.basename(text) in NAMES else None
    return None


def hook(name: str, args: tuple[Any, ...]) -> None:
    global connected  # noqa: PLW0603 (one process, one flag)
    if name == "sqlite3.connect" and args and _path(args[0]):
        connected = True
        return
    if name in WATCHED and args:
        paths = [p for p in (_path(a) for a in args[:2]) if p]
        if paths:
            events.append({"event": name, "paths": paths, "after_first_connect": connected})


def main() -> None:
    report = sys.argv.pop(1)

    def write() -> None:
        with open(report, "w") as fh:  # a plain open: the report is not a database file
            json.dump(events, fh)

    atexit.register(write)
    sys.addaudithook(hook)
    from connector.cli import main as cli_main

    sys.argv[0] = "smtpauth"
    cli_main()


if __name__ == "__main__":
    main()
