"""Reminders: series stored in one executemany, polling, delivery, postponing."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from guildbot.bot import CommandError

T0 = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


async def test_a_single_reminder_has_no_series(reminders, probe):
    assert await reminders.schedule(1, 7, 10, T0, "stand-up") is None
    row = await probe.fetchrow("SELECT user_id, channel_id, due_at, body, series FROM reminders")
    assert tuple(row) == (7, 10, T0, "stand-up", None)


async def test_a_series_is_spaced_and_shares_its_id(reminders, probe):
    series = await reminders.schedule(1, 7, 10, T0, "water the plants", repeat=3, every_hours=12)
    assert isinstance(series, uuid.UUID)
    rows = await probe.fetch("SELECT due_at, series FROM reminders ORDER BY due_at")
    assert [r["due_at"] for r in rows] == [T0, T0 + timedelta(hours=12), T0 + timedelta(hours=24)]
    assert {r["series"] for r in rows} == {series}


async def test_repeat_out_of_range_is_refused(reminders, probe):
    with pytest.raises(CommandError):
        await reminders.schedule(1, 7, 10, T0, "x", repeat=0)
    with pytest.raises(CommandError):
        await reminders.schedule(1, 7, 10, T0, "x", repeat=53)
    assert await probe.fetchval("SELECT count(*) FROM reminders") == 0


async def test_a_body_breaking_the_check_leaves_no_row_of_the_series(reminders, probe):
    import asyncpg

    with pytest.raises(asyncpg.CheckViolationError):
        await reminders.schedule(1, 7, 10, T0, "", repeat=4)
    assert await probe.fetchval("SELECT count(*) FROM reminders") == 0


async def test_due_and_deliver_send_each_reminder_once(reminders):
    await reminders.schedule(1, 7, 10, T0, "early")
    await reminders.schedule(1, 8, 11, T0 + timedelta(hours=1), "later")
    assert [r["body"] for r in await reminders.due(T0 + timedelta(minutes=5))] == ["early"]
    sent = await reminders.deliver(T0 + timedelta(hours=2))
    assert sent == [(10, "<@7> reminder: early"), (11, "<@8> reminder: later")]
    assert await reminders.deliver(T0 + timedelta(hours=3)) == []


async def test_mark_delivered_counts_only_pending_rows(reminders, probe):
    await reminders.schedule(1, 7, 10, T0, "a", repeat=3)
    ids = [r["id"] for r in await probe.fetch("SELECT id FROM reminders ORDER BY id")]
    assert await reminders.mark_delivered(ids[:2], T0) == 2
    assert await reminders.mark_delivered(ids, T0) == 1
    assert await reminders.mark_delivered([], T0) == 0


async def test_upcoming_and_cancel_series(reminders):
    series = await reminders.schedule(1, 7, 10, T0, "weekly", repeat=4, every_hours=168)
    await reminders.schedule(1, 7, 10, T0 + timedelta(days=1), "once")
    assert [r["body"] for r in await reminders.upcoming(1, 7)] == ["weekly", "once", "weekly", "weekly", "weekly"]
    assert await reminders.cancel_series(8, series) == 0  # not the owner
    assert await reminders.cancel_series(7, series) == 4
    assert [r["body"] for r in await reminders.upcoming(1, 7)] == ["once"]


async def test_postpone_moves_each_reminder_by_its_own_delay(reminders, probe):
    await reminders.schedule(1, 7, 10, T0, "a", repeat=2, every_hours=1)
    await reminders.schedule(1, 8, 10, T0, "not mine")
    ids = [r["id"] for r in await probe.fetch("SELECT id FROM reminders ORDER BY id")]
    await reminders.postpone(1, 7, {ids[0]: 30, ids[1]: 5, ids[2]: 60})
    rows = await probe.fetch("SELECT id, due_at FROM reminders ORDER BY id")
    assert [r["due_at"] for r in rows] == [T0 + timedelta(minutes=30), T0 + timedelta(minutes=65), T0]
