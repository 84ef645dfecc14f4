"""Process-wide asyncpg pool.

The worker and the CLI open the pool once at start-up with ``open_pool()`` and
everything else asks for it with ``get_pool()``.  jsonb columns are decoded to
Python objects on every connection (see ``_init_connection``), so storage code
never has to call ``json.loads`` itself.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import asyncpg

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

_pool: asyncpg.Pool | None = None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb",
        encoder=json.dumps,
        decoder=json.loads,
        schema="pg_catalog",
    )


async def open_pool(dsn: str | None = None) -> asyncpg.Pool:
    """Create the shared pool (idempotent) and return it.

    ``dsn`` defaults to ``$FLEET_DB_DSN``; there is deliberately no built-in
    fallback, a worker without a database setting should not start.
    """
    global _pool
    if _pool is None:
        _pool = await asyncpg.create_pool(
            dsn or os.environ["FLEET_DB_DSN"],
            min_size=2,
            max_size=10,
            command_timeout=30,
            max_inactive_connection_lifetime=120,
            init=_init_connection,
        )
    return _pool


def get_pool() -> asyncpg.Pool:
    if _pool is None:
        raise RuntimeError("database pool is not open; call fleet.db.open_pool() first")
    return _pool


async def close_pool() -> None:
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        await pool.close()


async def install_schema(pool: asyncpg.Pool | asyncpg.Connection) -> None:
    """Apply fleet/schema.sql.  The script is idempotent and safe on every deploy."""
    script = SCHEMA_FILE.read_text(encoding="utf-8")
    await pool.execute(script)
