import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from connector.errors import StorageError
from connector.store import create_engine_for, normalize_url, open_store


def test_sqlite_file_and_folder_are_created_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "smtpauth.db"
    engine = create_engine_for(f"sqlite:///{path}", busy_timeout_seconds=1)
    engine.dispose()
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_nothing_is_created_before_the_factory_runs(tmp_path: Path) -> None:
    import connector.store  # noqa: F401

    assert list(tmp_path.iterdir()) == []


def test_sqlite_pragmas(sqlite_url: str) -> None:
    engine = create_engine_for(sqlite_url, busy_timeout_seconds=7.5)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7500
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_sqlite_transactions_begin_immediate(sqlite_url: str) -> None:
    engine = create_engine_for(sqlite_url, busy_timeout_seconds=0.2)
    other = create_engine_for(sqlite_url, busy_timeout_seconds=0.2)
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
        # a write lock is already held although only a SELECT ran: another writer cannot begin
        with pytest.raises(sa.exc.OperationalError, match="locked"), other.begin():
            pass
    engine.dispose()
    other.dispose()


def test_concurrent_read_then_write_transactions_do_not_fail(sqlite_url: str) -> None:
    store = open_store(sqlite_url, busy_timeout_seconds=10)
    with store.transaction() as tx:
        tx.exec_driver_sql("CREATE TABLE counter (n INTEGER NOT NULL)")
        tx.exec_driver_sql("INSERT INTO counter VALUES (0)")
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(25):
                with store.transaction() as tx:
                    n = tx.exec_driver_sql("SELECT n FROM counter").scalar_one()
                    tx.exec_driver_sql("UPDATE counter SET n = ?", (n + 1,))
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT n FROM counter").scalar_one() == 100
    store.close()


def test_read_transaction_does_not_block_a_writer(sqlite_url: str) -> None:
    store = open_store(sqlite_url, busy_timeout_seconds=0.2)
    with store.read() as conn:
        conn.exec_driver_sql("SELECT count(*) FROM sync_run").scalar()
        with store.transaction() as tx:
            tx.exec_driver_sql("DELETE FROM coverage")
    store.close()


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("postgresql://u@h/db", "postgresql+psycopg"),
        ("postgres://u@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:////tmp/x.db", "sqlite"),
    ],
)
def test_url_drivers(url: str, driver: str) -> None:
    assert normalize_url(url).drivername == driver


@pytest.mark.parametrize("url", ["mysql://u@h/db", "not a url"])
def test_unsupported_urls_are_refused(url: str) -> None:
    with pytest.raises(StorageError, match=r"database\.url"):
        normalize_url(url)


@pytest.mark.postgres
def test_postgres_engine_connects(pg_url: str) -> None:
    engine = create_engine_for(pg_url, busy_timeout_seconds=1)
    with engine.connect() as conn:
        assert conn.dialect.driver == "psycopg"
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def test_a_bulk_transaction_has_a_larger_cache_that_the_pool_does_not_keep(tmp_path: Path) -> None:
    from connector.store.engine import BULK_CACHE_KIB, DEFAULT_CACHE_KIB

    store = open_store(f"sqlite:///{tmp_path / 'bulk.db'}")
    try:
        with store.transaction(bulk=True) as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -BULK_CACHE_KIB
        with store.transaction() as conn:  # the same pooled connection, back to the default
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -DEFAULT_CACHE_KIB
        with store.read() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar_one() == -DEFAULT_CACHE_KIB
    finally:
        store.close()
