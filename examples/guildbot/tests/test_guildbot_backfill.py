"""scripts/backfill.py: its own pool, totals recomputed from the event log."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "backfill.py"


@pytest.fixture
def backfill():
    spec = importlib.util.spec_from_file_location("guildbot_backfill", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_backfill_fixes_drifted_totals_in_batches(backfill, karma, probe):
    await karma.award(1, 2, 3, 4)
    await karma.award(1, 5, 3, -1)
    await karma.award(1, 2, 6, 2)
    await karma.award(2, 2, 3, 1)
    await probe.execute("UPDATE members SET karma = 100 WHERE user_id = 3")
    assert await backfill.run(batch_size=1) == 2
    rows = await probe.fetch("SELECT guild_id, user_id, karma, profile::text AS profile FROM members ORDER BY 1, 2")
    assert [(r["guild_id"], r["user_id"], r["karma"]) for r in rows] == [(1, 3, 3), (1, 6, 2), (2, 3, 1)]
    assert json.loads(rows[0]["profile"]) == {"karma_events": 2}
    assert rows[1]["profile"] == "{}"  # untouched: its total was right
    assert await backfill.run() == 0


async def test_backfill_of_one_guild_leaves_the_others(backfill, karma, probe):
    await karma.award(1, 2, 3, 4)
    await karma.award(2, 2, 3, 4)
    await probe.execute("UPDATE members SET karma = 0")
    assert await backfill.run(guild_id=2) == 1
    assert [tuple(r) for r in await probe.fetch("SELECT guild_id, karma FROM members ORDER BY 1")] == [(1, 0), (2, 4)]
