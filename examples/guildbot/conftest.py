"""Fixtures of the guildbot tests.

One scratch database per test session, provisioned when pytest starts: the ORM
module builds its engine at import time from ``SETTINGS_DATABASE_URL``, so both
URL variables must point at the scratch database before any test module is
imported.  Every test starts with empty tables and a freshly started bot.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

BOT_TABLES = "karma_events, reminders, tags, members"
ORM_TABLES = "guild_config, mod_actions"
_STATE: dict = {}


def _db_required() -> bool:
    return os.environ.get("UNIFY_REQUIRE_DB", "").strip().lower() in {"1", "true", "yes", "on"}


def _migrate_if_alembic(url: str) -> None:
    """When the schema is kept by Alembic (an alembic.ini here), build it with
    `alembic upgrade head` rather than through start-up code."""
    root = Path(__file__).resolve().parent
    if not (root / "alembic.ini").is_file():
        return
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), "upgrade", "head"],
                          cwd=root, env={**os.environ, "GUILDBOT_DSN": url}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"alembic upgrade head failed:\n{done.stderr[-2000:]}")


async def _use_utc(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'UTC'")
    finally:
        await conn.close()


def pytest_configure(config):
    stack = contextlib.ExitStack()
    try:
        from pgunify.postgres import provision, scratch_database

        server = stack.enter_context(provision())
        url = stack.enter_context(scratch_database(server, prefix="guildbot_test"))
        plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        asyncio.run(_use_utc(plain))
        _migrate_if_alembic(plain)
    except Exception as exc:
        stack.close()
        _STATE["error"] = exc
        return
    orm = make_url(plain).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    _STATE["saved"] = {name: os.environ.get(name) for name in ("GUILDBOT_DSN", "SETTINGS_DATABASE_URL")}
    os.environ["GUILDBOT_DSN"] = plain
    os.environ["SETTINGS_DATABASE_URL"] = orm
    _STATE.update(url=plain, stack=stack)


def pytest_unconfigure(config):
    for name, value in _STATE.pop("saved", {}).items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    stack = _STATE.pop("stack", None)
    if stack is not None:
        stack.close()


@pytest.fixture(scope="session")
def guildbot_url() -> str:
    error = _STATE.get("error")
    if error is not None:
        message = f"no PostgreSQL for the guildbot tests: {type(error).__name__}: {error}"
        if _db_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message.splitlines()[0])
    return _STATE["url"]


@pytest.fixture
async def probe(guildbot_url):
    """A plain connection (no jsonb codec) for looking at the tables from outside."""
    conn = await asyncpg.connect(guildbot_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def orm(guildbot_url):
    models = importlib.import_module("guildbot.models")
    await models.init_models()
    async with models.engine.begin() as conn:
        await conn.exec_driver_sql(f"TRUNCATE {ORM_TABLES} RESTART IDENTITY")
    try:
        yield models
    finally:
        await models.engine.dispose()


@pytest.fixture
async def bot(guildbot_url, orm):
    from guildbot.wiring import started_bot

    started = await started_bot()
    try:
        async with started.pool.acquire() as conn:
            await conn.execute(f"TRUNCATE {BOT_TABLES} RESTART IDENTITY CASCADE")
        yield started
    finally:
        await started.close()


@pytest.fixture
def karma(bot):
    return bot.cogs["Karma"]


@pytest.fixture
def reminders(bot):
    return bot.cogs["Reminders"]


@pytest.fixture
def tags(bot):
    return bot.cogs["Tags"]


@pytest.fixture
def say(bot):
    """``await say("!karma 42", author=7)`` -> the bot's replies."""
    from guildbot.bot import Message

    async def send(content: str, author: int = 100, guild: int = 1, channel: int = 10, name: str | None = None):
        return await bot.handle(Message(guild, channel, author, name or f"user{author}", content))

    return send


@pytest.fixture
async def member(bot):
    """``await member(user_id, name)`` -> make a member known to the bot."""
    from guildbot import db

    async def make(user_id: int, name: str | None = None, guild: int = 1):
        await db.ensure_member(bot.pool, guild, user_id, name or f"user{user_id}")
        return user_id

    return make
