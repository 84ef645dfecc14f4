"""fleet.db: the pool holder, the jsonb codec and the schema script."""
from __future__ import annotations

import asyncpg
import pytest

from fleet import db


async def test_open_pool_reads_dsn_from_environment(clean_db):
    with pytest.raises(RuntimeError, match="open_pool"):
        db.get_pool()
    pool = await db.open_pool()
    try:
        assert db.get_pool() is pool
        assert await db.open_pool() is pool  # a second call reuses the pool
        assert await pool.fetchval("SELECT current_database()") in clean_db
    finally:
        await db.close_pool()
    with pytest.raises(RuntimeError):
        db.get_pool()
    await db.close_pool()  # closing twice is harmless


async def test_explicit_dsn_wins_over_environment(clean_db, monkeypatch):
    monkeypatch.setenv("FLEET_DB_DSN", "postgresql://nobody@127.0.0.1:1/nowhere")
    pool = await db.open_pool(clean_db)
    try:
        assert await pool.fetchval("SELECT 41 + 1") == 42
    finally:
        await db.close_pool()


async def test_missing_setting_is_an_error(clean_db, monkeypatch):
    monkeypatch.delenv("FLEET_DB_DSN")
    with pytest.raises(KeyError, match="FLEET_DB_DSN"):
        await db.open_pool()
    with pytest.raises(RuntimeError):
        db.get_pool()


async def test_jsonb_is_decoded_and_encoded_on_every_connection(pool):
    value = await pool.fetchval("""SELECT '{"a": [1, 2.5, null], "b": {"c": true}}'::jsonb""")
    assert value == {"a": [1, 2.5, None], "b": {"c": True}}
    assert isinstance(value, dict)
    async with pool.acquire() as con:
        echoed = await con.fetchval("SELECT $1::jsonb -> 'k'", {"k": ["x", 1]})
    assert echoed == ["x", 1]
    # json (not jsonb) is untouched by the codec
    assert await pool.fetchval("""SELECT '{"a": 1}'::json""") == '{"a": 1}'


async def test_install_schema_is_idempotent(pool, probe):
    await db.install_schema(pool)
    await db.install_schema(pool)
    tables = await probe.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1"
    )
    assert [r["table_name"] for r in tables] == [
        "maintenance_events",
        "telemetry_points",
        "trips",
        "vehicles",
    ]
    labels = await probe.fetchval(
        "SELECT array_agg(enumlabel ORDER BY enumsortorder) FROM pg_enum e "
        "JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typname = 'vehicle_status'"
    )
    assert labels == ["active", "in_service", "retired"]
    types = dict(
        await probe.fetch(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'maintenance_events'"
        )
    )
    assert types["cost"] == "numeric"
    assert types["details"] == "jsonb"
    assert types["parts"] == "ARRAY"
    assert types["performed_at"] == "timestamp with time zone"


async def test_schema_constraints(probe):
    await probe.execute("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'v', 'm')")
    with pytest.raises(asyncpg.UniqueViolationError):
        await probe.execute("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'w', 'n')")
    with pytest.raises(asyncpg.CheckViolationError):
        await probe.execute("UPDATE vehicles SET odometer_km = -1")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await probe.execute(
            "INSERT INTO trips (vehicle_id, driver, started_at) VALUES (999, 'x', now())"
        )
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await probe.execute("UPDATE vehicles SET status = 'scrapped'")
    row = await probe.fetchrow("SELECT status, tags, attributes, odometer_km FROM vehicles")
    assert tuple(row) == ("active", [], "{}", 0)
