"""The SQLAlchemy engine shared by the camera, alert and detection repositories."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

logger = logging.getLogger(__name__)

DATABASE_URL = os.getenv(
    "DATABASE_URL",
    "postgresql://pepgmp_dev:pepgmp_dev_pw@localhost:5432/pepgmp_development",
)

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "database" / "schema.sql"


def create_engine(database_url: str) -> AsyncEngine:
    """An asyncpg-backed engine sized like the pool it replaces (20 connections)."""
    url = make_url(database_url).set(drivername="postgresql+asyncpg")
    return create_async_engine(
        url,
        pool_size=20,
        max_overflow=0,
        pool_timeout=30,
        pool_recycle=300,
        connect_args={"command_timeout": 60},
    )


class DatabaseService:
    """Owns the engine. One instance per process (see get_db_service)."""

    def __init__(self, database_url: str | None = None):
        self.database_url = database_url or os.getenv("DATABASE_URL", DATABASE_URL)
        self.engine: AsyncEngine | None = None

    async def initialize(self) -> None:
        if self.engine is not None:
            return
        self.engine = create_engine(self.database_url)
        # connect once, so that a wrong URL fails here rather than on the first query
        async with self.engine.connect():
            pass

    async def close(self) -> None:
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None

    async def init_schema(self) -> None:
        """Apply schema.sql. Every statement in it is idempotent."""
        if self.engine is None:
            raise RuntimeError("DatabaseService.initialize() must be called first")
        script = SCHEMA_PATH.read_text(encoding="utf-8")
        async with self.engine.connect() as conn:
            # a script of several statements goes through the driver's simple protocol
            raw = await conn.get_raw_connection()
            await raw.driver_connection.execute(script)
        logger.info("database schema applied")

    async def health_check(self) -> bool:
        if self.engine is None:
            return False
        try:
            async with self.engine.connect() as conn:
                return (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        except (OSError, DBAPIError):
            logger.exception("database health check failed")
            return False


_db_service: DatabaseService | None = None


async def get_db_service() -> DatabaseService:
    """Return the process-wide DatabaseService, creating the engine on first use."""
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
