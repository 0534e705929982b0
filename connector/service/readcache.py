"""Answers of the read endpoints kept until the database changes: exact, shared by concurrent identical requests.

A dashboard is many people (and panels) asking for the same range; the answer only changes when data is written.
Each answer (the encoded body) is stored with the database's *version* read before it was computed:

- SQLite: ``PRAGMA data_version`` on a connection of its own that never writes, which changes whenever any other
  connection (this process or another: a sync, an import, a worker) commits to the database file;
- PostgreSQL: the count of smtpauth's write transactions committed to this database (``store_change``,
  ``connector.store.changes``), which every write transaction of smtpauth moves as its last statement. Other
  databases and schemas of the server do not move it; writes made outside smtpauth are seen after its next one.

An answer is served only while the version is the one it was computed at, so it is never older than a fresh read
would be: a commit after the version was read changes the version. Identical requests arriving while an answer is
being computed wait for it instead of computing it again. Memory is bounded (``service.read_cache_mb``, least
recently used answers dropped first); 0 turns the cache off.

At most ``computations`` answers are computed at once (default: one per CPU), with the cache on or off; requests
for other uncomputed answers wait their turn, while answers already kept are served at once. Ten clients opening
a dashboard on a range nobody read yet ask for about six computations at the same moment: run all together on two
cores they contend for the interpreter, and the slowest answer comes later than in turns (docs/benchmarks.md).
"""

import logging
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connector.store import changes
from connector.store.store import Store

__all__ = ["Answer", "ReadCache"]

log = logging.getLogger("smtpauth.service")


@dataclass(frozen=True)
class Answer:
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


class _Flight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.answers: dict[Hashable, Answer] | None = None
        self.error: BaseException | None = None


class ReadCache:
    def __init__(self, store: Store, max_bytes: int, computations: int = 0) -> None:
        self.max_bytes = max_bytes
        #: answers computed at once (0: one per CPU); the others wait their turn
        self.computations = computations or os.cpu_count() or 2
        self._computing = threading.BoundedSemaphore(self.computations)
        self._store = store
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[Any, Answer]] = OrderedDict()
        self._flights: dict[tuple[Hashable, Any], _Flight] = {}
        self._bytes = 0
        self._sqlite: sqlite3.Connection | None = None
        self._sqlite_lock = threading.Lock()
        #: computations of answers asked for by requests (not by the warmer) now running, and its condition
        self._requested = 0
        self._quiet = threading.Condition(self._lock)
        self._local = threading.local()
        self.hits = self.misses = 0
        self.enabled = max_bytes > 0 and self._can_version()

    def _can_version(self) -> bool:
        url = self._store.engine.url
        if url.get_backend_name() == "sqlite":
            return bool(url.database) and url.database != ":memory:" and not str(url.database).startswith("file:")
        return url.get_backend_name() == "postgresql"

    def version(self) -> Any:
        """The database's current version (see the module docstring)."""
        if self._store.engine.url.get_backend_name() == "sqlite":
            with self._sqlite_lock:
                if self._sqlite is None:
                    path = str(self._store.engine.url.database)
                    self._sqlite = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                return self._sqlite.execute("PRAGMA data_version").fetchone()[0]
        with self._store.engine.connect() as conn:
            return changes.version(conn)

    def get(self, key: Hashable, compute: Callable[[], Answer]) -> Answer:
        """The answer of ``key`` at the database's current version, computed by ``compute`` if needed."""
        return self.get_with(key, key, lambda: {key: compute()})

    def get_with(self, key: Hashable, group: Hashable, compute: Callable[[], dict[Hashable, Answer]]) -> Answer:
        """The answer of ``key`` at the database's current version; if needed computed with the other answers of
        ``group`` by ``compute`` (every answer of the group by key, all kept): a request for any answer of the
        group while the group is being computed waits for that computation."""
        if not self.enabled:
            with self._computing:
                return compute()[key]
        version = self.version()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == version:
                self._entries.move_to_end(key)
                self.hits += 1
                return found[1]
            flight = self._flights.get((group, version))
            leader = flight is None
            if flight is None:
                flight = self._flights[(group, version)] = _Flight()
                self.misses += 1
        background = getattr(self._local, "background", False)
        if not leader:
            flight.done.wait()
            if flight.answers is not None and key in flight.answers:
                return flight.answers[key]
            with self._computing:
                return compute()[key]  # the leader failed: this request reports its own error
        if not background:
            with self._lock:
                self._requested += 1
        try:
            with self._computing:
                answers = compute()
            flight.answers = answers
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop((group, version), None)
                for k, answer in (flight.answers or {}).items():
                    self._store_answer(k, version, answer)
                if not background:
                    self._requested -= 1
                    self._quiet.notify_all()
            flight.done.set()
        return answers[key]

    @contextmanager
    def background(self) -> Iterator[None]:
        """A block in which this thread's computations are background work (the warmer's): they do not count
        as requests for :meth:`wait_for_requests`."""
        self._local.background = True
        try:
            yield
        finally:
            self._local.background = False

    def wait_for_requests(self, timeout: float) -> bool:
        """Wait until no answer asked for by a request is being computed (at most ``timeout`` seconds); False on
        timeout. The warmer calls it before each answer, so it never takes the CPU from a request's read."""
        with self._quiet:
            return self._quiet.wait_for(lambda: self._requested == 0, timeout)

    def _store_answer(self, key: Hashable, version: Any, answer: Answer) -> None:
        size = len(answer.body)
        if size > self.max_bytes // 4:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1].body)
        self._entries[key] = (version, answer)
        self._bytes += size
        while self._bytes > self.max_bytes and self._entries:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= len(dropped.body)

    def close(self) -> None:
        with self._sqlite_lock:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None
