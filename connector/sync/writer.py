"""Group commit for paged sources: consecutive pages share one transaction, each page in its own savepoint.

A commit per page costs a WAL write of every index page the rows touched (and, every 1,000 WAL pages, a
checkpoint with its fsyncs); at the speed Graph can answer a large first sync, that is a third of the sync's time.
:class:`GroupWriter` keeps one write transaction open across pages and commits it

- when the next page has not arrived within ``WAIT_FOR_NEXT_PAGE``: the sync is about to wait for the network, so
  what it has becomes durable first and the database's write lock is not held while it waits (under Graph's pacing
  and its response times that is every page);
- when ``max_rows`` rows are pending, or the group has cost ``max_seconds`` of the writing thread's CPU time, or it
  is ``max_wall_seconds`` old (bounds what a crash redoes and how long another writer waits). The age is counted in
  the CPU time of the thread that writes the group (not the fetch thread's, not other sources'), so that a loaded
  machine, which stretches every second of work, does not cut the same work into more groups: each commit writes
  the index pages its rows touched and recomputes the rollups of its keys once more. The wall-clock ceiling stays
  well under the 30-second busy timeout another writer waits for the lock;
- at the end, also when the source stops on an error: the pages stored before the error are complete.

Each page runs in a savepoint, so a page that fails (a truncated body, a refused row) rolls back alone. A watermark
is written in a step after the rows it covers, so it is never committed before them: the next run resumes from the
last committed watermark and re-reads at most what the last group held, which the idempotent upsert absorbs.
"""

import contextlib
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from types import TracebackType
from typing import Protocol, Self, TypeVar

from sqlalchemy.engine import Connection

from connector.store.runs import RunCounts
from connector.store.store import Store
from connector.sync.prefetch import Prefetched

__all__ = ["MAX_GROUP_ROWS", "MAX_GROUP_SECONDS", "MAX_GROUP_WALL_SECONDS", "WAIT_FOR_NEXT_PAGE", "GroupWriter"]

T = TypeVar("T")


class Counted(Protocol):
    """What a group's rows are counted on: a sync source's run, or an import of many files."""

    @property
    def counts(self) -> RunCounts: ...


#: defaults: rows, seconds of the writing thread's CPU time and seconds of wall-clock time a group may hold before it is
#: committed although the next page is already here
MAX_GROUP_ROWS = 50_000
MAX_GROUP_SECONDS = 5.0
MAX_GROUP_WALL_SECONDS = 15.0
#: how long a source waits for its next page before it commits the open group and then waits on
WAIT_FOR_NEXT_PAGE = 0.2


class GroupWriter:
    """One source's writes, grouped into as few transactions as the rules above allow. Not thread-safe."""

    def __init__(
        self,
        store: Store,
        run: Counted,
        *,
        max_rows: int = MAX_GROUP_ROWS,
        max_seconds: float = MAX_GROUP_SECONDS,
        max_wall_seconds: float = MAX_GROUP_WALL_SECONDS,
    ) -> None:
        self.store = store
        self.run = run
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.max_wall_seconds = max_wall_seconds
        self.commits = 0
        self._tx: AbstractContextManager[Connection] | None = None
        self._conn: Connection | None = None
        self._opened = 0.0
        self._opened_cpu = 0.0
        self._counts_at_open = run.counts

    @contextmanager
    def step(self) -> Iterator[Connection]:
        """A savepoint in the open transaction (opened if need be): rolled back alone if the block raises."""
        conn = self._open()
        savepoint = conn.begin_nested()
        try:
            yield conn
        except BaseException:
            savepoint.rollback()
            raise
        savepoint.commit()

    def each(self, items: Prefetched[T]) -> Iterator[T]:
        """The items of a prefetched stream; before waiting for one (``WAIT_FOR_NEXT_PAGE``), see :meth:`pause`.
        The stream is closed at the end, also when the caller stops early."""
        try:
            while True:
                self.pause(items.ready(WAIT_FOR_NEXT_PAGE))
                item = next(items, None)
                if item is None:
                    return
                yield item
        finally:
            items.close()

    def pause(self, next_ready: bool) -> None:
        """Between pages: commit unless the next page is already here and the group is still small and young."""
        if self._conn is None:
            return
        pending = self.run.counts.rows_seen - self._counts_at_open.rows_seen
        if (
            not next_ready
            or pending >= self.max_rows
            or time.thread_time() - self._opened_cpu >= self.max_seconds
            or time.monotonic() - self._opened >= self.max_wall_seconds
        ):
            self.commit()

    def commit(self) -> None:
        """Commit the open group, if any. If the commit fails, the group's insert/update counts are undone."""
        tx, self._tx, self._conn = self._tx, None, None
        if tx is None:
            return
        try:
            tx.__exit__(None, None, None)
        except BaseException:
            self._undo_counts()
            raise
        self.commits += 1

    def rollback(self) -> None:
        """Drop the open group, if any, and undo its insert/update counts."""
        tx, self._tx, self._conn = self._tx, None, None
        if tx is None:
            return
        self._undo_counts()
        error = RuntimeError("group rolled back")
        tx.__exit__(RuntimeError, error, None)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.commit()
            return
        # the steps that completed before the error are whole: keep them; if even that commit fails (its counts
        # are undone by commit), the error being raised is the one to report
        with contextlib.suppress(Exception):
            self.commit()

    def _open(self) -> Connection:
        if self._conn is None:
            tx = self.store.transaction(bulk=True)
            self._conn = tx.__enter__()
            self._tx = tx
            self._opened = time.monotonic()
            self._opened_cpu = time.thread_time()
            self._counts_at_open = replace(self.run.counts)
        return self._conn

    def _undo_counts(self) -> None:
        before = self._counts_at_open
        self.run.counts.rows_inserted = before.rows_inserted
        self.run.counts.rows_updated = before.rows_updated
