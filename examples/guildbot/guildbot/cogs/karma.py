"""Karma: members thank each other with points; the board shows who helped most."""
from __future__ import annotations

from datetime import datetime

from guildbot import db
from guildbot.bot import Cog, CommandError, Context, command

MAX_PER_DAY = 10

INSERT_EVENT = """
INSERT INTO karma_events (guild_id, giver_id, receiver_id, amount, reason)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, given_at
"""

GIVEN_TODAY = """
SELECT coalesce(sum(abs(amount)), 0)
  FROM karma_events
 WHERE guild_id = $1 AND giver_id = $2 AND given_at > now() - interval '1 day'
"""


class Karma(Cog):
    async def award(self, guild_id: int, giver_id: int, receiver_id: int, amount: int,
                    reason: str | None = None) -> int:
        """Record the points and return the receiver's new total."""
        if giver_id == receiver_id:
            raise CommandError("you cannot give karma to yourself")
        async with self.bot.pool.acquire(timeout=5) as conn:
            async with conn.transaction():
                given = await conn.fetchval(GIVEN_TODAY, guild_id, giver_id)
                if given + abs(amount) > MAX_PER_DAY:
                    raise CommandError(f"you can give {MAX_PER_DAY - given} more points today")
                await db.ensure_member(conn, guild_id, receiver_id)
                await conn.fetchrow(INSERT_EVENT, guild_id, giver_id, receiver_id, amount, reason)
                return await conn.fetchval(
                    "UPDATE members SET karma = karma + $3 WHERE guild_id = $1 AND user_id = $2 RETURNING karma",
                    guild_id,
                    receiver_id,
                    amount,
                )

    async def total(self, guild_id: int, user_id: int) -> int:
        row = await db.fetch_member(self.bot.pool, guild_id, user_id)
        return 0 if row is None else row["karma"]

    async def leaderboard(self, guild_id: int, limit: int = 10) -> list[tuple[str, int]]:
        rows = await self.bot.pool.fetch(
            """
            SELECT display_name, karma
              FROM members
             WHERE guild_id = $1 AND karma <> 0
             ORDER BY karma DESC, display_name
             LIMIT $2
            """,
            guild_id,
            limit,
            timeout=3,
        )
        return [(r["display_name"], r["karma"]) for r in rows]

    async def history(self, guild_id: int, user_id: int, since: datetime | None = None):
        query = """
            SELECT id, giver_id, amount, reason, given_at
              FROM karma_events
             WHERE guild_id = $1 AND receiver_id = $2 AND ($3::timestamptz IS NULL OR given_at >= $3)
             ORDER BY id
        """
        return await self.bot.pool.fetch(query, guild_id, user_id, since)

    async def reset(self, guild_id: int, user_id: int) -> bool:
        async with self.bot.pool.acquire() as conn:
            async with conn.transaction():
                await conn.execute("DELETE FROM karma_events WHERE guild_id = $1 AND receiver_id = $2", guild_id, user_id)
                status = await conn.execute(
                    "UPDATE members SET karma = 0 WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
                )
        return status == "UPDATE 1"

    # --- commands -------------------------------------------------------------

    @command("thanks")
    async def cmd_thanks(self, ctx: Context, member: int, reason: str = "") -> None:
        await db.ensure_member(ctx.db, ctx.guild_id, ctx.author_id, ctx.message.author_name)
        total = await self.award(ctx.guild_id, ctx.author_id, member, 1, reason or None)
        await ctx.send(f"<@{member}> now has {total} karma")

    @command("karma")
    async def cmd_karma(self, ctx: Context, member: int) -> None:
        row = await db.fetch_member(ctx.db, ctx.guild_id, member)
        if row is None:
            raise CommandError("I have not seen that member yet")
        await ctx.send(f"{row['display_name']}: {row['karma']} karma")

    @command("top")
    async def cmd_top(self, ctx: Context) -> None:
        board = await self.leaderboard(ctx.guild_id, 5)
        await ctx.send("\n".join(f"{i}. {name} ({points})" for i, (name, points) in enumerate(board, 1)) or "nobody yet")
