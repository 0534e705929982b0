"""Column types shared by every table."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime"]

#: SQLAlchemy's default text format of a SQLite DATETIME (what ``bind_processor`` reproduces)
_SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no timezone support, so the value is stored as naive UTC
    text and handed back with ``tzinfo=UTC``. Naive datetimes are refused on the way in: their zone is
    unknowable, and guessing is how a report ends up off by hours.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: attach a timezone (UTC)")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one function that checks, converts to UTC and formats (the value SQLAlchemy's two-step
        composition gives, at a third of its cost: the sync binds millions of these); elsewhere the composition."""
        impl = self.impl_instance.dialect_impl(dialect)
        if dialect.name != "sqlite" or getattr(impl, "_storage_format", None) != _SQLITE_DATETIME_FORMAT:
            return super().bind_processor(dialect)

        def process(value: Any) -> str | None:
            if value is None:
                return None
            if value.__class__ is datetime and value.tzinfo is UTC:
                # already UTC (what every parser of ours returns): the same text without the "+00:00"
                return value.isoformat(" ", "microseconds")[:-6]
            if not isinstance(value, datetime):
                raise TypeError(f"UTCDateTime needs a datetime, got {type(value).__name__}")
            offset = value.utcoffset()
            if offset is None:
                raise ValueError(f"naive datetime {value.isoformat()} refused: attach a timezone (UTC)")
            return (value - offset).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime column returned {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
