"""Fetch the next page while the current one is stored: network time and database time overlap.

A source stores each page in its own short transaction; without this, a sync waits for Graph, then for the
database, then for Graph again. ``prefetched`` runs the page iterator in a worker thread a few pages ahead.
"""

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_ITEM, _END, _ERROR = "item", "end", "error"


def prefetched(items: Iterator[T], *, depth: int = 2, name: str = "prefetch") -> Iterator[T]:
    """Yield what ``items`` yields, produced up to ``depth`` items ahead in a background thread.

    An exception raised by ``items`` is raised here, at the point its item would have come. When the consumer
    stops early (an error while storing, a ``break``), the worker stops after the item it is fetching.
    """
    box: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[str, object]) -> bool:
        while not stop.is_set():
            try:
                box.put(entry, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((_ITEM, item)):
                    return
            put((_END, None))
        except BaseException as exc:  # noqa: BLE001 (handed to the consumer, which re-raises it)
            put((_ERROR, exc))

    worker = threading.Thread(target=produce, name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, value = box.get()
            if kind == _ITEM:
                yield value  # type: ignore[misc]
            elif kind == _END:
                return
            else:
                raise value  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=60)
