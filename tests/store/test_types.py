"""UTCDateTime binds the same value through its SQLite fast path as through SQLAlchemy's generic composition."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import TypeDecorator

from models import UTCDateTime

VALUES = [
    datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    datetime(2026, 11, 20, 8, 0, 5, 123456, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
]


def _generic(dialect: sa.Dialect) -> object:
    # what TypeDecorator.bind_processor composes: process_bind_param, then the SQLite DATETIME processor
    return TypeDecorator.bind_processor(UTCDateTime().dialect_impl(dialect), dialect)


@pytest.mark.parametrize("value", [*VALUES, None])
def test_the_fast_path_binds_what_sqlalchemy_would(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    generic = _generic(dialect)
    assert fast is not None
    assert generic is not None
    assert fast is not generic
    assert fast(value) == generic(value)  # type: ignore[operator]


def test_the_fast_path_refuses_what_sqlalchemy_refuses() -> None:
    dialect = sqlite.dialect()
    fast = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert fast is not None
    with pytest.raises(ValueError, match="naive"):
        fast(datetime(2026, 11, 20, 8, 0))
    with pytest.raises(TypeError, match="needs a datetime"):
        fast("2026-11-20 08:00:00")


def test_values_round_trip_through_sqlite() -> None:
    engine = sa.create_engine("sqlite://")
    table = sa.Table("t", sa.MetaData(), sa.Column("at", UTCDateTime()))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"at": v} for v in VALUES])
        got = conn.execute(sa.select(table.c.at)).scalars().all()
    assert got == [v.astimezone(UTC) for v in VALUES]
