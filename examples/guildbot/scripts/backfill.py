"""Recompute every member's karma from the event log, and profile fields from history.

Run after restoring a backup or after editing karma_events by hand:

    GUILDBOT_DSN=postgresql://... python scripts/backfill.py [--guild ID]

It opens its own small pool; the bot may keep running meanwhile.
"""
from __future__ import annotations

import argparse
import asyncio
import os

import asyncpg

TOTALS = """
SELECT m.guild_id, m.user_id, m.karma, coalesce(sum(e.amount), 0)::int AS recomputed,
       count(e.id) AS events
  FROM members m
  LEFT JOIN karma_events e ON e.guild_id = m.guild_id AND e.receiver_id = m.user_id
 WHERE $1::bigint IS NULL OR m.guild_id = $1
 GROUP BY m.guild_id, m.user_id, m.karma
 ORDER BY m.guild_id, m.user_id
"""

FIX_MEMBER = """
UPDATE members
   SET karma = $3,
       profile = jsonb_set(profile, '{karma_events}', to_jsonb($4::int))
 WHERE guild_id = $1 AND user_id = $2
"""


async def run(guild_id: int | None = None, batch_size: int = 500) -> int:
    """Fix every member whose total is off; return how many rows changed."""
    pool = await asyncpg.create_pool(os.environ["GUILDBOT_DSN"], min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            rows = await conn.fetch(TOTALS, guild_id, timeout=60)
            fixes = [
                (r["guild_id"], r["user_id"], r["recomputed"], r["events"])
                for r in rows
                if r["karma"] != r["recomputed"]
            ]
            for start in range(0, len(fixes), batch_size):
                async with conn.transaction():
                    await conn.executemany(FIX_MEMBER, fixes[start:start + batch_size])
        return len(fixes)
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--guild", type=int, default=None)
    args = parser.parse_args()
    changed = asyncio.run(run(args.guild))
    print(f"{changed} members fixed")


if __name__ == "__main__":
    main()
