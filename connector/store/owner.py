"""Which process owns a running record, and whether that process is still alive.

A ``sync_run`` is written "running" by the process doing the work and ended by it; a process killed with
``kill -9`` cannot end it, so another process ends it later, but only when the owner is provably gone: a CLI
import or sync beside a running ``smtpauth serve`` must never be marked failed by the service's start-up
recovery. The owner is ``host boot pid start``: the host name, the kernel's boot id, the process id and the
process's start time (clock ticks since boot, ``/proc/<pid>/stat`` field 22), so a reused pid or a reboot never
makes a dead owner look alive.

:func:`owner_state` answers "alive", "dead" or "unknown" (another host: only a lock can tell, see
:mod:`connector.sync.tenant_lock`).
"""

import functools
import os
import socket
from typing import Literal

__all__ = ["OwnerState", "current_owner", "owner_state"]

OwnerState = Literal["alive", "dead", "unknown"]


@functools.cache
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()[:8] or "-"
    except OSError:
        return "-"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot; None when it does not exist ("-" without /proc)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except FileNotFoundError:
        if os.path.isdir("/proc/self"):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "-"
    except OSError:
        return "-"
    # the command name (field 2) may contain spaces and parentheses: split after the last ")"
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else "-"


def current_owner() -> str:
    """This process as an owner string (computed per call: a forked child is another owner)."""
    pid = os.getpid()
    return f"{socket.gethostname()} {_boot_id()} {pid} {_start_ticks(pid) or '-'}"


def owner_state(owner: str | None) -> OwnerState:
    """Whether the process named by ``owner`` is alive. No owner (a run recorded before owners were kept): dead,
    as start-up recovery always treated such runs."""
    if not owner:
        return "dead"
    parts = owner.split(" ")
    if len(parts) != 4 or not parts[2].isdigit():
        return "unknown"
    host, boot, pid, start = parts
    if host != socket.gethostname():
        return "unknown"
    if boot != _boot_id():
        return "dead"  # the machine restarted since
    now = _start_ticks(int(pid))
    if now is None:
        return "dead"
    if start == "-" or now == "-":
        return "alive"
    return "alive" if now == start else "dead"
