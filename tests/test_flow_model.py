"""The whole-program model: where pools and connections flow, and the verdict on each call.

Each tree is a small application written in a shape met in real asyncpg code bases.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from example_tree import git, git_tree
from pgunify.cli import app
from pgunify.facts.flow import Program, Verdict
from pgunify.rewrite.closure import check


def model(files: dict[str, str], generated=()) -> Program:
    return Program.build(Path("."), [(p, textwrap.dedent(t)) for p, t in files.items()], generated)


def verdicts(program: Program) -> dict[str, Verdict]:
    return {f"{s.path}:{s.receiver}.{s.method}": s.verdict for s in program.sites}


def test_pool_reached_through_a_typed_holder_and_a_property():
    program = model({
        "store.py": """
            import asyncpg

            class Store:
                pool: asyncpg.Pool

                def __init__(self, pool):
                    self.pool = pool

                @classmethod
                async def open(cls, dsn):
                    return cls(await asyncpg.create_pool(dsn))
        """,
        "context.py": """
            from store import Store

            class Context:
                def __init__(self, store: Store):
                    self.store = store

                @property
                def db(self):
                    return self.store.pool

            async def count(ctx: Context):
                return await ctx.db.fetchval("SELECT count(*) FROM t WHERE a = $1", 1)

            async def listing(store: Store):
                async with store.pool.acquire() as conn:
                    return await conn.fetch("SELECT 1")
        """,
    })
    found = verdicts(program)
    assert found["context.py:ctx.db.fetchval"] is Verdict.POOL
    assert found["context.py:store.pool.acquire"] is Verdict.POOL
    assert found["context.py:conn.fetch"] is Verdict.CONNECTION


def test_pool_attribute_inherited_from_a_base_class_in_another_module():
    program = model({
        "base.py": """
            import asyncpg

            class Repository:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool
        """,
        "orders.py": """
            from base import Repository

            class Orders(Repository):
                async def total(self):
                    return await self.pool.fetchval("SELECT sum(n) FROM orders")
        """,
    })
    assert verdicts(program)["orders.py:self.pool.fetchval"] is Verdict.POOL


def test_pool_or_connection_falls_back_to_the_driver_connection():
    program = model({
        "repo.py": """
            from typing import Optional
            import asyncpg

            class Repo:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool

                async def get(self, key, connection: Optional[asyncpg.Connection] = None):
                    runner = connection or self.pool
                    return await runner.fetchrow("SELECT $1::int AS k", key)
        """,
    })
    assert verdicts(program)["repo.py:runner.fetchrow"] is Verdict.MAYBE


def test_calls_inside_assert_raise_and_augmented_assignment_pass_their_arguments_on():
    program = model({
        "helpers.py": """
            import asyncpg

            async def open_pool(dsn):
                return await asyncpg.create_pool(dsn)

            async def touch(conn, key):
                return await conn.fetchval("UPDATE t SET n = n + 1 WHERE k = $1 RETURNING n", key)

            async def count(conn):
                return await conn.fetchval("SELECT count(*) FROM t")

            async def describe(conn):
                return await conn.fetchval("SELECT max(k) FROM t")
        """,
        "test_helpers.py": """
            import helpers

            async def test_touch():
                pool = await helpers.open_pool("postgresql:///t")
                async with pool.acquire() as conn:
                    first = await helpers.touch(conn, 1)
                assert await helpers.touch(pool, 1) == first + 1

            async def test_count():
                pool = await helpers.open_pool("postgresql:///t")
                async with pool.acquire() as conn:
                    total = await helpers.count(conn)
                    note = await helpers.describe(conn)
                total += await helpers.count(pool)
                if total:
                    raise AssertionError(await helpers.describe(pool))
        """,
    })
    # each helper gets a connection in one statement and the pool only inside an assert, an
    # augmented assignment or a raise: without those, the helpers were connections only, and
    # the pool would have reached `engine.execute()`
    assert [s.verdict for s in program.sites if s.path == "helpers.py" and s.method == "fetchval"] == [Verdict.MAYBE] * 3


def test_connection_of_its_own_stays_on_asyncpg_even_where_annotated():
    program = model({
        "tool.py": """
            import asyncpg

            async def apply(con: asyncpg.Connection, script: str):
                await con.execute(script)

            async def main(dsn):
                con = await asyncpg.connect(dsn)
                await apply(con, "SELECT 1")

            async def elsewhere(dsn):
                pool = await asyncpg.create_pool(dsn)
                return await pool.fetchval("SELECT 2")
        """,
    })
    found = verdicts(program)
    assert found["tool.py:con.execute"] is Verdict.ASYNCPG
    assert found["tool.py:pool.fetchval"] is Verdict.POOL


def test_init_callback_receives_the_asyncpg_connection():
    program = model({
        "db.py": """
            import asyncpg

            async def setup_codecs(conn: asyncpg.Connection):
                await conn.set_type_codec("jsonb", encoder=str, decoder=str, schema="pg_catalog")

            async def start(dsn):
                return await asyncpg.create_pool(dsn, init=setup_codecs)
        """,
    })
    assert verdicts(program)["db.py:conn.set_type_codec"] is Verdict.ASYNCPG


def test_pytest_fixture_hands_its_pool_to_tests():
    program = model({
        "app/db.py": """
            import asyncpg

            _pool = None

            async def open_pool(dsn):
                global _pool
                _pool = await asyncpg.create_pool(dsn)
                return _pool
        """,
        "tests/conftest.py": """
            import pytest
            from app import db

            @pytest.fixture
            async def pool():
                opened = await db.open_pool("postgresql://")
                yield opened
        """,
        "tests/test_db.py": """
            async def test_answer(pool):
                async with pool.acquire() as conn:
                    assert await conn.fetchval("SELECT 42") == 42
        """,
    })
    found = verdicts(program)
    assert found["tests/test_db.py:pool.acquire"] is Verdict.POOL
    assert found["tests/test_db.py:conn.fetchval"] is Verdict.CONNECTION


def test_unknown_receivers_named_like_a_pool_are_maybe_and_others_none():
    program = model({
        "cog.py": """
            class Cog:
                def __init__(self, bot):
                    self.bot = bot

                async def balance(self, user):
                    return await self.bot.pool.fetchval("SELECT money FROM profile WHERE id = $1", user)

                async def later(self, cache):
                    return await cache.fetch("key")
        """,
    })
    found = verdicts(program)
    assert found["cog.py:self.bot.pool.fetchval"] is Verdict.MAYBE
    assert found["cog.py:cache.fetch"] is Verdict.NONE


def test_attribute_set_on_a_framework_object_is_known_by_its_name():
    program = model({
        "bot.py": """
            import asyncpg

            async def start(bot, dsn):
                bot.pool = await asyncpg.create_pool(dsn)
        """,
        "cogs/profile.py": """
            class Profile:
                def __init__(self, bot):
                    self.bot = bot

                async def money(self, user):
                    return await self.bot.pool.fetchval("SELECT money FROM profile WHERE id = $1", user)
        """,
    })
    assert verdicts(program)["cogs/profile.py:self.bot.pool.fetchval"] is Verdict.POOL


def test_closure_check_finds_asyncpg_calls_left_on_sqlalchemy_objects():
    rewritten = {
        "engine.py": "repository_engine = object()\n",
        "raw_sql.py": "async def driver_connection(conn):\n    return conn\n",
        "repo.py": textwrap.dedent("""
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine
            from engine import repository_engine
            from raw_sql import driver_connection

            class Repo:
                def __init__(self, pool: AsyncEngine):
                    self.pool = pool

                async def broken(self):
                    return await self.pool.fetchval("SELECT 1")

                async def fine(self):
                    async with self.pool.connect() as conn:
                        raw = await driver_connection(conn)
                        await raw.execute("SELECT 1; SELECT 2")
                        return await conn.execute(text("SELECT 1"))

                async def plain_string(self):
                    async with self.pool.connect() as conn:
                        return await conn.execute("SELECT $1", 1)

            async def module_level():
                async with repository_engine.acquire() as conn:
                    pass
        """),
    }
    findings = check(Path("."), rewritten.items(), {"engine", "raw_sql"})
    blocking = sorted((f.path, f.call) for f in findings if f.blocking)
    assert blocking == [("repo.py", "conn.execute(...)"), ("repo.py", "repository_engine.acquire(...)"),
                        ("repo.py", "self.pool.fetchval(...)")]


def test_migrate_refuses_to_write_what_the_closure_check_rejects(tmp_path):
    # LISTEN on a pooled connection: the codemod has no rewrite for it, and moving the pool
    # without it would leave it on a SQLAlchemy connection
    legacy = {
        "service.py": """
            import asyncio
            import os

            import asyncpg


            class Stats:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool

                async def listen(self, callback):
                    async with self.pool.acquire() as conn:
                        await conn.add_listener("jobs", callback)
                        await asyncio.sleep(1)


            async def build():
                return Stats(await asyncpg.create_pool(os.environ["DATABASE_URL"]))
        """,
    }
    git_tree(tmp_path, legacy)
    before = (tmp_path / "service.py").read_text()
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert (tmp_path / "service.py").read_text() == before
    assert not (tmp_path / "engine.py").exists()
    import json

    data = json.loads(result.stdout)
    assert {(c["path"], c["blocking"]) for c in data["closure"]} == {("service.py", True)}
    assert any("nothing written" in note for note in data["notes"])


def test_scan_of_a_migrated_tree_reports_what_the_closure_check_reports(tmp_path):
    files = {
        "engine.py": '"""The engine. Written by `pgunify migrate`; application code from now on."""\nrepository_engine = None\n',
        "repo.py": """
            from engine import repository_engine


            async def total():
                return await repository_engine.fetchval("SELECT 1")


            async def fine():
                async with repository_engine.connect() as conn:
                    return conn
        """,
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(textwrap.dedent(text))
    import json

    result = CliRunner().invoke(app, ["scan", str(tmp_path), "--format", "json"])
    found = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "asyncpg-on-sqlalchemy"]
    assert [(f["location"]["path"], f["location"]["line"]) for f in found] == [("repo.py", 6)]


def test_a_name_bound_by_the_with_statement_around_a_call_is_known_exactly():
    rewritten = {
        "engine.py": "repository_engine = object()\n",
        "raw_sql.py": "async def asyncpg_connection(source):\n    return source\n",
        "items.py": textwrap.dedent("""
            from sqlalchemy import text
            from engine import repository_engine
            from raw_sql import asyncpg_connection

            async def item(key, conn=None):
                if conn:
                    async with asyncpg_connection(conn) as connection:
                        return await connection.fetchrow("SELECT $1::int", key)
                async with repository_engine.connect() as connection:
                    return await connection.execute(text("SELECT :key"), {"key": key})
        """),
    }
    assert [f for f in check(Path("."), rewritten.items(), {"engine", "raw_sql"}) if f.blocking] == []


def test_a_tests_own_pool_stays_on_asyncpg_and_so_do_its_calls():
    program = model({
        "app/repo.py": """
            import asyncpg

            class Repo:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool

                async def one(self):
                    return await self.pool.fetchval("SELECT 1")
        """,
        "tests/conftest.py": """
            import asyncpg
            import pytest

            @pytest.fixture
            async def db():
                pool = await asyncpg.create_pool("postgresql://localhost/test")
                async with pool.acquire() as conn:
                    yield conn
        """,
        "tests/test_repo.py": """
            async def test_rows(db):
                assert await db.fetchval("SELECT 2") == 2
        """,
    })
    found = verdicts(program)
    assert found["tests/test_repo.py:db.fetchval"] is Verdict.ASYNCPG
    # the application's code is fed only the annotation: it moves
    assert found["app/repo.py:self.pool.fetchval"] is Verdict.POOL


def test_fastapi_dependencies_and_lifespan_state_carry_the_pool():
    program = model({
        "app/main.py": """
            from contextlib import asynccontextmanager
            import asyncpg

            @asynccontextmanager
            async def lifespan(app):
                pool = await asyncpg.create_pool("postgresql://")
                yield {"db_pool": pool}
        """,
        "app/db.py": """
            from typing import Annotated
            from fastapi import Depends, Request

            async def get_connection(request: Request):
                async with request.state.db_pool.acquire() as conn:
                    yield conn

            async def route(conn: Annotated[object, Depends(get_connection)]):
                return await conn.fetch("SELECT 1")

            async def other(conn=Depends(get_connection)):
                return await conn.fetchrow("SELECT 1")
        """,
    })
    found = verdicts(program)
    assert found["app/db.py:request.state.db_pool.acquire"] is Verdict.POOL
    assert found["app/db.py:conn.fetch"] is Verdict.CONNECTION
    assert found["app/db.py:conn.fetchrow"] is Verdict.CONNECTION


def test_closure_check_finds_sqlalchemy_calls_on_asyncpg_connections():
    rewritten = {
        "engine.py": "repository_engine = object()\n",
        "raw_sql.py": "async def asyncpg_connection(source):\n    return source\n",
        "dao.py": textwrap.dedent("""
            from sqlalchemy import text
            from raw_sql import asyncpg_connection

            async def provide(pool):
                async with asyncpg_connection(pool) as conn:
                    yield conn

            async def use(conn):
                return await conn.execute(text("SELECT 1"))

            async def route():
                async for conn in provide(None):
                    pass

            async def wired():
                async with asyncpg_connection(None) as conn:
                    return await use(conn)
        """),
    }
    blocking = [(f.path, f.call) for f in check(Path("."), rewritten.items(), {"engine", "raw_sql"}) if f.blocking]
    assert blocking == [("dao.py", "conn.execute(...)")]


def test_a_wrapper_with_asyncpgs_method_names_is_the_applications_own_call():
    program = model({
        "db.py": """
            import asyncpg

            class Database:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool

                async def fetch(self, query, *args):
                    async with self.pool.acquire() as conn:
                        return await conn.fetch(query, *args)

            class Guilds:
                def __init__(self, db: Database):
                    self.db = db

                async def all(self):
                    return await self.db.fetch("SELECT * FROM guilds WHERE id = $1", 1)
        """,
    })
    found = verdicts(program)
    assert found["db.py:self.db.fetch"] is Verdict.NONE
    assert found["db.py:conn.fetch"] is Verdict.CONNECTION


def test_tests_patching_asyncpg_inside_a_migrated_module_are_listed():
    rewritten = {
        "app/db.py": "from engine import use_database_url\n\nasync def open_pool(url):\n    return await use_database_url(url)\n",
        "engine.py": "async def use_database_url(url):\n    return url\n",
        "tests/test_db.py": textwrap.dedent("""
            from unittest.mock import patch

            @patch("app.db.asyncpg.create_pool")
            async def test_open(create_pool):
                pass
        """),
    }
    findings = check(Path("."), rewritten.items(), {"engine"})
    assert [(f.path, f.line, f.blocking) for f in findings] == [("tests/test_db.py", 4, True)]
    assert "asyncpg.create_pool inside app/db.py, which no longer calls it" in findings[0].problem


def test_a_patch_of_asyncpg_in_a_module_that_still_calls_it_is_no_finding():
    rewritten = {
        "app/db.py": "import asyncpg\n\nasync def listen(url):\n    return await asyncpg.connect(url)\n",
        "tests/test_db.py": "from unittest.mock import patch\n\n@patch('app.db.asyncpg.connect')\ndef test_x(c):\n    pass\n",
    }
    assert check(Path("."), rewritten.items(), set()) == []


def test_tests_checking_asyncpg_calls_on_a_mock_handed_to_a_rewritten_function_are_violations():
    test_module = textwrap.dedent("""
        from unittest.mock import AsyncMock, call

        from app.schema import create_tables
        from app import schema


        async def test_tables():
            conn = AsyncMock()
            await create_tables(conn)
            conn.execute.assert_has_calls([call("CREATE TABLE t (id int)")])


        async def test_via_module():
            pool = AsyncMock()
            pool.fetchval.return_value = 3
            assert await schema.count(pool=pool) == 3


        async def test_mock_not_handed_over():
            conn = AsyncMock()
            conn.execute.assert_not_called()
    """)
    rewritten = {
        "app/__init__.py": "",
        "app/schema.py": textwrap.dedent("""
            from sqlalchemy import text


            async def create_tables(conn):
                await conn.execute(text("CREATE TABLE t (id int)"))


            async def count(pool):
                return await pool.fetchval("SELECT count(*) FROM t")
        """),
        "tests/test_schema.py": test_module,
    }
    findings = check(Path("."), rewritten.items(), set(), changed={"app/schema.py"})
    assert [(f.path, f.line, f.call, f.blocking) for f in findings] == [
        ("tests/test_schema.py", 10, "conn.execute", True),
        ("tests/test_schema.py", 17, "pool.fetchval", True),
    ]
    assert "create_tables() in app/schema.py" in findings[0].problem
    # the same tests against a module this run leaves as it was are no finding
    assert check(Path("."), rewritten.items(), set(), changed=set()) == []


def test_risk_tiers_say_how_sure_the_tool_is(tmp_path):
    git_tree(tmp_path, {
        "repo.py": """
            import os

            import asyncpg


            class Repo:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool

                async def one(self, key):
                    async with self.pool.acquire() as conn:
                        return await conn.fetchval("SELECT $1::int + 1", key)

                async def two(self, key):
                    return await self.pool.fetchval("SELECT $1::int + 2", key)

                async def three(self, table):
                    async with self.pool.acquire() as conn:
                        return await conn.fetch(f"SELECT * FROM {table}")


            async def build():
                return Repo(await asyncpg.create_pool(os.environ["DATABASE_URL"]))
        """,
    })
    import json

    data = json.loads(CliRunner().invoke(app, ["migrate", str(tmp_path), "--format", "json"]).stdout)
    tiers = {(c["line"], c["description"].split(" ")[0]): c["risk"]
             for f in data["files"] if f["path"] == "repo.py" for c in f["changes"]}
    assert tiers[(13, "fetchval()")] == "safe"  # proven, on a connection the model is sure of
    assert tiers[(16, "fetchval()")] == "review"  # a pool-level call given a connection of its own
    assert tiers[(20, "fetch()")] == "review"  # SQL built at run time: nothing to prove
    assert tiers[(12, "pool.acquire()")] == "review"  # a receiver change

    # the review report can put every review change first, then the safe ones
    report = tmp_path.parent / f"{tmp_path.name}-review.md"
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--report", str(report), "--report-order", "risk"])
    assert result.exit_code == 1, result.output  # changes pending
    text = report.read_text()
    review, safe = text.index("### review ("), text.index("### safe (")
    assert review < safe
    assert "`repo.py:13` | repositories | fetchval()" in text[safe:]
    assert "`repo.py:20` | repositories | fetch()" in text[review:safe]


def test_a_local_connection_of_its_own_keeps_its_annotation(tmp_path):
    git_tree(tmp_path, {
        "app.py": """
            import os

            import asyncpg


            async def open_pool():
                return await asyncpg.create_pool(os.environ["DATABASE_URL"])


            async def count(pool: asyncpg.Pool) -> int:
                return await pool.fetchval("SELECT count(*) FROM pg_class WHERE relkind = $1", "r")
        """,
        "tests/test_probe.py": """
            import os

            import asyncpg


            async def test_probe():
                conn: asyncpg.Connection = await asyncpg.connect(os.environ["DATABASE_URL"])
                assert await conn.fetchval("SELECT $1::int", 1) == 1
                await conn.close()
        """,
    })
    data = json.loads(CliRunner().invoke(app, ["migrate", str(tmp_path), "--format", "json"]).stdout)
    changed = {f["path"] for f in data["files"] if f["status"] == "changed"}
    assert "app.py" in changed and "tests/test_probe.py" not in changed


def test_closure_check_finds_prepared_statement_calls_on_text_statements():
    # what a migration that turned a prepared statement into text() and left its asyncpg calls would give
    rewritten = {
        "engine.py": "repository_engine = object()\n",
        "raw_sql.py": "def all_records(result):\n    return result\n",
        "notes.py": textwrap.dedent("""
            from sqlalchemy import text
            from raw_sql import all_records

            async def columns(engine):
                async with engine.connect() as conn:
                    stmt = text(r"SELECT name FROM notes WHERE id = ANY(:p1\\:\\:int[])")
                    names = [r["name"] for r in all_records(await conn.execute(stmt, {"p1": [1, 2, 3]}))]
                    return names, [a.name for a in stmt.get_attributes()], describe(stmt)

            def describe(statement):
                return statement.get_query()

            async def plan(conn):
                bound = text("SELECT :a").bindparams(a=1)
                return await bound.explain()

            async def fine(conn):
                stmt = await conn.prepare("SELECT 1")
                return stmt.get_query()
        """),
    }
    findings = check(Path("."), rewritten.items(), {"engine", "raw_sql"})
    assert [(f.line, f.call, f.blocking) for f in findings] == [
        (9, "stmt.get_attributes(...)", True), (12, "statement.get_query(...)", True), (16, "bound.explain(...)", True)]
    assert "on a SQLAlchemy text() statement, no longer asyncpg's prepared statement: it fails at run time" \
        in findings[0].problem


def test_closure_check_finds_record_checks_that_migrated_records_reach():
    rewritten = {
        "engine.py": "repository_engine = object()\n",
        "raw_sql.py": "class Record:\n    pass\n\ndef first_record(result):\n    return result\n\n"
                      "def all_records(result):\n    return result\n",
        "repo.py": textwrap.dedent("""
            import asyncpg
            from sqlalchemy import text
            from engine import repository_engine
            from raw_sql import Record, all_records, first_record

            async def one(key):
                async with repository_engine.connect() as conn:
                    row = first_record(await conn.execute(text("SELECT :key"), {"key": key}))
                return row, isinstance(row, (asyncpg.Record, Record))

            async def many():
                async with repository_engine.connect() as conn:
                    return all_records(await conn.execute(text("SELECT 1")))
        """),
        "serialize.py": textwrap.dedent("""
            import asyncpg
            from asyncpg import Record as PgRecord

            import repo

            def plain(value):
                return dict(value) if isinstance(value, asyncpg.Record) else value

            async def listing():
                rows = await repo.many()
                flat = [r for r in rows if isinstance(r, PgRecord)]
                for row in rows:
                    plain(row)
                first = rows[0]
                nested = isinstance(first["payload"], asyncpg.Record)
                return flat, isinstance(first, asyncpg.protocol.Record), nested

            def unknown(value):
                return isinstance(value, asyncpg.Record)
        """),
    }
    findings = check(Path("."), rewritten.items(), {"engine", "raw_sql"}, changed={"repo.py"})
    assert [(f.path, f.line, f.blocking) for f in findings] == [
        ("serialize.py", 8, True), ("serialize.py", 12, True), ("serialize.py", 16, False),
        ("serialize.py", 17, True), ("serialize.py", 20, False)]
    assert findings[0].call == "isinstance(value, asyncpg.Record)"
    assert "records of queries moved onto Core reach this check" in findings[0].problem
    # nothing migrates: the checks are not listed
    assert [f for f in check(Path("."), rewritten.items(), {"engine", "raw_sql"}) if not f.blocking] == []


def test_migrate_refuses_a_record_check_it_cannot_widen_and_writes_a_prepared_statement_to_the_driver(tmp_path):
    legacy = {
        "notes.py": """
            import os

            import asyncpg


            class Notes:
                def __init__(self, pool: asyncpg.Pool):
                    self.pool = pool

                async def columns(self):
                    async with self.pool.acquire() as conn:
                        stmt = await conn.prepare("SELECT name FROM notes WHERE id = ANY($1::int[])")
                        names = [r["name"] for r in await stmt.fetch([1, 2, 3])]
                        return names, [a.name for a in stmt.get_attributes()]

                async def first(self):
                    return await self.pool.fetchrow("SELECT 1 AS a")


            async def build():
                return Notes(await asyncpg.create_pool(os.environ["DATABASE_URL"]))
        """,
        "views.py": """
            import asyncpg


            async def show(notes):
                row = await notes.first()
                return isinstance(row, asyncpg.Record)
        """,
    }
    git_tree(tmp_path, legacy)
    before = {name: (tmp_path / name).read_text() for name in legacy}
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json", "--no-import-check"])
    assert result.exit_code == 1, result.output
    assert {name: (tmp_path / name).read_text() for name in legacy} == before
    data = json.loads(result.stdout)
    assert [(c["path"], c["line"], c["call"], c["blocking"]) for c in data["closure"]] == [
        ("views.py", 7, "isinstance(row, asyncpg.Record)", True)]

    # without the check that turns False, the run writes, the statement on asyncpg's connection
    (tmp_path / "views.py").write_text("async def show(notes):\n    return await notes.first()\n")
    git(tmp_path, "commit", "-qam", "no check")
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json", "--no-import-check"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["closure"] == []
    notes = "".join((tmp_path / "notes.py").read_text().split())  # as laid out to the line length
    assert 'raw=awaitdriver_connection(conn)stmt=awaitraw.prepare("SELECTnameFROMnotesWHEREid=ANY($1::int[])")' in notes
    assert "stmt.get_attributes()" in notes and "awaitstmt.fetch([1,2,3])" in notes


def test_scan_of_a_migrated_tree_reports_record_checks_migrated_records_reach(tmp_path):
    files = {
        "raw_sql.py": '"""Helpers. Written by `pgunify migrate`; application code from now on."""\n'
                      "class Record:\n    pass\n\n\ndef first_record(result):\n    return result\n",
        "repo.py": """
            import asyncpg
            from raw_sql import Record, first_record


            async def one(conn):
                row = first_record(await conn.execute("SELECT 1"))
                return isinstance(row, asyncpg.Record), isinstance(row, (asyncpg.Record, Record))
        """,
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(textwrap.dedent(text))
    result = CliRunner().invoke(app, ["scan", str(tmp_path), "--format", "json"])
    found = [f for f in json.loads(result.stdout)["findings"] if f["rule"] == "asyncpg-on-sqlalchemy"]
    assert [(f["location"]["path"], f["location"]["line"]) for f in found] == [("repo.py", 8)]
    assert found[0]["fix"].startswith("isinstance(x, (asyncpg.Record, Record))")


def test_a_value_that_flows_back_into_its_own_reader_stays_bounded():
    # an object of a library handed to a function that walks its attributes by calling itself:
    # each round of the fixed point would make its names one attribute longer, in every combination
    source = (
        "from libthing import Provider\n\n\n"
        "def resolve(node):\n"
        "    if node:\n"
        "        return resolve(node.func) or resolve(node.value) or resolve(node.expression)\n"
        "    return None\n\n\n"
        "def start():\n"
        "    return resolve(Provider)\n"
    )
    program = Program.build(Path("."), [("walker.py", source)])
    names = [value[1] for value in program.slots[("param", "walker.resolve", "node")] if value[0] == "ext"]
    assert "libthing.Provider" in names and "libthing.Provider.func.value" in names
    assert max(name.count(".") for name in names) <= 7
    assert len(names) <= sum(3 ** depth for depth in range(7))
