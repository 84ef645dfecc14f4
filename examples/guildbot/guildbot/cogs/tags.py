"""Tags: named snippets members save and recall (``!tag rules``)."""
from __future__ import annotations

from typing import Any

import asyncpg

from guildbot import db
from guildbot.bot import Cog, CommandError, Context, command


class Tags(Cog):
    async def create(self, guild_id: int, name: str, content: str, owner_id: int,
                     meta: dict[str, Any] | None = None):
        try:
            return await self.bot.pool.fetchrow(
                """
                INSERT INTO tags (guild_id, name, content, owner_id, meta)
                VALUES ($1, lower($2), $3, $4, coalesce($5::jsonb, '{}'::jsonb))
                RETURNING name, content, owner_id, uses, meta, created_at
                """,
                guild_id,
                name,
                content,
                owner_id,
                meta,
            )
        except asyncpg.UniqueViolationError:
            raise CommandError(f"tag {name!r} exists already") from None

    async def get(self, guild_id: int, name: str):
        return await db.fetch_tag(self.bot.pool, guild_id, name)

    async def use(self, guild_id: int, name: str) -> str | None:
        """The tag's text, counting the use."""
        async with self.bot.pool.acquire() as conn:
            async with conn.transaction():
                row = await db.fetch_tag(conn, guild_id, name)
                if row is None:
                    return None
                await conn.execute("UPDATE tags SET uses = uses + 1 WHERE guild_id = $1 AND name = $2", guild_id, row["name"])
                return row["content"]

    async def edit(self, guild_id: int, name: str, owner_id: int, content: str) -> bool:
        status = await self.bot.pool.execute(
            "UPDATE tags SET content = $4 WHERE guild_id = $1 AND name = lower($2) AND owner_id = $3",
            guild_id,
            name,
            owner_id,
            content,
        )
        return status != "UPDATE 0"

    async def delete(self, guild_id: int, name: str, owner_id: int) -> bool:
        result = await self.bot.pool.execute(
            "DELETE FROM tags WHERE guild_id = $1 AND name = lower($2) AND owner_id = $3", guild_id, name, owner_id
        )
        return result == "DELETE 1"

    async def search(self, guild_id: int, prefix: str, limit: int = 20) -> list[str]:
        rows = await self.bot.pool.fetch(
            "SELECT name FROM tags WHERE guild_id = $1 AND starts_with(name, lower($2)) ORDER BY uses DESC, name LIMIT $3",
            guild_id,
            prefix,
            limit,
        )
        return [r["name"] for r in rows]

    async def import_tags(self, guild_id: int, owner_id: int, tags: dict[str, str]) -> int:
        """Bulk import (from another bot's export); existing names are left as they are."""
        before = await self.bot.pool.fetchval("SELECT count(*) FROM tags WHERE guild_id = $1", guild_id)
        async with self.bot.pool.acquire() as conn:
            await conn.executemany(
                "INSERT INTO tags (guild_id, name, content, owner_id, meta) VALUES ($1, $2, $3, $4, $5)"
                " ON CONFLICT (guild_id, name) DO NOTHING",
                [(guild_id, name.lower(), text, owner_id, {"imported": True}) for name, text in tags.items()],
            )
        after = await self.bot.pool.fetchval("SELECT count(*) FROM tags WHERE guild_id = $1", guild_id)
        return after - before

    # --- commands -------------------------------------------------------------

    @command("tag")
    async def cmd_tag(self, ctx: Context, name: str) -> None:
        text = await self.use(ctx.guild_id, name)
        await ctx.send(text if text is not None else f"no tag called {name!r}")

    @command("tag-add")
    async def cmd_tag_add(self, ctx: Context, name: str, content: str) -> None:
        await self.create(ctx.guild_id, name, content, ctx.author_id)
        await ctx.send(f"tag {name.lower()!r} saved")

    @command("tag-info")
    async def cmd_tag_info(self, ctx: Context, name: str) -> None:
        row = await db.fetch_tag(ctx.db, ctx.guild_id, name)
        if row is None:
            raise CommandError(f"no tag called {name!r}")
        await ctx.send(f"{row['name']}: owned by <@{row['owner_id']}>, used {row['uses']} times")
