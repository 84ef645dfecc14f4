"""DatabaseService: pool lifecycle, schema bootstrap and the module singleton."""
from __future__ import annotations

import pytest

from src.services import database_service
from src.services.database_service import DatabaseService


async def test_schema_creates_tables_indexes_and_trigger(db_service, probe):
    tables = {
        r["table_name"]
        for r in await probe.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    }
    assert {"cameras", "alerts", "detection_records"} <= tables
    indexes = {r["indexname"] for r in await probe.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
    assert {"idx_alerts_camera_created", "idx_alerts_unacknowledged", "idx_detection_records_camera_time"} <= indexes
    partial = await probe.fetchval("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_alerts_unacknowledged'")
    assert "WHERE (NOT acknowledged)" in partial
    assert await probe.fetchval(
        "SELECT COUNT(*) FROM pg_trigger WHERE tgname = 'trg_cameras_updated_at'"
    ) == 1


async def test_init_schema_is_idempotent_and_keeps_data(db_service, probe):
    await probe.execute("INSERT INTO cameras (name) VALUES ('survivor')")
    await db_service.init_schema()
    await db_service.init_schema()
    assert await probe.fetchval("SELECT name FROM cameras") == "survivor"


async def test_updated_at_trigger(db_service, probe):
    created = await probe.fetchrow("INSERT INTO cameras (name) VALUES ('t') RETURNING created_at, updated_at")
    updated_at = await probe.fetchval("UPDATE cameras SET location = 'x' WHERE name = 't' RETURNING updated_at")
    assert updated_at > created["updated_at"]


async def test_health_check(db_service):
    assert await db_service.health_check() is True
    await db_service.close()
    assert db_service.pool is None
    assert await db_service.health_check() is False


async def test_init_schema_requires_initialize(pepgmp_database_url):
    service = DatabaseService()
    with pytest.raises(RuntimeError):
        await service.init_schema()


async def test_initialize_reads_database_url_and_is_idempotent(pepgmp_database_url):
    service = DatabaseService()
    assert service.database_url == pepgmp_database_url
    await service.initialize()
    try:
        pool = service.pool
        await service.initialize()
        assert service.pool is pool
    finally:
        await service.close()


async def test_explicit_url_wins(pepgmp_database_url):
    assert DatabaseService("postgresql://elsewhere/db").database_url == "postgresql://elsewhere/db"


async def test_get_db_service_singleton(pepgmp_database_url):
    try:
        first = await database_service.get_db_service()
        second = await database_service.get_db_service()
        assert first is second
        assert first.pool is not None
        assert await first.health_check() is True
    finally:
        await database_service.close_db_service()
    assert database_service._db_service is None
    # close is safe to call twice
    await database_service.close_db_service()
