"""A legacy bot that keeps one pooled connection for LISTEN/NOTIFY, asks its pool whether
it is closing, and drives a transaction by hand (start, commit, rollback). Migrated through
the CLI, it prints exactly what it printed on asyncpg, on a real server."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app

LEGACY = {
    "bot.py": """
        import asyncio
        import os
        from typing import Optional

        import asyncpg


        class Bot:
            def __init__(self, pool: asyncpg.Pool) -> None:
                self.pool = pool
                self.listener: Optional[asyncpg.Connection] = None
                self.heard: asyncio.Queue = asyncio.Queue()

            async def listen(self) -> None:
                while not self.pool.is_closing():
                    self.listener = conn = await self.pool.acquire()
                    conn.add_termination_listener(lambda c: None)

                    async def on_notice(conn, pid, channel, payload):
                        await self.heard.put((channel, payload))

                    await conn.add_listener("prefixes", on_notice)
                    break

            async def move_points(self, source: int, target: int, amount: int, fail: bool) -> None:
                conn = await self.pool.acquire()
                tr = conn.transaction()
                await tr.start()
                try:
                    await conn.execute("UPDATE wallets SET points = points - $1 WHERE id = $2", amount, source)
                    await conn.execute("UPDATE wallets SET points = points + $1 WHERE id = $2", amount, target)
                    if fail:
                        raise RuntimeError("refused")
                except Exception:
                    await tr.rollback()
                else:
                    await tr.commit()
                finally:
                    await self.pool.release(conn)

            async def close(self) -> None:
                if self.listener is not None:
                    await self.listener.close()
                await self.pool.close()


        async def main() -> None:
            pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=4)
            bot = Bot(pool)
            await bot.pool.execute("DROP TABLE IF EXISTS wallets")
            await bot.pool.execute("CREATE TABLE wallets (id int PRIMARY KEY, points int NOT NULL)")
            await bot.pool.execute("INSERT INTO wallets VALUES (1, 100), (2, 0)")
            await bot.listen()
            # the listener holds one connection of four; three more at once still fit
            async with bot.pool.acquire() as a, bot.pool.acquire() as b, bot.pool.acquire() as c:
                await a.execute("SELECT pg_notify('prefixes', $1)", "guild 7")
                print("three at once:", await b.fetchval("SELECT 1") + await c.fetchval("SELECT 2"))
            print("heard:", await asyncio.wait_for(bot.heard.get(), 5))
            await bot.move_points(1, 2, 30, fail=False)
            await bot.move_points(1, 2, 50, fail=True)
            print("wallets:", [tuple(r) for r in await bot.pool.fetch("SELECT id, points FROM wallets ORDER BY id")])
            print("closing before:", bot.pool.is_closing())
            await bot.pool.execute("DROP TABLE wallets")
            await bot.close()
            print("closing after:", bot.pool.is_closing())


        asyncio.run(main())
    """,
}


def _write(root: Path) -> Path:
    root.mkdir(parents=True)
    for name, text in LEGACY.items():
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def _run(root: Path, database_url: str) -> str:
    done = subprocess.run([sys.executable, "-W", "error::ResourceWarning", "bot.py"], cwd=root,
                          env=dict(os.environ, DATABASE_URL=database_url), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_listeners_hand_driven_transactions_and_closing_keep_their_behaviour(tmp_path, database_url):
    legacy = _write(tmp_path / "legacy")
    migrated = _write(tmp_path / "migrated")
    result = CliRunner().invoke(app, ["migrate", str(migrated), "--write"])
    assert result.exit_code == 0, result.output
    expected = _run(legacy, database_url)
    assert expected.splitlines() == [
        "three at once: 3", "heard: ('prefixes', 'guild 7')", "wallets: [(1, 70), (2, 30)]",
        "closing before: False", "closing after: True"]
    assert _run(migrated, database_url) == expected

    bot = (migrated / "bot.py").read_text()
    # the listener's connection is asyncpg's own, opened by the engine; its annotation stays
    assert "self.listener = conn = await dedicated_connection(self.pool)" in bot
    assert "self.listener: Optional[asyncpg.Connection] = None" in bot
    assert "await conn.add_listener(" in bot
    # the transaction driven by hand is asyncpg's own, on the driver connection
    assert "raw = await driver_connection(conn)\n" in bot and "tr = raw.transaction()" in bot
    assert "while not pool_is_closing(self.pool):" in bot and "await close_pool(self.pool)" in bot

    again = CliRunner().invoke(app, ["migrate", str(migrated)])
    assert again.exit_code == 0, again.output
    assert "0 changes" in again.output or "nothing to change" in again.output.lower()
