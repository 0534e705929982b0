"""Fetch the next page while the current one is stored: network time and database time overlap.

Without this, a sync waits for Graph, then for the database, then for Graph again. ``prefetched`` runs the page
iterator in a worker thread a few pages ahead.
"""

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["Prefetched", "prefetched"]

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"


def _produce(items: Iterator[T], box: "queue.Queue[tuple[str, object]]", stop: threading.Event) -> None:
    def put(entry: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    try:
        for item in items:
            if not put((_ITEM, item)):
                return
        put((_END, None))
    except BaseException as exc:  # noqa: BLE001 (handed to the consumer, which re-raises it)
        put((_ERROR, exc))


class Prefetched(Iterator[T]):
    """What :func:`prefetched` returns: an iterator that also tells whether its next item is already here."""

    def __init__(self, items: Iterator[T], depth: int, name: str) -> None:
        self._box: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # the worker must not hold a reference to self: dropping the iterator is what stops it
        self._worker = threading.Thread(target=_produce, args=(items, self._box, self._stop), name=name, daemon=True)
        self._worker.start()
        self._done = False
        self._held: tuple[str, object] | None = None

    def __iter__(self) -> "Prefetched[T]":
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        if self._held is not None:
            (kind, value), self._held = self._held, None
        else:
            kind, value = self._box.get()
        if kind == _ITEM:
            return value  # type: ignore[return-value]
        self.close()
        if kind == _END:
            raise StopIteration
        raise value  # type: ignore[misc]

    def ready(self, timeout: float = 0.0) -> bool:
        """True when ``next`` will not wait: the next item, the end or an error has arrived (waiting up to
        ``timeout`` seconds for it)."""
        if self._done or self._held is not None:
            return True
        try:
            self._held = self._box.get(timeout=timeout) if timeout > 0 else self._box.get_nowait()
        except queue.Empty:
            return False
        return True

    def close(self) -> None:
        """Stop the worker after the item it is fetching (also done at the end, on an error, and when dropped)."""
        self._done = True
        self._stop.set()
        if self._worker is not threading.current_thread():
            self._worker.join(timeout=60)

    def __del__(self) -> None:
        self.close()


def prefetched(items: Iterator[T], *, depth: int = 2, name: str = "prefetch") -> Prefetched[T]:
    """Yield what ``items`` yields, produced up to ``depth`` items ahead in a background thread.

    An exception raised by ``items`` is raised here, at the point its item would have come. When the consumer
    stops early (an error while storing, a ``break``, or it drops the iterator), the worker stops after the item
    it is fetching. ``ready()`` tells whether the next item is already here, so a consumer can do work that must
    not wait (committing what it has stored) before it blocks on the network.
    """
    return Prefetched(items, depth, name)
