"""Fixtures of the import tests: a migrated store on the test database and a clock frozen after the period."""

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from connector.clock import FakeClock
from connector.store.store import Store, open_store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 11, 28, 6, tzinfo=UTC))


def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Every row a query returns, as tuples."""
    with store.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql))]
