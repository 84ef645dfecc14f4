"""Per-guild settings and moderation notes (ORM side)."""
from __future__ import annotations

from guildbot import db
from guildbot.bot import Cog, CommandError, Context, command
from guildbot.models import SessionLocal, SettingsDAO


class Settings(Cog):
    @command("prefix")
    async def cmd_prefix(self, ctx: Context, prefix: str) -> None:
        async with SessionLocal() as session:
            try:
                config = await SettingsDAO.set_prefix(session, ctx.guild_id, prefix)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        await ctx.send(f"prefix is now {config.prefix}")

    @command("warn")
    async def cmd_warn(self, ctx: Context, member: int, note: str = "") -> None:
        target = await db.fetch_member(ctx.db, ctx.guild_id, member)
        if target is None:
            raise CommandError("I have not seen that member yet")
        async with SessionLocal() as session:
            await SettingsDAO.log_action(session, ctx.guild_id, ctx.author_id, member, "warn", note or None)
        await ctx.send(f"{target['display_name']} was warned")
