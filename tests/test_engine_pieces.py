"""A pool given its server in pieces (user=, database=, host=, **settings) moves onto the one
engine: use_database_url() takes the same names, and the migrated program reaches the same
database, on a real server."""

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
        import asyncpg


        class Bot:
            def __init__(self, settings: dict):
                self.settings = settings
                self.pool = None

            async def start(self):
                self.pool = await asyncpg.create_pool(
                    host=self.settings["host"],
                    port=self.settings["port"],
                    user=self.settings["user"],
                    database=self.settings["database"],
                    min_size=1,
                    max_size=4,
                )

            async def where(self) -> str:
                return await self.pool.fetchval("SELECT current_database() || ':' || current_user")
    """,
    "spare.py": """
        import asyncpg


        async def spare(settings: dict) -> str:
            pool = await asyncpg.create_pool(**settings, min_size=1, max_size=2)
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT current_database()")
    """,
    "main.py": """
        import asyncio
        import os
        from urllib.parse import urlsplit

        import bot


        async def main():
            url = urlsplit(os.environ["DATABASE_URL"])
            settings = {"host": url.hostname, "port": url.port or 5432, "user": url.username,
                        "database": url.path.lstrip("/")}
            b = bot.Bot(settings)
            await b.start()
            print(await b.where())
            if os.environ.get("SPARE"):
                import spare

                print(await spare.spare(settings))


        asyncio.run(main())
    """,
}


def _write(root: Path, leave_out: str) -> Path:
    root.mkdir(parents=True)
    for name, text in LEGACY.items():
        if name == leave_out:
            continue
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def _run(root: Path, database_url: str) -> str:
    spare = "1" if (root / "spare.py").exists() else ""
    done = subprocess.run([sys.executable, "main.py"], cwd=root,
                          env=dict(os.environ, DATABASE_URL=database_url, SPARE=spare),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_server_given_in_pieces_moves_onto_the_engine(tmp_path, database_url):
    legacy = _write(tmp_path / "legacy", leave_out="spare.py")
    migrated = _write(tmp_path / "migrated", leave_out="spare.py")
    result = CliRunner().invoke(app, ["migrate", str(migrated), "--write"])
    assert result.exit_code == 0, result.output
    source = (migrated / "bot.py").read_text()
    assert "create_pool" not in source
    assert "use_database_url(\n            host=self.settings[\"host\"],\n" in source
    expected = _run(legacy, database_url)
    assert expected.count("\n") == 1
    assert _run(migrated, database_url) == expected


def test_settings_unpacked_into_the_pool_move_with_it(tmp_path, database_url):
    legacy = _write(tmp_path / "legacy", leave_out="bot.py")
    migrated = _write(tmp_path / "migrated", leave_out="bot.py")
    (legacy / "bot.py").write_text("class Bot:\n    pass\n")
    (migrated / "bot.py").write_text("class Bot:\n    pass\n")
    for root in (legacy, migrated):
        main = (root / "main.py").read_text().replace("    b = bot.Bot(settings)\n    await b.start()\n    print(await b.where())\n", "")
        (root / "main.py").write_text(main)
    result = CliRunner().invoke(app, ["migrate", str(migrated), "--write"])
    assert result.exit_code == 0, result.output
    assert "use_database_url(**settings)" in (migrated / "spare.py").read_text()
    expected = _run(legacy, database_url)
    assert expected.count("\n") == 1
    assert _run(migrated, database_url) == expected
