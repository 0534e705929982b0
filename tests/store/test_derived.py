"""The derived columns computed in Python on write agree with the SQL spelling of the same rules (the one the
migration used for the rows stored before it, and the report used before the rollups), on SQLite and PostgreSQL."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from connector.store import Store, open_store
from connector.store.derived import auth_bucket, derive, domain_of, tls_bucket, utc_day
from connector.store.readside.sql import Dialect, auth_key, tls_key

TLS = ["TLS1.0", "TLS 1.1", "Tls12", "1.2", "tls_1_3", "TLSv1.3", "v1.0", "SSL3", "", None, "TLS1.4", "1.3 "]
AUTH = ["Basic", "BASIC AUTH", "OAuth2", "xoauth2", "ntlm", "", None, "basic-oauth"]
ADDRESSES = ["a@Contoso.COM", "x@y@Sub.Example", "no-at", "trailing@", "@lead.example", "A.B@c.d"]
MOMENTS = [
    datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 11, 1, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(2026, 11, 2, 0, 30, tzinfo=timezone(timedelta(hours=2))),
    datetime(2026, 10, 31, 22, 30, tzinfo=timezone(timedelta(hours=-5))),
]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = open_store(db_url, busy_timeout_seconds=5)
    yield s
    s.close()


def test_python_rules_equal_the_sql_rules(store: Store) -> None:
    d = Dialect(store.dialect)
    with store.read() as conn:
        for value in TLS:
            assert tls_bucket(value) == conn.execute(sa.select(tls_key(sa.literal(value, sa.String)))).scalar_one()
        for value in AUTH:
            assert auth_bucket(value) == conn.execute(sa.select(auth_key(sa.literal(value, sa.String)))).scalar_one()
        for value in ADDRESSES:
            assert domain_of(value) == conn.execute(sa.select(d.domain(sa.literal(value, sa.String)))).scalar_one()


def test_derive_fills_every_derived_column_from_the_row() -> None:
    row = derive("message_trace", {"received_at": MOMENTS[3], "sender_address": "P@Contoso.com", "utc_day": None})
    assert row["utc_day"] == datetime(2026, 11, 1).date()
    assert row["sender_domain"] == "contoso.com"
    cs = derive("smtp_cs_report_row", {"occurred_at": MOMENTS[2], "tls_version": "Tls 1.1", "auth_method": "OAuth"})
    assert (cs["utc_day"], cs["tls_bucket"], cs["auth_bucket"]) == (datetime(2026, 11, 1).date(), "TLS1.1", "OAuth")
    assert derive("signin", {"created_at": MOMENTS[1]})["utc_day"] == datetime(2026, 11, 1).date()
    assert derive("finding", {"x": 1}) == {"x": 1}
    assert utc_day(datetime(2026, 11, 1)) is None  # naive: the column type refuses it on write
