"""Every source declaration must pass the same contract: a sample input normalizes into rows that fit its table,
carry its natural key, and load idempotently."""

import io
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from connector.clouds import Cloud
from connector.http.families import FAMILIES
from connector.sources import SOURCES, SourceSpec
from connector.sources._base import InvalidRecordError
from connector.sources.cas_mailbox import normalize_cas_mailboxes_page
from connector.sources.message_trace import normalize_message_trace_page
from connector.sources.report_settings import normalize_report_settings
from connector.sources.signins import normalize_signins_page
from connector.sources.smtp_cs_report import normalize_smtp_cs_report
from connector.sources.transport_config import normalize_transport_config
from connector.sources.usage_reports import (
    normalize_apps_user_counts_csv,
    normalize_user_counts_csv,
    normalize_user_detail_csv,
)
from connector.store import open_store, upsert

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
TODAY = date(2026, 11, 28)

SAMPLES: dict[str, Callable[[], Iterable[Any]]] = {
    "usage_user_detail": lambda: normalize_user_detail_csv(
        io.BytesIO(b"Report Refresh Date,User Principal Name,SMTP App\n2026-11-26,a@c.com,Yes\n2026-11-26,b@c.com,\n"),
        tenant="contoso",
        view="D7",
    ),
    "usage_user_counts": lambda: normalize_user_counts_csv(
        io.BytesIO(b"Report Refresh Date,SMTP App,Report Date\n2026-11-26,4,2026-11-25\n2026-11-26,5,2026-11-24\n"),
        tenant="contoso",
    ),
    "usage_apps_kpi": lambda: normalize_apps_user_counts_csv(
        io.BytesIO(b"Report Refresh Date,SMTP App\n2026-11-26,9\n"), tenant="contoso", period="D7"
    ),
    "report_settings": lambda: [
        normalize_report_settings({"displayConcealedNames": False}, tenant="contoso", observed_at=NOW)
    ],
    "signins": lambda: normalize_signins_page(
        {"value": [{"id": "s1", "createdDateTime": "2026-11-20T08:00:00Z", "userPrincipalName": "A@c.com"}]},
        tenant="contoso",
    ),
    "message_trace": lambda: normalize_message_trace_page(
        {"value": [{"id": "m1", "senderAddress": "a@c.com", "receivedDateTime": "2026-11-20T08:00:00Z"}]},
        tenant="contoso",
    ),
    "smtp_cs_report": lambda: normalize_smtp_cs_report(
        io.BytesIO("date,senderName,message_id\n2026-11-20T08:00:00Z,a@c.com,<x@c>\n".encode("utf-16")),
        tenant="contoso",
    ),
    "cas_mailbox": lambda: normalize_cas_mailboxes_page(
        {"value": [{"PrimarySmtpAddress": "a@c.com", "SmtpClientAuthenticationDisabled": None}]},
        tenant="contoso",
        snapshot_date=TODAY,
        org_smtp_client_auth_disabled=True,
    ),
    "transport_config": lambda: [
        normalize_transport_config({"SmtpClientAuthenticationDisabled": False}, tenant="contoso", snapshot_date=TODAY)
    ],
}


def test_every_source_has_a_contract_sample() -> None:
    assert set(SAMPLES) == set(SOURCES)


@pytest.mark.parametrize("spec", list(SOURCES.values()), ids=list(SOURCES))
def test_declaration_is_complete(spec: SourceSpec) -> None:
    table: sa.Table = spec.model.__table__
    assert spec.key[0] == "tenant"
    assert set(spec.key) <= set(table.c.keys())
    uniques = [{c.name for c in u.columns} for u in table.constraints if isinstance(u, sa.UniqueConstraint)]
    assert set(spec.key) in uniques
    assert spec.permission
    assert spec.family in FAMILIES
    assert set(spec.clouds) <= {c.value for c in Cloud}
    assert spec.path


@pytest.mark.parametrize("spec", list(SOURCES.values()), ids=list(SOURCES))
def test_sample_rows_fit_the_table_and_load_idempotently(spec: SourceSpec, tmp_path: Path) -> None:
    items = list(SAMPLES[spec.name]())
    rows = [r for r in items if not isinstance(r, InvalidRecordError)]
    assert rows
    table: sa.Table = spec.model.__table__
    required = {c.name for c in table.columns if not c.nullable and not c.primary_key and c.server_default is None}
    for row in rows:
        assert set(row) <= set(table.c.keys()), set(row) - set(table.c.keys())
        assert required <= set(row), required - set(row)
        assert row["tenant"] == "contoso"
        for value in row.values():
            if isinstance(value, datetime):
                assert value.tzinfo is UTC
    store = open_store(f"sqlite:///{tmp_path / 'c.db'}", busy_timeout_seconds=5)
    with store.transaction() as tx:
        first = upsert(tx, spec.model, rows, key=spec.key)
        again = upsert(tx, spec.model, list(SAMPLES[spec.name]()), key=spec.key)
    store.close()
    assert first.inserted == len(rows)
    assert (again.inserted, again.updated) == (0, 0)


JUNK: list[Any] = [
    None,
    1,
    "x",
    [],
    {},
    {"id": {}},
    {"id": "x", "createdDateTime": 5, "receivedDateTime": []},
    {"id": "x", "senderAddress": 3, "receivedDateTime": "2026-02-30T00:00:00Z"},
    {"PrimarySmtpAddress": [1]},
    {"PrimarySmtpAddress": "a@b", "SmtpClientAuthenticationDisabled": "maybe"},
]


@pytest.mark.parametrize(
    "normalize",
    [
        lambda page: normalize_signins_page(page, tenant="t"),
        lambda page: normalize_message_trace_page(page, tenant="t"),
        lambda page: normalize_cas_mailboxes_page(
            page, tenant="t", snapshot_date=TODAY, org_smtp_client_auth_disabled=None
        ),
    ],
    ids=["signins", "message_trace", "cas_mailbox"],
)
def test_junk_items_are_skipped_never_crash(normalize: Callable[[dict[str, Any]], Iterable[Any]]) -> None:
    out = list(normalize({"value": JUNK}))
    assert len(out) == len(JUNK)
    assert all(isinstance(item, dict | InvalidRecordError) for item in out)
