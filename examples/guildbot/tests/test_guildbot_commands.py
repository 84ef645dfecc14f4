"""The bot end to end: messages in, replies out, with ctx.db and the ORM settings."""
from __future__ import annotations

import pytest

from guildbot import db


async def test_messages_without_the_prefix_or_unknown_commands_get_no_reply(say):
    assert await say("hello") == []
    assert await say("!dance") == []
    assert await say('!tag "unbalanced') == ["unbalanced quotes"]


async def test_thanks_then_karma_and_top(say):
    assert await say("!thanks 8 great review", author=7, name="ann") == ["<@8> now has 1 karma"]
    assert await say("!thanks 8", author=9) == ["<@8> now has 2 karma"]
    assert await say("!karma 8") == ["user 8: 2 karma"]
    assert await say("!karma 7") == ["ann: 0 karma"]  # the giver was registered by the command
    assert await say("!karma 55") == ["I have not seen that member yet"]
    assert await say("!karma x") == ["member must be a number"]
    assert await say("!top") == ["1. user 8 (2)"]
    assert await say("!thanks 7", author=7) == ["you cannot give karma to yourself"]


async def test_tag_commands(say):
    assert await say("!tag-add Rules be kind to each other", author=3) == ["tag 'rules' saved"]
    assert await say("!tag rules") == ["be kind to each other"]
    assert await say("!tag-info rules") == ["rules: owned by <@3>, used 1 times"]
    assert await say("!tag-add rules again") == ["tag 'rules' exists already"]
    assert await say("!tag-info nope") == ["no tag called 'nope'"]


async def test_remind_uses_the_server_clock_and_lists(say, probe):
    assert await say("!remind 30 stretch your legs", author=4) == ["I will remind you in 30 minutes"]
    due = await probe.fetchval("SELECT due_at - now() FROM reminders")
    assert 29 * 60 < due.total_seconds() <= 30 * 60
    reply = await say("!reminders", author=4)
    assert len(reply) == 1 and reply[0].endswith("stretch your legs")
    assert await say("!reminders", author=5) == ["no reminders"]


async def test_prefix_and_warn_go_through_the_orm(say, orm, member):
    await member(8, "dan")
    assert await say("!prefix ?") == ["prefix is now ?"]
    assert await say("!prefix toolong") == ["a prefix is 1 to 5 characters without spaces"]
    assert await say("!warn 8 spamming", author=2) == ["dan was warned"]
    assert await say("!warn 9") == ["I have not seen that member yet"]
    async with orm.SessionLocal() as session:
        config = await orm.SettingsDAO.get(session, 1)
        actions = await orm.SettingsDAO.recent_actions(session, 1)
    assert (config.prefix, config.locale, config.extras) == ("?", "en", {})
    assert [(a.moderator_id, a.target_id, a.action, a.note) for a in actions] == [(2, 8, "warn", "spamming")]


async def test_ctx_db_is_the_bots_pool_and_helpers_take_a_pool_or_a_connection(bot, member):
    from guildbot.bot import Context, Message

    ctx = Context(bot, Message(1, 1, 1, "x", "!noop"))
    assert ctx.db is bot.pool
    await member(5, "eve")
    from_pool = await db.fetch_member(ctx.db, 1, 5)
    async with bot.pool.acquire() as conn:
        async with conn.transaction():
            profile = await db.update_profile(conn, 1, 5, {"pronouns": "she/her", "tz": "UTC"})
            inside = await db.fetch_member(bot.pool, 1, 5, conn=conn)
    assert profile == {"pronouns": "she/her", "tz": "UTC"}
    assert inside["profile"] == profile and from_pool["profile"] == {}
    assert await db.update_profile(bot.pool, 1, 5, {"tz": None}) == {"pronouns": "she/her"}
    assert await db.update_profile(bot.pool, 1, 404, {"tz": "UTC"}) is None


async def test_a_stopped_bot_has_no_pool():
    from guildbot.bot import Bot

    with pytest.raises(RuntimeError, match="not started"):
        Bot().pool
