"""A legacy application whose pool travels: held by a data-layer object, read back through a
property of another class, inherited from a base class in another module, mixed with an
optional connection, and a connection of its own handed to a helper. Migrated through the
CLI, the application prints exactly what it printed on asyncpg, on a real server."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app
from tests.example_tree import run_main, write_program

LEGACY = {
    "storage.py": """
        import asyncpg


        class Storage:
            pool: asyncpg.Pool

            def __init__(self, pool):
                self.pool = pool

            @classmethod
            async def connect(cls, url: str) -> "Storage":
                return cls(await asyncpg.create_pool(url, min_size=1, max_size=3))

            async def version_number(self) -> int:
                async with self.pool.acquire() as conn:
                    return await conn.fetchval("SELECT current_setting('server_version_num')::int / 10000")
    """,
    "handlers.py": """
        from storage import Storage


        class Request:
            def __init__(self, storage: Storage):
                self.storage = storage

            @property
            def database(self):
                return self.storage.pool


        async def squares(storage: Storage, upto: int):
            async with storage.pool.acquire() as conn:
                rows = await conn.fetch("SELECT g, g * g AS sq FROM generate_series(1, $1) AS g", upto)
            return [(r["g"], r[1]) for r in rows]


        async def greet(request: Request, name: str) -> str:
            return await request.database.fetchval("SELECT 'hello ' || $1::text", name)
    """,
    "base_repo.py": """
        import asyncpg


        class BaseRepo:
            def __init__(self, pool: asyncpg.Pool):
                self.pool = pool
    """,
    "colours.py": """
        from typing import Optional

        import asyncpg

        from base_repo import BaseRepo


        class Colours(BaseRepo):
            async def named(self, code: int, *, connection: Optional[asyncpg.Connection] = None):
                runner = connection or self.pool
                return await runner.fetchrow(
                    "SELECT $1::int AS code, (ARRAY['red', 'green', 'blue'])[$1] AS name", code)

            async def count(self) -> int:
                async with self.pool.acquire() as conn:
                    return await conn.fetchval("SELECT count(*) FROM generate_series(1, 3)")
    """,
    "maintenance.py": """
        import asyncpg


        async def run_script(connection: asyncpg.Connection) -> str:
            async with connection.transaction():
                await connection.execute("CREATE TEMP TABLE chores (n int); INSERT INTO chores VALUES (1), (2), (5)")
                return str(await connection.fetchval("SELECT sum(n) FROM chores"))


        async def maintain(url: str) -> str:
            connection = await asyncpg.connect(url)
            try:
                return await run_script(connection)
            finally:
                await connection.close()
    """,
    "main.py": """
        import asyncio
        import os

        import colours
        import handlers
        import maintenance
        from storage import Storage


        async def main():
            url = os.environ["DATABASE_URL"]
            storage = await Storage.connect(url)
            palette = colours.Colours(storage.pool)
            steps = [
                ("version", storage.version_number()),
                ("squares", handlers.squares(storage, 3)),
                ("greet", handlers.greet(handlers.Request(storage), "ada")),
                ("named", palette.named(2)),
                ("count", palette.count()),
                ("maintain", maintenance.maintain(url)),
            ]
            for label, step in steps:
                try:
                    value = await step
                    if hasattr(value, "keys"):
                        value = dict(value)
                    print(label, repr(value))
                except Exception as exc:
                    print(label, type(exc).__name__, exc)


        asyncio.run(main())
    """,
}


def _write(root: Path) -> Path:
    return write_program(root, LEGACY)


def _run(root: Path, database_url: str) -> str:
    return run_main(root, database_url)


def test_every_path_of_the_pool_moves_and_the_output_stays(tmp_path, database_url):
    legacy = _write(tmp_path / "legacy")
    migrated = _write(tmp_path / "migrated")
    result = CliRunner().invoke(app, ["migrate", str(migrated), "--write"])
    assert result.exit_code == 0, result.output
    expected = _run(legacy, database_url)
    assert "Error" not in expected and expected.count("\n") == 6
    assert _run(migrated, database_url) == expected

    # the pool became the engine, and nothing of asyncpg's pool API is left on it
    handlers = (migrated / "handlers.py").read_text()
    assert "request.database.connect() as conn" in handlers and ".acquire(" not in handlers
    assert "storage.pool.connect()" in handlers
    assert "self.pool.connect()" in (migrated / "colours.py").read_text()
    # a receiver that may be a pool or a connection runs on the asyncpg connection under it
    assert "asyncpg_connection(runner)" in (migrated / "colours.py").read_text()
    # a connection of its own stays on asyncpg, annotation and all
    assert (migrated / "maintenance.py").read_text() == (legacy / "maintenance.py").read_text()

    # a second run finds nothing more to do
    again = CliRunner().invoke(app, ["migrate", str(migrated)])
    assert again.exit_code == 0, again.output
