"""Karma: awarding, limits, the board, history and reset."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from guildbot.bot import CommandError


async def test_award_creates_the_receiver_and_returns_the_running_total(karma, probe):
    assert await karma.award(1, 7, 8, 2, "helped with the build") == 2
    assert await karma.award(1, 9, 8, 3) == 5
    row = await probe.fetchrow("SELECT display_name, karma FROM members WHERE guild_id = 1 AND user_id = 8")
    assert (row["display_name"], row["karma"]) == ("user 8", 5)
    assert await probe.fetchval("SELECT count(*) FROM karma_events") == 2


async def test_giving_yourself_karma_is_refused_and_writes_nothing(karma, probe):
    with pytest.raises(CommandError, match="yourself"):
        await karma.award(1, 7, 7, 1)
    assert await probe.fetchval("SELECT count(*) FROM karma_events") == 0


async def test_daily_limit_rolls_the_whole_award_back(karma, probe):
    await karma.award(1, 7, 8, 5)
    await karma.award(1, 7, 9, 4)
    with pytest.raises(CommandError, match="1 more points"):
        await karma.award(1, 7, 10, 2)
    assert await probe.fetchval("SELECT count(*) FROM members WHERE user_id = 10") == 0
    assert await karma.award(1, 7, 10, -1) == -1


async def test_amount_outside_the_check_constraint_raises_the_server_error(karma):
    import asyncpg

    with pytest.raises(asyncpg.CheckViolationError):
        await karma.award(1, 7, 8, 0)


async def test_total_of_an_unknown_member_is_zero(karma):
    assert await karma.total(1, 12345) == 0
    await karma.award(1, 2, 3, 4)
    assert await karma.total(1, 3) == 4
    assert await karma.total(2, 3) == 0


async def test_leaderboard_orders_by_points_then_name_and_skips_zero(karma, member):
    await member(20, "zed")
    await member(21, "amy")
    await member(22, "bob")
    await member(23, "nobody")
    await karma.award(1, 1, 20, 3)
    await karma.award(1, 2, 21, 3)
    await karma.award(1, 3, 22, 5)
    await karma.award(1, 4, 22, -1)
    assert await karma.leaderboard(1) == [("bob", 4), ("amy", 3), ("zed", 3)]
    assert await karma.leaderboard(1, limit=1) == [("bob", 4)]
    assert await karma.leaderboard(2) == []


async def test_history_filters_by_time_and_keeps_order(karma, probe):
    await karma.award(1, 5, 6, 1, "first")
    await karma.award(1, 7, 6, 2, None)
    await probe.execute("UPDATE karma_events SET given_at = given_at - interval '3 days' WHERE reason = 'first'")
    everything = await karma.history(1, 6)
    assert [(r["giver_id"], r["amount"], r["reason"]) for r in everything] == [(5, 1, "first"), (7, 2, None)]
    assert isinstance(everything[0]["given_at"], datetime) and everything[0]["given_at"].tzinfo is not None
    recent = await karma.history(1, 6, datetime.now(timezone.utc) - timedelta(days=1))
    assert [r["giver_id"] for r in recent] == [7]


async def test_reset_clears_events_and_total_and_says_whether_the_member_existed(karma, probe):
    await karma.award(1, 5, 6, 3)
    assert await karma.reset(1, 6) is True
    assert await karma.total(1, 6) == 0
    assert await probe.fetchval("SELECT count(*) FROM karma_events") == 0
    assert await karma.reset(1, 999) is False
