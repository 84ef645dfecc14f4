"""A small chat-bot core in the style of the popular bot frameworks.

Commands are methods of cogs marked with ``@command``; the bot parses a message,
finds the command and calls it with a :class:`Context`.  The transport (gateway,
websocket) is not part of this module: whatever feeds messages in calls
``await bot.handle(message)`` and sends what ``ctx.send`` collected.
"""
from __future__ import annotations

import inspect
import logging
import shlex
from dataclasses import dataclass, field
from typing import Any, Callable

import asyncpg

from guildbot import db

log = logging.getLogger(__name__)


def command(name: str | None = None) -> Callable:
    def mark(func: Callable) -> Callable:
        func.__command_name__ = name or func.__name__.removeprefix("cmd_")
        return func

    return mark


class CommandError(Exception):
    """Shown to the user as the reply."""


@dataclass
class Message:
    guild_id: int
    channel_id: int
    author_id: int
    author_name: str
    content: str


@dataclass
class Context:
    bot: "Bot"
    message: Message
    replies: list[str] = field(default_factory=list)

    @property
    def db(self) -> asyncpg.Pool:
        return self.bot.pool

    @property
    def guild_id(self) -> int:
        return self.message.guild_id

    @property
    def author_id(self) -> int:
        return self.message.author_id

    async def send(self, text: str) -> None:
        self.replies.append(text)


class Cog:
    def __init__(self, bot: "Bot") -> None:
        self.bot = bot

    def commands(self) -> dict[str, Callable]:
        found = {}
        for _, member in inspect.getmembers(self, inspect.ismethod):
            name = getattr(member, "__command_name__", None)
            if name:
                found[name] = member
        return found


class Bot:
    def __init__(self, prefix: str = "!") -> None:
        self.prefix = prefix
        self._pool: asyncpg.Pool | None = None
        self.cogs: dict[str, Cog] = {}
        self._commands: dict[str, Callable] = {}

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the bot is not started; await bot.start() first")
        return self._pool

    async def start(self) -> None:
        if self._pool is None:
            self._pool = await db.create_bot_pool()
            await db.apply_schema(self._pool)
            log.info("database ready")

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def add_cog(self, cog: Cog) -> None:
        self.cogs[type(cog).__name__] = cog
        self._commands.update(cog.commands())

    def load_default_cogs(self) -> None:
        from guildbot.cogs import Karma, Reminders, Settings, Tags

        for cog_class in (Karma, Reminders, Tags, Settings):
            self.add_cog(cog_class(self))

    async def handle(self, message: Message) -> list[str]:
        """Run the command in ``message`` (if any) and return the replies."""
        if not message.content.startswith(self.prefix):
            return []
        try:
            words = shlex.split(message.content[len(self.prefix):])
        except ValueError:
            return ["unbalanced quotes"]
        if not words or words[0] not in self._commands:
            return []
        ctx = Context(self, message)
        handler = self._commands[words[0]]
        try:
            await handler(ctx, *_convert(handler, words[1:]))
        except CommandError as exc:
            await ctx.send(str(exc))
        return ctx.replies


def _convert(handler: Callable, words: list[str]) -> list[Any]:
    params = list(inspect.signature(handler).parameters.values())[1:]
    if len(words) < len([p for p in params if p.default is p.empty and p.kind is p.POSITIONAL_OR_KEYWORD]):
        raise CommandError("missing arguments")
    values: list[Any] = []
    for index, word in enumerate(words):
        if index >= len(params):
            values[-1] = f"{values[-1]} {word}"  # the last parameter takes the rest of the line
            continue
        if params[index].annotation in (int, "int"):
            try:
                values.append(int(word))
            except ValueError:
                raise CommandError(f"{params[index].name} must be a number") from None
        else:
            values.append(word)
    return values
