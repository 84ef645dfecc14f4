"""Tags: create, use, edit, delete, search and bulk import."""
from __future__ import annotations

import pytest

from guildbot import db
from guildbot.bot import CommandError


async def test_create_lowercases_the_name_and_decodes_meta(tags):
    row = await tags.create(1, "Rules", "be kind", 7, {"pinned": True, "lang": ["en"]})
    assert (row["name"], row["content"], row["owner_id"], row["uses"]) == ("rules", "be kind", 7, 0)
    assert row["meta"] == {"pinned": True, "lang": ["en"]}
    plain = await tags.create(1, "faq", "see the wiki", 7)
    assert plain["meta"] == {}


async def test_a_taken_name_is_a_command_error(tags):
    await tags.create(1, "rules", "be kind", 7)
    with pytest.raises(CommandError, match="exists already"):
        await tags.create(1, "RULES", "other", 8)
    await tags.create(2, "rules", "another guild", 8)


async def test_use_counts_and_unknown_is_none(tags, probe):
    await tags.create(1, "rules", "be kind", 7)
    assert await tags.use(1, "Rules") == "be kind"
    assert await tags.use(1, "rules") == "be kind"
    assert await tags.use(1, "nothing") is None
    assert await probe.fetchval("SELECT uses FROM tags WHERE name = 'rules'") == 2


async def test_get_goes_through_the_shared_helper_on_the_pool(tags, bot):
    await tags.create(1, "rules", "be kind", 7)
    via_cog = await tags.get(1, "RULES")
    async with bot.pool.acquire() as conn:
        via_connection = await db.fetch_tag(conn, 1, "rules")
    assert dict(via_cog) == dict(via_connection)
    assert await tags.get(1, "missing") is None


async def test_edit_and_delete_only_by_the_owner(tags):
    await tags.create(1, "rules", "be kind", 7)
    assert await tags.edit(1, "rules", 8, "mine now") is False
    assert await tags.edit(1, "Rules", 7, "be very kind") is True
    assert (await tags.get(1, "rules"))["content"] == "be very kind"
    assert await tags.delete(1, "rules", 8) is False
    assert await tags.delete(1, "RULES", 7) is True
    assert await tags.delete(1, "rules", 7) is False


async def test_search_by_prefix_most_used_first(tags):
    for name in ("git", "github", "gitlab", "python"):
        await tags.create(1, name, f"about {name}", 7)
    await tags.use(1, "gitlab")
    assert await tags.search(1, "GIT") == ["gitlab", "git", "github"]
    assert await tags.search(1, "git", limit=1) == ["gitlab"]
    assert await tags.search(1, "x") == []


async def test_import_keeps_existing_names_and_counts_new_ones(tags, probe):
    await tags.create(1, "rules", "original", 7)
    added = await tags.import_tags(1, 9, {"Rules": "imported", "Welcome": "hi", "bye": "see you"})
    assert added == 2
    rows = await probe.fetch("SELECT name, content, owner_id, meta::text AS meta FROM tags ORDER BY name")
    assert [(r["name"], r["content"], r["owner_id"]) for r in rows] == [
        ("bye", "see you", 9), ("rules", "original", 7), ("welcome", "hi", 9)]
    assert rows[0]["meta"] == '{"imported": true}'
    assert await tags.import_tags(1, 9, {}) == 0
