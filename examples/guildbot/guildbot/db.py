"""The bot's asyncpg pool and the small query helpers the cogs share.

Helpers take whatever they should run on as their first argument: the pool
(one statement, any free connection) or a connection the caller already holds
(so the statement joins the caller's transaction).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import asyncpg

SCHEMA_FILE = Path(__file__).with_name("schema.sql")

UPSERT_MEMBER = """
INSERT INTO members (guild_id, user_id, display_name)
VALUES ($1, $2, coalesce($3::text, 'user ' || $2::bigint))
ON CONFLICT (guild_id, user_id) DO UPDATE SET display_name = coalesce($3::text, members.display_name)
"""


def database_url() -> str:
    """``GUILDBOT_DSN``; the bot refuses to start without it."""
    return os.environ["GUILDBOT_DSN"]


async def create_bot_pool() -> asyncpg.Pool:
    """The pool the bot runs on, with jsonb decoded to Python values on every connection."""

    async def init(conn: asyncpg.Connection) -> None:
        await conn.set_type_codec(
            "jsonb",
            schema="pg_catalog",
            encoder=json.dumps,
            decoder=json.loads,
            format="text",
        )

    return await asyncpg.create_pool(
        database_url(),
        min_size=1,
        max_size=8,
        command_timeout=20,
        init=init,
    )


async def apply_schema(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await conn.execute(SCHEMA_FILE.read_text(encoding="utf-8"))


async def ensure_member(conn, guild_id: int, user_id: int, display_name: str | None = None) -> None:
    """Create the member row on first sight; a name given keeps the display name current."""
    await conn.execute(UPSERT_MEMBER, guild_id, user_id, display_name)


async def fetch_member(pool: asyncpg.Pool, guild_id: int, user_id: int, *, conn: asyncpg.Connection | None = None):
    db = conn if conn is not None else pool
    return await db.fetchrow(
        "SELECT guild_id, user_id, display_name, karma, profile, first_seen"
        " FROM members WHERE guild_id = $1 AND user_id = $2",
        guild_id,
        user_id,
    )


async def update_profile(conn, guild_id: int, user_id: int, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Merge ``changes`` into the member's profile; keys set to None are removed."""
    removed = [key for key, value in changes.items() if value is None]
    kept = {key: value for key, value in changes.items() if value is not None}
    return await conn.fetchval(
        """
        UPDATE members
           SET profile = (profile || $3::jsonb) - $4::text[]
         WHERE guild_id = $1 AND user_id = $2
        RETURNING profile
        """,
        guild_id,
        user_id,
        kept,
        removed,
    )


async def fetch_tag(conn, guild_id: int, name: str):
    return await conn.fetchrow(
        "SELECT name, content, owner_id, uses, meta, created_at FROM tags WHERE guild_id = $1 AND name = lower($2)",
        guild_id,
        name,
    )
