"""``python -m guildbot``: the bot on a console instead of a gateway (one message per line)."""
from __future__ import annotations

import asyncio
import sys

from guildbot.bot import Message
from guildbot.models import init_models
from guildbot.wiring import started_bot


async def console(guild_id: int = 1, channel_id: int = 1, user_id: int = 1) -> None:
    bot = await started_bot()
    await init_models()
    try:
        for line in sys.stdin:
            for reply in await bot.handle(Message(guild_id, channel_id, user_id, "console", line.strip())):
                print(reply)
    finally:
        await bot.close()


if __name__ == "__main__":
    asyncio.run(console())
