"""asyncpg connection pool shared by the camera, alert and detection repositories."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Optional

import asyncpg

logger = logging.getLogger(__name__)

DATABASE_URL = os.getenv(
    "DATABASE_URL",
    "postgresql://pepgmp_dev:pepgmp_dev_pw@localhost:5432/pepgmp_development",
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "database" / "schema.sql"


class DatabaseService:
    """Owns the asyncpg pool. One instance per process (see get_db_service)."""

    def __init__(self, database_url: Optional[str] = None):
        # Read the environment again here so that a value exported after
        # import (uvicorn --env-file, tests) still wins over the module default.
        self.database_url = database_url or os.getenv("DATABASE_URL", DATABASE_URL)
        self.pool: Optional[asyncpg.Pool] = None

    async def initialize(self) -> None:
        if self.pool is not None:
            return
        logger.info("creating asyncpg pool")
        self.pool = await asyncpg.create_pool(
            self.database_url,
            min_size=5,
            max_size=20,
            command_timeout=60,
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
            logger.info("asyncpg pool closed")

    async def init_schema(self) -> None:
        """Apply schema.sql. Every statement in it is idempotent."""
        if self.pool is None:
            raise RuntimeError("DatabaseService.initialize() must be called first")
        script = SCHEMA_PATH.read_text(encoding="utf-8")
        async with self.pool.acquire() as conn:
            await conn.execute(script)
        logger.info("database schema applied")

    async def health_check(self) -> bool:
        if self.pool is None:
            return False
        try:
            return await self.pool.fetchval("SELECT 1") == 1
        except (OSError, asyncpg.PostgresError):
            logger.exception("database health check failed")
            return False


_db_service: Optional[DatabaseService] = None


async def get_db_service() -> DatabaseService:
    """Return the process-wide DatabaseService, creating the pool on first use."""
    global _db_service
    if _db_service is None:
        service = DatabaseService()
        await service.initialize()
        _db_service = service
    return _db_service


async def close_db_service() -> None:
    global _db_service
    if _db_service is not None:
        await _db_service.close()
        _db_service = None
