"""Several asyncpg pools become one engine only when they are the same pool in all that
reaches a connection: the same URL (however it is written) and the same connection
settings. Otherwise the run stops before writing, naming what differs."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app
from tests.example_tree import git_tree

CONFIG = """
    import os

    DATABASE_URL = os.environ.get("DATABASE_URL", "postgresql://app@localhost/app")
"""


def _migrate(root: Path):
    return CliRunner().invoke(app, ["migrate", str(root), "--no-diff", "--no-import-check"])


def test_one_url_written_four_ways_is_one_url(tmp_path):
    root = git_tree(tmp_path, {
        "svc/__init__.py": "",
        "svc/config.py": CONFIG,
        "svc/db.py": """
            import asyncpg

            from svc import config


            class Database:
                def __init__(self, dsn=None):
                    self.dsn = dsn or config.DATABASE_URL
                    self.pool = None

                async def connect(self):
                    self.pool = await asyncpg.create_pool(dsn=self.dsn, max_size=5)

                async def names(self):
                    return await self.pool.fetch("SELECT name FROM items WHERE id > $1", 0)


            db = Database()
        """,
        "svc/worker.py": """
            import asyncpg

            from svc.config import DATABASE_URL


            async def run():
                pool = await asyncpg.create_pool(DATABASE_URL)
                return await pool.fetchval("SELECT count(*) FROM items WHERE id > $1", 0)
        """,
        "svc/jobs.py": """
            import asyncpg

            from .config import DATABASE_URL


            async def open_pool(dsn=DATABASE_URL):
                return await asyncpg.create_pool(dsn)


            async def start():
                pool = await open_pool()
                return await pool.fetchval("SELECT 1 WHERE $1", True)
        """,
    })
    result = _migrate(root)
    assert "different URLs" not in result.output, result.output
    assert not [line for line in result.output.splitlines() if line.startswith("manual")], result.output
    assert result.exit_code == 1  # changes pending: a dry run
    assert "fetchval" in result.output or "repositories" in result.output


def test_a_url_a_caller_passes_stays_a_parameter(tmp_path):
    root = git_tree(tmp_path, {
        "svc/__init__.py": "",
        "svc/config.py": CONFIG + "ARCHIVE_URL = os.environ['ARCHIVE_URL']\n",
        "svc/db.py": """
            import asyncpg

            from svc import config


            async def open_pool(dsn=config.DATABASE_URL):
                return await asyncpg.create_pool(dsn)


            async def main():
                live = await asyncpg.create_pool(config.DATABASE_URL)
                archive = await open_pool(config.ARCHIVE_URL)
                return live, archive
        """,
    })
    result = _migrate(root)
    assert any(line.startswith("manual") and "svc/db.py" in line for line in result.output.splitlines()), result.output


def _two_pools(tmp_path: Path, first: str, second: str) -> Path:
    return git_tree(tmp_path, {
        "svc/__init__.py": "",
        "svc/config.py": CONFIG,
        "svc/db.py": f"""
            import json

            import asyncpg

            from svc.config import DATABASE_URL


            async def _codecs(conn):
                await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


            async def pools():
                main = await asyncpg.create_pool(DATABASE_URL{first})
                other = await asyncpg.create_pool(DATABASE_URL{second})
                return main, other


            async def count(pool):
                return await pool.fetchval("SELECT count(*) FROM events WHERE id > $1", 0)
        """,
    })


def test_pools_with_different_connection_settings_stop_the_run(tmp_path):
    for index, (first, second, shown) in enumerate([
        (", init=_codecs", "", "init=_codecs at svc/db.py:14; none at svc/db.py:15"),
        ("", ", server_settings={'search_path': 'archive,public'}", "search_path"),
        (", command_timeout=5", ", command_timeout=60", "command_timeout=5"),
    ]):
        root = _two_pools(tmp_path / str(index), first, second)
        before = (root / "svc/db.py").read_text()
        result = CliRunner().invoke(app, ["migrate", str(root), "--write", "--no-diff", "--no-import-check"])
        assert result.exit_code == 1, result.output
        assert "different settings" in result.output and shown in result.output, result.output
        assert (root / "svc/db.py").read_text() == before


def test_pools_that_differ_only_in_size_share_the_engine(tmp_path):
    root = _two_pools(tmp_path, ", init=_codecs, max_size=4", ", init=_codecs, min_size=1, max_size=20")
    result = CliRunner().invoke(app, ["migrate", str(root), "--write", "--no-diff", "--no-import-check"])
    assert result.exit_code == 0, result.output
    assert "pool_size=20" in (root / "svc/engine.py").read_text()
