"""Prefetching keeps order, surfaces errors where they happened, and overlaps fetching with storing."""

import threading
import time
from collections.abc import Iterator

import pytest

from connector.sync.prefetch import prefetched


def test_items_come_in_order() -> None:
    assert list(prefetched(iter(range(100)))) == list(range(100))


def test_an_error_comes_after_the_items_before_it() -> None:
    def pages() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("skiptoken expired")

    stream = prefetched(pages())
    assert [next(stream), next(stream)] == [1, 2]
    with pytest.raises(ValueError, match="skiptoken expired"):
        next(stream)


def test_the_next_item_is_fetched_while_the_current_one_is_used() -> None:
    second_fetched = threading.Event()

    def pages() -> Iterator[int]:
        yield 0
        second_fetched.set()
        yield 1

    for page in prefetched(pages()):
        if page == 0:
            # still busy with page 0 (storing it), page 1 is already being fetched
            assert second_fetched.wait(timeout=10)


def test_stopping_early_stops_the_worker() -> None:
    produced: list[int] = []

    def endless() -> Iterator[int]:
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    for item in prefetched(endless(), depth=1):
        if item == 3:
            break
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count
    assert not any(t.name == "prefetch" and t.is_alive() for t in threading.enumerate())


def test_ready_tells_whether_the_next_item_has_arrived() -> None:
    release = threading.Event()

    def pages() -> Iterator[int]:
        yield 0
        release.wait(timeout=10)
        yield 1

    stream = prefetched(pages())
    assert stream.ready(timeout=10)
    assert next(stream) == 0
    # item 1 is held back: not ready now, nor after a short wait
    assert not stream.ready()
    assert not stream.ready(timeout=0.05)
    release.set()
    assert stream.ready(timeout=10)
    assert stream.ready()
    assert next(stream) == 1
    # the end has arrived too: next() will not wait
    assert stream.ready(timeout=10)
    assert next(stream, None) is None
