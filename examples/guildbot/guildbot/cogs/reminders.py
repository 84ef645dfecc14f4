"""Reminders: one-off or repeating, delivered by the bot's polling loop."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from guildbot.bot import Cog, CommandError, Context, command

MAX_REPEAT = 52
SERIES_NAMESPACE = uuid.UUID("8f1c2b0e-5d7a-4c1e-9a65-3f0d2e7b9c41")

INSERT_REMINDER = """
INSERT INTO reminders (guild_id, user_id, channel_id, due_at, body, series)
VALUES ($1, $2, $3, $4, $5, $6)
"""

PENDING = """
SELECT id, guild_id, user_id, channel_id, due_at, body
  FROM reminders
 WHERE delivered_at IS NULL AND due_at <= $1
 ORDER BY due_at, id
 LIMIT $2
"""


class Reminders(Cog):
    async def schedule(self, guild_id: int, user_id: int, channel_id: int, first_due: datetime, body: str,
                       repeat: int = 1, every_hours: int = 24) -> uuid.UUID | None:
        """Store ``repeat`` reminders, ``every_hours`` apart; a series shares one id, derived
        from the request so that support can find a series from what the user typed."""
        if not 1 <= repeat <= MAX_REPEAT:
            raise CommandError(f"repeat must be between 1 and {MAX_REPEAT}")
        series = (uuid.uuid5(SERIES_NAMESPACE, f"{guild_id}/{user_id}/{first_due.isoformat()}/{body}")
                  if repeat > 1 else None)
        rows = [
            (guild_id, user_id, channel_id, first_due + timedelta(hours=every_hours * n), body, series)
            for n in range(repeat)
        ]
        async with self.bot.pool.acquire() as conn:
            await conn.executemany(INSERT_REMINDER, rows, timeout=10)
        return series

    async def due(self, now: datetime, limit: int = 50):
        """Reminders whose time has come, oldest first."""
        return await self.bot.pool.fetch(PENDING, now, limit, timeout=2.5)

    async def mark_delivered(self, reminder_ids: list[int], at: datetime) -> int:
        status = await self.bot.pool.execute(
            "UPDATE reminders SET delivered_at = $2 WHERE id = ANY($1::bigint[]) AND delivered_at IS NULL",
            reminder_ids,
            at,
        )
        return int(status.split()[-1])

    async def upcoming(self, guild_id: int, user_id: int):
        return await self.bot.pool.fetch(
            "SELECT id, due_at, body, series FROM reminders"
            " WHERE guild_id = $1 AND user_id = $2 AND delivered_at IS NULL ORDER BY due_at, id",
            guild_id,
            user_id,
        )

    async def cancel_series(self, user_id: int, series: uuid.UUID) -> int:
        async with self.bot.pool.acquire() as conn:
            deleted = await conn.fetch(
                "DELETE FROM reminders WHERE user_id = $1 AND series = $2 AND delivered_at IS NULL RETURNING id",
                user_id,
                series,
            )
        return len(deleted)

    async def postpone(self, guild_id: int, user_id: int, delays: dict[int, int]) -> None:
        """Move each reminder by its own number of minutes."""
        shifted = []
        for reminder_id, minutes in sorted(delays.items()):
            shifted.append((timedelta(minutes=minutes), reminder_id, guild_id, user_id))
        async with self.bot.pool.acquire() as conn:
            async with conn.transaction():
                await conn.executemany(
                    "UPDATE reminders SET due_at = due_at + $1"
                    " WHERE id = $2 AND guild_id = $3 AND user_id = $4 AND delivered_at IS NULL",
                    shifted,
                )

    async def deliver(self, now: datetime) -> list[tuple[int, str]]:
        """What the polling loop sends: (channel, text) for every due reminder."""
        batch = await self.due(now)
        if batch:
            await self.mark_delivered([r["id"] for r in batch], now)
        return [(r["channel_id"], f"<@{r['user_id']}> reminder: {r['body']}") for r in batch]

    # --- commands -------------------------------------------------------------

    @command("remind")
    async def cmd_remind(self, ctx: Context, minutes: int, body: str) -> None:
        due_at = await ctx.db.fetchval("SELECT now() + make_interval(mins => $1)", minutes)
        await self.schedule(ctx.guild_id, ctx.author_id, ctx.message.channel_id, due_at, body)
        await ctx.send(f"I will remind you in {minutes} minutes")

    @command("reminders")
    async def cmd_reminders(self, ctx: Context) -> None:
        rows = await self.upcoming(ctx.guild_id, ctx.author_id)
        await ctx.send("\n".join(f"#{r['id']} {r['body']}" for r in rows) or "no reminders")
