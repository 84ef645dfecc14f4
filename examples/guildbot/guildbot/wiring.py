"""Ready-made objects for the console, the smoke tests and tooling: a started bot
with its cogs, and each cog on its own (``await karma()``)."""
from __future__ import annotations

from guildbot.bot import Bot


async def started_bot() -> Bot:
    bot = Bot()
    await bot.start()
    bot.load_default_cogs()
    return bot


async def karma():
    return (await started_bot()).cogs["Karma"]


async def reminders():
    return (await started_bot()).cogs["Reminders"]


async def tags():
    return (await started_bot()).cogs["Tags"]
