"""Shared fixtures.

``db_url`` runs a storage test on SQLite (a temporary file) and on PostgreSQL (``SMTPAUTH_TEST_PG_URL``,
default the local server CI provides). Each PostgreSQL test gets its own schema, dropped afterwards.
PostgreSQL tests are skipped only when ``SMTPAUTH_TEST_PG=skip``; an unreachable server is a failure, not a
skip.
"""

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _pg_url() -> str:
    return os.environ.get("SMTPAUTH_TEST_PG_URL", DEFAULT_PG_URL)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'smtpauth.db'}"


@contextlib.contextmanager
def fresh_schema(base: sa.URL) -> Iterator[str]:
    """A URL of the PostgreSQL server ``base`` names whose search_path is a new schema, dropped at the end."""
    base = base.difference_update_query(["options"])
    if base.drivername in ("postgresql", "postgres"):
        base = base.set(drivername="postgresql+psycopg")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base, poolclass=sa.pool.NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the test."""
    if os.environ.get("SMTPAUTH_TEST_PG") == "skip":
        pytest.skip("SMTPAUTH_TEST_PG=skip")
    with fresh_schema(sa.make_url(_pg_url())) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty database, once per backend."""
    name = "sqlite_url" if request.param == "sqlite" else "pg_url"
    url: str = request.getfixturevalue(name)
    return url
