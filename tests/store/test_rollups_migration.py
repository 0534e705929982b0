"""Upgrading a database that holds rows: the rollups migration fills the derived columns of the stored rows (in
batches of ids), the store builds the rollups once, and the BI views read them."""

import random

import pytest
import sqlalchemy as sa

from connector.store import Store, create_engine_for, migrate, open_store
from connector.store import rollups as ru
from connector.store.derived import derive
from connector.store.migrations import MIGRATIONS, v0007_rollups
from tests.store.test_rollups import (
    CS_KEY,
    SI_KEY,
    TENANTS,
    TRACE_KEY,
    _assert_equal,
    _cs,
    _signin,
    _trace,
    _write_everything,
    cs,
    si,
    tr,
)


def test_upgrade_backfills_and_builds_the_rollups(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rollups_version = next(m.version for m in MIGRATIONS if m.upgrade is v0007_rollups.upgrade)
    before = [m for m in MIGRATIONS if m.version < rollups_version]
    engine = create_engine_for(db_url, busy_timeout_seconds=10)
    migrate(engine, before)
    rnd = random.Random(4)
    rows: dict[str, list[dict[str, object]]] = {"message_trace": [], "smtp_cs_report_row": [], "signin": []}
    for tenant in TENANTS:
        rows["message_trace"] += [_trace(rnd, tenant, i) for i in range(120)]
        rows["smtp_cs_report_row"] += [_cs(rnd, tenant, i) for i in range(80)]
        rows["signin"] += [_signin(rnd, tenant, i) for i in range(60)]
    old = sa.MetaData()
    with engine.begin() as conn:
        for name, table_rows in rows.items():
            table = sa.Table(name, old, autoload_with=conn)
            # keys deduplicated as the upsert would
            key = {"message_trace": TRACE_KEY, "smtp_cs_report_row": CS_KEY, "signin": SI_KEY}[name]
            unique = {tuple(r[k] for k in key): r for r in table_rows}
            conn.execute(table.insert(), list(unique.values()))
    engine.dispose()
    # small batches, so the backfill takes several steps
    monkeypatch.setattr(v0007_rollups, "BATCH_IDS", 37)
    store = open_store(db_url, busy_timeout_seconds=10)
    try:
        with store.read() as conn:
            for table, cols in ((tr, ("utc_day", "sender_domain")), (cs, ("utc_day", "tls_bucket", "auth_bucket"))):
                for r in conn.execute(sa.select(table)):
                    want = derive(table.name, dict(r._mapping))
                    assert all(getattr(r, c) == want[c] for c in cols), (table.name, r.id)
            for r in conn.execute(sa.select(si)):
                assert r.utc_day == r.created_at.date()
            pending = conn.execute(sa.text("SELECT count(*) FROM watermark WHERE source = 'rollups'")).scalar_one()
            assert pending == 0
            views = dict(
                conn.execute(sa.text("SELECT source, SUM(messages) FROM bi_fact_sender_day GROUP BY source")).all()
            )
            rollup_cs = conn.execute(sa.select(sa.func.sum(ru.rsd.c.cs_messages))).scalar_one()
            assert views["smtp_cs_report"] == rollup_cs
            for name in ("bi_fact_domain_day", "bi_fact_sender_day_tls", "bi_fact_signin_day", "bi_dim_sender",
                         "bi_dim_domain", "bi_dim_date"):  # fmt: skip
                assert conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one() > 0, name  # noqa: S608
        _assert_equal(store)
    finally:
        store.close()


def test_migrations_12_to_14_fill_the_stored_rollups(db_url: str) -> None:
    """A database written before migrations 12 to 14 (its rollups maintained, no hour columns, no domain-day or
    sender-week rollup yet): the upgrade fills every sender-day's hour mask and hour messages from the sender-hour
    rollup and the domain-day and sender-week rollups from the sender-day one, equal to the raw rows."""
    store = open_store(db_url, busy_timeout_seconds=10)
    try:
        _write_everything(store, 5)
        with store.read() as conn:
            traced = conn.execute(sa.select(sa.func.count()).where(ru.rsd.c.trace_rows > 0)).scalar_one()
        assert traced > 100
    finally:
        store.close()
    _back_to(
        db_url,
        11,
        "DROP TABLE rollup_domain_day",
        "DROP TABLE rollup_sender_week",
        "ALTER TABLE rollup_sender_month DROP COLUMN last_active_day",  # migration 15's
        *(f"ALTER TABLE rollup_sender_day DROP COLUMN {c}" for c in ("trace_hour_mask", "trace_hour_messages")),
    )
    store = open_store(db_url, busy_timeout_seconds=10)
    try:
        with store.read() as conn:
            filled = conn.execute(sa.select(sa.func.count()).where(ru.rsd.c.trace_hour_mask > 0)).scalar_one()
            domain_days = conn.execute(sa.select(sa.func.count()).select_from(ru.rdd)).scalar_one()
            sender_weeks = conn.execute(sa.select(sa.func.count()).select_from(ru.rsw)).scalar_one()
        assert filled == traced
        assert domain_days > 50
        assert sender_weeks > 50
        _assert_equal(store)
    finally:
        store.close()


def test_migration_15_fills_the_periods_last_active_day(db_url: str) -> None:
    """A database written before migration 15 (its sender-month and sender-week rollups without the last active
    day): the upgrade sets every period's last day with messages or a successful sign-in from the sender-day
    rollup, equal to the raw rows, and leaves it NULL for a period without one."""
    store = open_store(db_url, busy_timeout_seconds=10)
    try:
        _write_everything(store, 5)
        expected = _last_active_days(store)
    finally:
        store.close()
    for rows in expected.values():
        assert sum(r[3] is not None for r in rows) > 20
    assert any(r[3] is None for r in expected["rollup_sender_week"]), "a week with failed sign-ins only"
    _back_to(db_url, 14, *(f"ALTER TABLE {table} DROP COLUMN last_active_day" for table in expected))
    store = open_store(db_url, busy_timeout_seconds=10)
    try:
        assert _last_active_days(store) == expected
        _assert_equal(store)
    finally:
        store.close()


def _last_active_days(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Per sender-period rollup, its (tenant, period, sender, last active day) rows, sorted."""
    with store.read() as conn:
        return {
            t.name: sorted(tuple(r) for r in conn.execute(sa.select(t.c.tenant, t.c[k], t.c.sender_address,
                                                                     t.c.last_active_day)))
            for t, k in ((ru.rsm, "month"), (ru.rsw, "week"))
        }  # fmt: skip


def _back_to(db_url: str, version: int, *statements: str) -> None:
    """The database as a smtpauth of schema ``version`` left it: ``statements`` undo the later migrations."""
    engine = create_engine_for(db_url, busy_timeout_seconds=10)
    with engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
        conn.execute(sa.text("DELETE FROM schema_version WHERE version > :v"), {"v": version})
    engine.dispose()
