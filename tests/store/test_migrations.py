from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

import models
from connector.errors import StorageError
from connector.store import create_engine_for, current_version, latest_version, migrate, open_store
from connector.store.migrations import MIGRATIONS, Migration
from models import SQLModel, SyncRun, Watermark


def test_fresh_database_reaches_the_latest_version(db_url: str) -> None:
    engine = create_engine_for(db_url, busy_timeout_seconds=5)
    assert migrate(engine) == latest_version()
    with engine.connect() as conn:
        assert current_version(conn) == latest_version()
    engine.dispose()


def test_migrate_is_idempotent(db_url: str) -> None:
    engine = create_engine_for(db_url, busy_timeout_seconds=5)
    migrate(engine)
    assert migrate(engine) == latest_version()
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT count(*) FROM schema_version").scalar_one()
    assert rows == len(MIGRATIONS)
    engine.dispose()


def test_a_newer_database_is_refused(db_url: str) -> None:
    engine = create_engine_for(db_url, busy_timeout_seconds=5)
    migrate(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO schema_version (version, description, applied_at) VALUES (99, 'future', '2030-01-01')"
        )
    with pytest.raises(StorageError, match=r"version 99 .* newer smtpauth"):
        migrate(engine)
    engine.dispose()


def _type_family(t: sa.types.TypeEngine[object]) -> str:
    if isinstance(t, sa.DateTime | models.UTCDateTime):
        return "datetime"
    if isinstance(t, sa.types.TypeDecorator):
        return _type_family(t.impl_instance)
    if isinstance(t, sa.Boolean):
        return "bool"
    if isinstance(t, sa.Date):
        return "date"
    if isinstance(t, sa.Integer):
        return "int"
    if isinstance(t, sa.Float | sa.Numeric):
        return "float"
    if isinstance(t, sa.String):
        return "text"
    return type(t).__name__


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    engine = create_engine_for(db_url, busy_timeout_seconds=5)
    migrate(engine)
    inspector = sa.inspect(engine)
    assert set(inspector.get_table_names()) == set(SQLModel.metadata.tables) | {"schema_version"}
    for name, table in SQLModel.metadata.tables.items():
        reflected = {c["name"]: c for c in inspector.get_columns(name)}
        assert set(reflected) == {c.name for c in table.columns}, name
        for column in table.columns:
            got = reflected[column.name]
            assert _type_family(got["type"]) == _type_family(column.type), f"{name}.{column.name}"
            assert got["nullable"] == column.nullable or column.primary_key, f"{name}.{column.name}"
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(name)}
        expected = {
            tuple(c.name for c in con.columns) for con in table.constraints if isinstance(con, sa.UniqueConstraint)
        }
        assert uniques == expected, name
        indexes = {i["name"]: tuple(i["column_names"]) for i in inspector.get_indexes(name) if not i["unique"]}
        assert indexes == {i.name: tuple(c.name for c in i.columns) for i in table.indexes if not i.unique}, name
        fks = {(tuple(f["constrained_columns"]), f["referred_table"]) for f in inspector.get_foreign_keys(name)}
        assert fks == {((fk.parent.name,), fk.column.table.name) for fk in table.foreign_keys}, name
    engine.dispose()


def _add_note_column(conn: Connection) -> None:
    conn.execute(sa.text("ALTER TABLE watermark ADD COLUMN note TEXT"))


def test_upgrade_keeps_every_row(db_url: str) -> None:
    store = open_store(db_url, busy_timeout_seconds=5)
    now = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    with store.transaction() as tx:
        for i in range(50):
            tx.execute(
                sa.insert(Watermark.__table__).values(  # type: ignore[attr-defined]
                    tenant="contoso", source=f"s{i}", key="k", value=str(i), updated_at=now
                )
            )
        tx.execute(
            sa.insert(SyncRun.__table__).values(  # type: ignore[attr-defined]
                tenant="contoso", source="signins", run_id="r1", started_at=now, status="succeeded"
            )
        )
    v2 = (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "test: add watermark.note", _add_note_column))
    assert migrate(store.engine, v2) == len(v2)
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM watermark").scalar_one() == 50
        assert conn.exec_driver_sql("SELECT sum(CAST(value AS INTEGER)) FROM watermark").scalar_one() == sum(range(50))
        assert conn.exec_driver_sql("SELECT count(*) FROM sync_run").scalar_one() == 1
        assert current_version(conn) == len(v2)
    # the older code now refuses the upgraded database instead of guessing
    with pytest.raises(StorageError, match="newer"):
        store.migrate()
    store.close()


def test_a_failing_migration_applies_nothing(db_url: str) -> None:
    engine = create_engine_for(db_url, busy_timeout_seconds=5)

    def broken(conn: Connection) -> None:
        conn.execute(sa.text("CREATE TABLE half_done (x INTEGER)"))
        conn.execute(sa.text("SELECT * FROM no_such_table"))

    with pytest.raises(StorageError, match="migration failed"):
        migrate(engine, (*MIGRATIONS, Migration(len(MIGRATIONS) + 1, "broken", broken)))
    inspector = sa.inspect(engine)
    assert "half_done" not in inspector.get_table_names()
    assert "usage_user_detail" not in inspector.get_table_names()
    engine.dispose()
