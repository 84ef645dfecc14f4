"""Where pools and engines get their URL and callbacks, end to end through `pgunify migrate`:
what moves onto the shared engine, what stays, and what refuses the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app

runner = CliRunner()


def write_app(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.py"))}


def migrate_json(root: Path, *args: str):
    result = runner.invoke(app, ["migrate", str(root), "--format", "json", *args])
    return result, json.loads(result.stdout)


WAREHOUSE = """
    import asyncpg


    class Warehouse:
        def __init__(self, url: str):
            self.url = url
            self.pool = None

        async def open(self):
            self.pool = await asyncpg.create_pool(self.url)

        async def name(self) -> str:
            async with self.pool.acquire() as conn:
                return await conn.fetchval("SELECT current_database()")
    """


def test_callers_passing_different_urls_refuse_the_run_and_nothing_is_written(tmp_path):
    root = write_app(tmp_path / "app", {"warehouse.py": WAREHOUSE, "run.py": """
        import asyncio
        from warehouse import Warehouse

        live = Warehouse("postgresql://app@db/live")
        history = Warehouse(url="postgresql://app@db/history")
        """})
    before = snapshot(root)
    result, data = migrate_json(root, "--write")
    assert result.exit_code == 1
    assert snapshot(root) == before  # nothing written, not even the engine module
    manual = [(f["path"], item) for f in data["files"] for item in f.get("left_alone", []) if item["manual"]]
    assert [(path, item["line"]) for path, item in manual] == [("warehouse.py", 10)]
    reason = manual[0][1]["reason"]
    assert "run.py:4 passes 'postgresql://app@db/live'" in reason and "run.py:5 passes 'postgresql://app@db/history'" in reason
    assert data["summary"]["manual"] == 1


def test_callers_passing_the_same_variable_migrate(tmp_path):
    root = write_app(tmp_path / "app", {"warehouse.py": WAREHOUSE, "run.py": """
        import os
        import warehouse

        first = warehouse.Warehouse(os.environ["DATABASE_URL"])
        second = warehouse.Warehouse(os.environ["DATABASE_URL"])
        """, "tests/test_warehouse.py": """
        from warehouse import Warehouse

        def test_url():
            assert Warehouse("postgresql://elsewhere/db").url  # tests may point anywhere
        """})
    result, data = migrate_json(root)
    assert data["summary"]["manual"] == 0, data
    changed = {f["path"] for f in data["files"] if f["status"] == "changed"}
    assert "warehouse.py" in changed and "repositories" in data["codemods"]


def test_engines_on_a_callers_url_or_sqlite_stay_untouched(tmp_path):
    files = {
        "layer.py": """
            from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


            class Layer:
                def __init__(self, conninfo: str):
                    self.engine: AsyncEngine = create_async_engine(conninfo, pool_size=30)
            """,
        "fixtures.py": """
            from sqlalchemy.ext.asyncio import create_async_engine


            async def scratch_engine(path):
                engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
                return engine
            """,
        "orm.py": """
            import os
            from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

            orm_engine = create_async_engine(os.environ["DATABASE_URL"], pool_size=7)
            Session = async_sessionmaker(orm_engine)
            """,
    }
    root = write_app(tmp_path / "app", files)
    result, data = migrate_json(root)
    by_path = {f["path"]: f for f in data["files"]}
    assert by_path["orm.py"]["status"] == "changed"
    for kept in ("layer.py", "fixtures.py"):
        assert by_path[kept]["status"] == "unchanged"
        assert [item["manual"] for item in by_path[kept]["left_alone"]] == [False]
    engine_module = next(f for f in data["files"] if f["path"] == "engine.py")["diff"]
    assert "pool_size=17," in engine_module  # 7 + the default overflow of 10; the kept engine (30) plays no part


def test_a_callback_closing_over_a_local_is_handed_to_the_engine_at_run_time(tmp_path, database_url):
    files = {
        "store.py": """
            import asyncpg


            async def open_store(url, schema):
                async def prepare(conn):
                    await conn.execute(f"SET search_path TO {schema}")

                return await asyncpg.create_pool(url, init=prepare, min_size=1, max_size=2)


            async def where(pool):
                return await pool.fetchval("SELECT current_setting('search_path')")
            """,
        "main.py": """
            import asyncio
            import os

            import store


            async def main():
                pool = await store.open_store(os.environ["DATABASE_URL"], "pg_temp, public")
                print(await store.where(pool))


            asyncio.run(main())
            """,
    }
    legacy = write_app(tmp_path / "legacy", files)
    migrated = write_app(tmp_path / "migrated", files)
    result, data = migrate_json(migrated, "--write")
    assert result.exit_code == 0, result.output
    source = (migrated / "store.py").read_text()
    assert "use_database_url(url, init=prepare)" in source and "async def prepare(conn):" in source
    assert any("handed to use_database_url()" in i["reason"] for f in data["files"] for i in f.get("left_alone", []))

    def run(root: Path) -> str:
        done = subprocess.run([sys.executable, "main.py"], cwd=root, env=dict(os.environ, DATABASE_URL=database_url),
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert run(migrated) == run(legacy) == "pg_temp, public\n"


NESTED_INIT = {
    "store.py": """
        import json

        import asyncpg


        def prepare(*argv):
            print("the command of the same name ran", argv)


        async def open_store(url):
            async def prepare(conn):
                await conn.set_type_codec("jsonb", schema="pg_catalog", encoder=json.dumps, decoder=json.loads,
                                          format="text")

            return await asyncpg.create_pool(url, init=prepare)


        async def echo(pool, doc):
            async with pool.acquire() as conn:
                return await conn.fetchval("SELECT $1::jsonb", doc)
        """,
    "main.py": """
        import asyncio
        import os

        import store


        async def main():
            pool = await store.open_store(os.environ["DATABASE_URL"])
            print(repr(await store.echo(pool, {"k": [1, "two"]})))


        asyncio.run(main())
        """,
}


def test_a_migrated_nested_init_behaves_as_the_legacy_program(tmp_path, database_url):
    def run(root: Path) -> str:
        env = dict(os.environ, DATABASE_URL=database_url)
        done = subprocess.run([sys.executable, "main.py"], cwd=root, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    legacy = write_app(tmp_path / "legacy", NESTED_INIT)
    migrated = write_app(tmp_path / "migrated", NESTED_INIT)
    result = runner.invoke(app, ["migrate", str(migrated), "--write"])
    assert result.exit_code == 0, result.output
    source = (migrated / "store.py").read_text()
    assert "create_pool" not in source and "async def prepare(conn)" not in source
    assert "def prepare(*argv)" in source  # the module-level homonym is the application's, untouched
    assert "async def _prepare(conn):" in (migrated / "engine.py").read_text()
    assert run(migrated) == run(legacy) == "{'k': [1, 'two']}\n"
