"""The read endpoints' answers are kept until the database changes: a commit by any connection (another store,
another process) makes the next request read again; identical requests in flight share one read."""

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from connector.service.readcache import Answer, ReadCache
from connector.store import Store, open_store, rollups, upsert
from models import MessageTrace
from tests.conftest import fresh_schema
from tests.service.conftest import DATE_FROM, DATE_TO, Served

RANGE = {"tenant": "contoso", "from": DATE_FROM.isoformat(), "to": DATE_TO.isoformat()}


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=10)
    yield s
    s.close()


def _trace(i: int) -> dict[str, object]:
    return {"tenant": "contoso", "trace_id": f"rc{i}", "message_id": f"<rc{i}@x>",
            "sender_address": "printer@contoso.com", "received_at": datetime(2026, 10, 1, 9, tzinfo=UTC)}  # fmt: skip


def abandoned(store: Store) -> None:
    """A write transaction that raises after writing: rolled back."""
    with pytest.raises(RuntimeError, match="abandoned"), store.transaction() as tx:
        _write_and_fail(tx)


def _write_and_fail(tx: sa.Connection) -> None:
    upsert(tx, MessageTrace, [_trace(3)], key=("tenant", "trace_id"))
    raise RuntimeError("abandoned")


def test_an_answer_is_reused_until_another_connection_commits(store: Store, db_url: str) -> None:
    cache = ReadCache(store, 1024 * 1024)
    assert cache.enabled
    other = open_store(db_url, busy_timeout_seconds=10)  # a writer with its own engine, as a sync process has
    computed: list[int] = []

    def count() -> Answer:
        with store.read() as conn:
            n = conn.execute(MessageTrace.__table__.select()).all()  # type: ignore[attr-defined]
        computed.append(len(n))
        return Answer(str(len(n)).encode())

    try:
        assert cache.get("k", count).body == b"0"
        assert cache.get("k", count).body == b"0"
        assert computed == [0]
        with other.transaction() as tx:
            upsert(tx, MessageTrace, [_trace(1)], key=("tenant", "trace_id"))
        assert cache.get("k", count).body == b"1"
        with store.transaction() as tx:  # this process's own store commits too
            upsert(tx, MessageTrace, [_trace(2)], key=("tenant", "trace_id"))
        assert cache.get("k", count).body == b"2"
        assert cache.get("k", count).body == b"2"
        assert computed == [0, 1, 2]
        assert cache.get("other key", count).body == b"2"
        assert computed == [0, 1, 2, 2]
        abandoned(other)  # rolled back: nothing changed
        assert cache.get("k", count).body == b"2"
        assert computed == [0, 1, 2, 2]
    finally:
        other.close()
        cache.close()


@pytest.fixture
def other_pg_url(pg_url: str) -> Iterator[str]:
    """Another schema of the same PostgreSQL server, dropped after the test."""
    with fresh_schema(sa.make_url(pg_url)) as url:
        yield url


@pytest.mark.postgres
def test_postgresql_version_moves_with_this_databases_writes_only(pg_url: str, other_pg_url: str) -> None:
    """Writes to another schema of the same server (another smtpauth database, another application) leave this
    database's answers cached; the version is the same for every connection and moves once per commit."""
    mine, elsewhere = open_store(pg_url), open_store(other_pg_url)
    cache = ReadCache(mine, 1024 * 1024)
    reads: list[int] = []

    def count() -> Answer:
        reads.append(1)
        return Answer(b"x")

    try:
        cache.get("k", count)
        before = cache.version()
        for i in range(3):
            with elsewhere.transaction() as tx:
                upsert(tx, MessageTrace, [_trace(10 + i)], key=("tenant", "trace_id"))
        with elsewhere.engine.begin() as conn:  # a plain write transaction of another application
            conn.exec_driver_sql("CREATE TABLE unrelated (n int)")
            conn.exec_driver_sql("INSERT INTO unrelated VALUES (1)")
        assert cache.version() == before
        cache.get("k", count)
        assert len(reads) == 1
        with mine.transaction() as tx:
            upsert(tx, MessageTrace, [_trace(20)], key=("tenant", "trace_id"))
        assert cache.version() == before + 1
        cache.get("k", count)
        assert len(reads) == 2
        rebuilt = rollups.rebuild(mine.engine)  # a rebuild writes too: one count per day and one at its end
        assert cache.version() == before + 1 + rebuilt.days + 1
    finally:
        cache.close()
        mine.close()
        elsewhere.close()


def test_identical_requests_in_flight_share_one_read(store: Store) -> None:
    cache = ReadCache(store, 1024 * 1024)
    calls: list[int] = []

    def slow() -> Answer:
        calls.append(1)
        time.sleep(0.3)
        return Answer(b"x")

    results: list[bytes] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", slow).body)) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [b"x"] * 5
    assert len(calls) == 1
    cache.close()


def test_memory_is_bounded_least_recently_used_first(store: Store) -> None:
    cache = ReadCache(store, 4000)
    for k in range(10):
        cache.get(k, lambda: Answer(b"y" * 900))
    assert cache._bytes <= 4000
    calls: list[int] = []
    cache.get(9, lambda: (calls.append(1), Answer(b"z"))[1])
    cache.get(0, lambda: (calls.append(1), Answer(b"z"))[1])
    assert calls == [1], "the newest answer was kept, the oldest dropped"
    cache.close()


def test_the_api_answers_the_new_figures_after_a_write(served: Served) -> None:
    before = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE)
    again = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE)
    assert again.content == before.content
    cache = served.app.state.read_cache
    hits = cache.hits
    assert served.get("/api/v1/data/sending_volume_sender_totals", **RANGE).content == before.content
    assert cache.hits == hits + 1
    # new SmtpCSReport messages of an SMTP sender inside the range change the totals
    from models import SmtpCsReportRow

    row = {"tenant": "contoso", "occurred_at": datetime.combine(DATE_TO, datetime.min.time(), UTC),
           "sender_address": "zz-new-device@contoso.com", "message_count": 7, "message_id": "<rc-new@x>",
           "auth_method": "Basic", "tls_version": "TLS1.2"}  # fmt: skip
    with served.env.store.transaction() as tx:
        upsert(tx, SmtpCsReportRow, [row], key=("tenant", "occurred_at", "sender_address", "message_id"))
    after = served.get("/api/v1/data/sending_volume_sender_totals", **RANGE).json()
    assert int(after["total"]) == int(before.json()["total"]) + 1
    assert {"sender_address": "zz-new-device@contoso.com", "messages": 7}.items() <= next(
        r for r in after["rows"] if r["sender_address"] == "zz-new-device@contoso.com"
    ).items()


def test_answers_computed_together_are_kept_together_and_shared_in_flight(store: Store) -> None:
    cache = ReadCache(store, 1024 * 1024)
    calls: list[int] = []

    def both() -> dict[object, Answer]:
        calls.append(1)
        time.sleep(0.3)
        return {"a": Answer(b"A"), "b": Answer(b"B")}

    results: list[bytes] = []
    threads = [threading.Thread(target=lambda k=k: results.append(cache.get_with(k, "ab", both).body)) for k in "abab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == [b"A", b"A", b"B", b"B"]
    assert len(calls) == 1
    assert cache.get("b", lambda: Answer(b"recomputed")).body == b"B", "the other answer of the group was kept"
    cache.close()


def test_background_work_waits_for_the_reads_of_requests_only(store: Store) -> None:
    """The warmer computes its answers in ``background()`` and waits before each one until no request's answer is
    being computed; its own computations (and requests that share them) never make it wait."""
    cache = ReadCache(store, 1024 * 1024)
    started, release = threading.Event(), threading.Event()

    def requested() -> Answer:
        started.set()
        release.wait(10)
        return Answer(b"r")

    request = threading.Thread(target=lambda: cache.get("request", requested))
    request.start()
    try:
        assert started.wait(10)
        assert not cache.wait_for_requests(0.05), "a request's read is running"
        seen: list[bool] = []

        def background() -> Answer:
            seen.append(cache.wait_for_requests(0))
            return Answer(b"w")

        release.set()
        request.join(10)
        assert cache.wait_for_requests(1), "the request's read ended"
        started.clear()
        release.clear()
        with cache.background():
            assert cache.get("warm", background).body == b"w"
        assert seen == [True], "a background computation is not a request's"
    finally:
        release.set()
        request.join(10)
        cache.close()


@pytest.mark.parametrize("cache_mb", [1, 0])
def test_answers_are_computed_at_most_read_concurrency_at_once(store: Store, cache_mb: int) -> None:
    """Two computations allowed: six different answers asked for at once are computed two at a time, and an answer
    already kept is served while they run (with the cache off, every computation takes a turn)."""
    cache = ReadCache(store, cache_mb * 1024 * 1024, computations=2)
    lock = threading.Lock()
    running, most = 0, 0
    release = threading.Event()

    def compute(key: str) -> Answer:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        release.wait(10)
        with lock:
            running -= 1
        return Answer(key.encode())

    if cache.enabled:
        cache.get("kept", lambda: Answer(b"kept"))
    results: dict[str, bytes] = {}
    keys = [f"k{i}" for i in range(6)]
    threads = [
        threading.Thread(target=lambda k=k: results.update({k: cache.get(k, lambda: compute(k)).body})) for k in keys
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while running < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    try:
        assert running == 2, "two computations run, the others wait their turn"
        if cache.enabled:
            start = time.monotonic()
            assert cache.get("kept", lambda: Answer(b"recomputed")).body == b"kept"
            assert time.monotonic() - start < 1, "a kept answer does not wait for a turn"
    finally:
        release.set()
        for t in threads:
            t.join(10)
        cache.close()
    assert results == {k: k.encode() for k in keys}
    assert most == 2
