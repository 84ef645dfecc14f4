"""repositories codemod: statements text() cannot carry, SQL built at run time, SQL in local
variables, executemany of any rows, timeouts; before/after, then the generated code against
asyncpg itself on a real server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import asyncpg
from typer.testing import CliRunner

from codemod_helpers import RepositoryCodemodTest, load_module, make_plan
from example_tree import git
from pgunify.cli import app
from pgunify.templates import render_engine_module, render_raw_sql_module

class TestSqlShapes(RepositoryCodemodTest):
    # -- statements text() cannot carry: the asyncpg connection under the engine's connection ---------
    def test_array_slice_stays_on_the_driver_connection(self):
        before = """
            import asyncpg

            async def window(conn: asyncpg.Connection, lo, hi):
                return await conn.fetchval("SELECT (ARRAY[1, 2, 3])[$1:$2]", lo, hi)
            """
        self.check(before, """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def window(conn: AsyncConnection, lo, hi):
                raw = await driver_connection(conn)
                return await raw.fetchval("SELECT (ARRAY[1, 2, 3])[$1:$2]", lo, hi)
            """)
        codemod = self.run_codemod(before)
        [change] = codemod.changes
        assert change.risk == "review" and "directly follows ':'" in change.description and not codemod.left_alone

    def test_pool_level_call_on_the_driver_gets_a_connection_of_its_own(self):
        self.check(
            """
            import asyncpg

            class Reports:
                def __init__(self, pool: asyncpg.Pool):
                    self._pool = pool

                async def rebuild(self):
                    return await self._pool.execute("CREATE TABLE IF NOT EXISTS report (id int)")
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import driver_connection

            class Reports:
                def __init__(self, pool: AsyncEngine):
                    self._pool = pool

                async def rebuild(self):
                    async with self._pool.connect() as conn:
                        raw = await driver_connection(conn)
                        return await raw.execute("CREATE TABLE IF NOT EXISTS report (id int)")
            """,
        )

    def test_status_strings_not_built_from_the_row_count_come_from_the_driver(self):
        self.check(
            """
            import asyncpg

            async def setup(conn: asyncpg.Connection):
                created = await conn.execute("CREATE TEMP TABLE seen (k int PRIMARY KEY)")
                merged = await conn.execute("MERGE INTO seen s USING (VALUES (1)) v(k) ON s.k = v.k WHEN NOT MATCHED THEN INSERT VALUES (v.k)")
                await conn.execute("CREATE INDEX ON seen (k)")
                counted = await conn.execute("SELECT k FROM seen")
                return created, merged, counted
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import command_status, driver_connection

            async def setup(conn: AsyncConnection):
                raw = await driver_connection(conn)
                created = await raw.execute("CREATE TEMP TABLE seen (k int PRIMARY KEY)")
                merged = await raw.execute("MERGE INTO seen s USING (VALUES (1)) v(k) ON s.k = v.k WHEN NOT MATCHED THEN INSERT VALUES (v.k)")
                await conn.execute(text("CREATE INDEX ON seen (k)"))
                counted = command_status(await conn.execute(text("SELECT k FROM seen")), "SELECT")
                return created, merged, counted
            """,
        )

    def test_dollar_inside_an_identifier_is_no_placeholder(self):
        self.check(
            """
            import asyncpg

            async def label(conn: asyncpg.Connection):
                return await conn.fetchrow("SELECT 1 AS total$1")
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import first_record

            async def label(conn: AsyncConnection):
                return first_record(await conn.execute(text("SELECT 1 AS total$1")))
            """,
        )

    def test_prepared_statement_text_cannot_carry_stays_an_asyncpg_one(self):
        self.check(
            """
            import asyncpg

            async def pages(conn: asyncpg.Connection, bounds):
                stmt = await conn.prepare("SELECT (ARRAY[1, 2, 3, 4])[$1:$2]")
                return [await stmt.fetchval(lo, hi) for lo, hi in bounds]
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def pages(conn: AsyncConnection, bounds):
                raw = await driver_connection(conn)
                stmt = await raw.prepare("SELECT (ARRAY[1, 2, 3, 4])[$1:$2]")
                return [await stmt.fetchval(lo, hi) for lo, hi in bounds]
            """,
        )

    # -- SQL built at run time: exec_driver_sql() with the $n SQL as written ------------------------
    def test_run_time_sql_goes_to_exec_driver_sql_with_a_tuple_of_arguments(self):
        self.check(
            """
            import asyncpg

            async def find(conn: asyncpg.Connection, table, key, *more):
                everything = await conn.fetch(f"SELECT * FROM {table}")
                one = await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1", key)
                both = await conn.fetchval("SELECT count(*) FROM " + table + " WHERE id = ANY($1) OR id = $2", [key], key)
                rest = await conn.fetch(f"SELECT * FROM {table} WHERE id IN ($1, $2)", *more)
                mixed = await conn.fetch(f"SELECT * FROM {table} WHERE id IN ($1, $2)", key, *more)
                await conn.execute(f"DELETE FROM {table} WHERE id = $1", key)
                return everything, one, both, rest, mixed
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import all_records, first_record, first_value

            async def find(conn: AsyncConnection, table, key, *more):
                everything = all_records(await conn.exec_driver_sql(f"SELECT * FROM {table}"))
                one = first_record(await conn.exec_driver_sql(f"SELECT * FROM {table} WHERE id = $1", (key,)))
                both = first_value(await conn.exec_driver_sql("SELECT count(*) FROM " + table + " WHERE id = ANY($1) OR id = $2", ([key], key)))
                rest = all_records(await conn.exec_driver_sql(f"SELECT * FROM {table} WHERE id IN ($1, $2)", tuple(more)))
                mixed = all_records(await conn.exec_driver_sql(f"SELECT * FROM {table} WHERE id IN ($1, $2)", (key, *more)))
                await conn.exec_driver_sql(f"DELETE FROM {table} WHERE id = $1", (key,))
                return everything, one, both, rest, mixed
            """,
        )

    def test_run_time_sql_whose_status_is_read_stays_on_the_driver_connection(self):
        self.check(
            """
            import asyncpg

            async def purge(conn: asyncpg.Connection, table, day):
                return await conn.execute(f"DELETE FROM {table} WHERE day < $1", day)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def purge(conn: AsyncConnection, table, day):
                raw = await driver_connection(conn)
                return await raw.execute(f"DELETE FROM {table} WHERE day < $1", day)
            """,
        )

    # -- SQL held in a local variable -----------------------------------------------------------------
    def test_local_literal_is_edited_where_it_is_assigned(self):
        self.check(
            """
            import asyncpg

            async def rename(pool: asyncpg.Pool, user_id, name):
                sql = "UPDATE users SET name = $2 WHERE id = $1"
                async with pool.acquire() as conn:
                    await conn.execute(sql, user_id, name)

            async def twice(conn: asyncpg.Connection, a, b):
                sql = "SELECT $1::int * 2"
                return await conn.fetchval(sql, a), await conn.fetchval(sql, b)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

            from app.db.raw_sql import first_value

            async def rename(pool: AsyncEngine, user_id, name):
                sql = "UPDATE users SET name = :name WHERE id = :user_id"
                async with pool.connect() as conn:
                    await conn.execute(text(sql), {"user_id": user_id, "name": name})

            async def twice(conn: AsyncConnection, a, b):
                sql = r"SELECT :p1\\:\\:int * 2"
                return first_value(await conn.execute(text(sql), {"p1": a})), first_value(await conn.execute(text(sql), {"p1": b}))
            """,
        )

    def test_local_literal_read_elsewhere_or_not_convertible_goes_to_the_driver_as_written(self):
        self.check(
            """
            import logging
            import asyncpg

            async def logged(conn: asyncpg.Connection, a):
                sql = "SELECT * FROM t WHERE a = $1"
                logging.debug(sql)
                return await conn.fetch(sql, a)

            async def sliced(conn: asyncpg.Connection, lo, hi):
                sql = "SELECT (ARRAY[1, 2, 3])[$1:$2]"
                return await conn.fetchval(sql, lo, hi)

            async def reassigned(conn: asyncpg.Connection, a, wide):
                sql = "SELECT a FROM t WHERE a = $1"
                if wide:
                    sql = "SELECT * FROM t WHERE a = $1"
                return await conn.fetch(sql, a)
            """,
            """
            import logging
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import all_records, first_value

            async def logged(conn: AsyncConnection, a):
                sql = "SELECT * FROM t WHERE a = $1"
                logging.debug(sql)
                return all_records(await conn.exec_driver_sql(sql, (a,)))

            async def sliced(conn: AsyncConnection, lo, hi):
                sql = "SELECT (ARRAY[1, 2, 3])[$1:$2]"
                return first_value(await conn.exec_driver_sql(sql, (lo, hi)))

            async def reassigned(conn: AsyncConnection, a, wide):
                sql = "SELECT a FROM t WHERE a = $1"
                if wide:
                    sql = "SELECT * FROM t WHERE a = $1"
                return all_records(await conn.exec_driver_sql(sql, (a,)))
            """,
        )

    def test_local_literal_with_a_use_on_the_driver_is_not_edited(self):
        self.check(
            """
            import asyncpg

            async def make(conn: asyncpg.Connection):
                sql = "CREATE TEMP TABLE IF NOT EXISTS scratch (k int)"
                await conn.execute(sql)
                return await conn.execute(sql)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def make(conn: AsyncConnection):
                sql = "CREATE TEMP TABLE IF NOT EXISTS scratch (k int)"
                raw = await driver_connection(conn)
                await raw.execute(sql)
                return await raw.execute(sql)
            """,
        )

    # -- executemany ----------------------------------------------------------------------------------
    def test_executemany_of_any_rows(self):
        self.check(
            """
            import asyncpg

            async def load(conn: asyncpg.Connection, table, owner, names, rows):
                sql = "INSERT INTO tag (owner, name) VALUES ($1, $2)"
                await conn.executemany(sql, [(owner, n) for n in names])
                await conn.executemany("INSERT INTO tag (owner, name) VALUES ($1, $2)", rows)
                await conn.executemany(f"INSERT INTO {table} VALUES ($1, $2)", rows)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import execute_many

            async def load(conn: AsyncConnection, table, owner, names, rows):
                sql = "INSERT INTO tag (owner, name) VALUES (:p1, :p2)"
                await execute_many(conn, text(sql), [{"p1": owner, "p2": n} for n in names])
                await execute_many(conn, text("INSERT INTO tag (owner, name) VALUES (:p1, :p2)"), [{"p1": values[0], "p2": values[1]} for values in rows])
                await execute_many(conn, f"INSERT INTO {table} VALUES ($1, $2)", rows)
            """,
        )

    # -- timeouts -------------------------------------------------------------------------------------
    def test_statement_timeout_stays_asyncpgs_own(self):
        self.check(
            """
            import asyncpg

            async def slow(conn: asyncpg.Connection, n):
                return await conn.fetchval("SELECT pg_sleep($1)", n, timeout=2.5)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def slow(conn: AsyncConnection, n):
                raw = await driver_connection(conn)
                return await raw.fetchval("SELECT pg_sleep($1)", n, timeout=2.5)
            """,
        )

    def test_acquire_with_a_timeout_becomes_connect_with_one(self):
        self.check(
            """
            import asyncpg

            async def both(pool: asyncpg.Pool):
                async with pool.acquire(timeout=5) as conn:
                    await conn.execute("SELECT 1")
                conn = await pool.acquire(timeout=2.0)
                try:
                    await conn.execute("SELECT 2")
                finally:
                    await pool.release(conn)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import connect

            async def both(pool: AsyncEngine):
                async with connect(pool, timeout=5) as conn:
                    await conn.execute(text("SELECT 1"))
                conn = await connect(pool, timeout=2.0)
                try:
                    await conn.execute(text("SELECT 2"))
                finally:
                    await conn.close()
            """,
        )

    def test_connect_helper_is_renamed_where_the_module_has_a_connect(self):
        self.check(
            """
            import asyncpg
            from asyncpg import connect

            async def both(pool: asyncpg.Pool, dsn):
                async with pool.acquire(timeout=5) as conn:
                    await conn.execute("SELECT 1")
                return await connect(dsn)
            """,
            """
            from asyncpg import connect
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import connect as connect_within

            async def both(pool: AsyncEngine, dsn):
                async with connect_within(pool, timeout=5) as conn:
                    await conn.execute(text("SELECT 1"))
                return await connect(dsn)
            """,
        )


# -- the generated code against asyncpg itself ---------------------------------------------------------

LEGACY_STORE = '''
import asyncio

import asyncpg

TOTAL = "SELECT $1::int + $2::int AS total"


class Store:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def window(self, lo: int, hi: int):
        async with self.pool.acquire() as conn:
            return await conn.fetchval("SELECT (ARRAY[3, 5, 8, 13])[$1:$2]", lo, hi)

    async def window_local(self, lo: int, hi: int):
        query = "SELECT (ARRAY[3, 5, 8, 13])[$1:$2]"
        async with self.pool.acquire() as conn:
            return await conn.fetchval(query, lo, hi)

    async def label(self):
        query = "SELECT 'x' AS cost$1"
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(query)

    async def total(self, a: int, b: int):
        query = "SELECT $2::int - $1::int AS diff"
        async with self.pool.acquire() as conn:
            return await conn.fetchrow(query, a, b), await conn.fetchval(TOTAL, a, b)

    async def matching(self, column: str, *values):
        async with self.pool.acquire() as conn:
            return await conn.fetch(f"SELECT {column} FROM shapes_item WHERE {column} = ANY($1::text[]) "
                                    "AND name NOT LIKE '%:%' ORDER BY 1", list(values))

    async def create(self):
        return await self.pool.execute("CREATE TABLE IF NOT EXISTS shapes_item (owner int, name text)")

    async def merge(self, owner: int):
        async with self.pool.acquire() as conn:
            return await conn.execute(
                "MERGE INTO shapes_item i USING (SELECT $1::int AS owner) s ON i.owner = s.owner "
                "WHEN NOT MATCHED THEN INSERT VALUES (s.owner, 'merged')", owner)

    async def add(self, owner: int, names: list[str]):
        query = "INSERT INTO shapes_item (owner, name) VALUES ($1, $2)"
        async with self.pool.acquire() as conn:
            await conn.executemany(query, [(owner, n) for n in names])

    async def add_rows(self, rows):
        async with self.pool.acquire() as conn:
            await conn.executemany("INSERT INTO shapes_item (owner, name) VALUES ($1, $2)", rows)

    async def load(self, table: str, rows):
        async with self.pool.acquire() as conn:
            await conn.executemany(f"INSERT INTO {table} (owner, name) VALUES ($1, $2)", rows)

    async def names(self):
        async with self.pool.acquire() as conn:
            return await conn.fetch("SELECT owner, name FROM shapes_item ORDER BY owner, name")

    async def document(self):
        async with self.pool.acquire() as conn:
            return await conn.fetchval("""SELECT '{"price": 1.50, "big": 12345678901234567890.125}'::jsonb""")

    async def documents(self):
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("""SELECT '{ "spaced" : 1.0 }'::json AS j, ARRAY['{"a": 2.50}'::jsonb] AS many""")

    async def slow_then_fast(self):
        async with self.pool.acquire() as conn:
            try:
                await conn.fetchval("SELECT pg_sleep(5)", timeout=0.2)
            except asyncio.TimeoutError as exc:
                timed_out = type(exc).__name__
            return timed_out, await conn.fetchval("SELECT 'usable'")

    async def contended(self):
        async with self.pool.acquire():
            async with self.pool.acquire(timeout=0.2):
                return "got a second connection"

    async def drop(self):
        return await self.pool.execute("DROP TABLE shapes_item")


async def open_store(dsn: str) -> Store:
    return Store(await asyncpg.create_pool(dsn, min_size=1, max_size=1))
'''

LEGACY_MAIN = '''
import asyncio
import os

import store


def plain(value):
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if hasattr(value, "keys") and not isinstance(value, dict):
        return dict(zip(value.keys(), value.values()))
    return value


async def main():
    s = await store.open_store(os.environ["DATABASE_URL"])
    calls = [
        ("create", ()), ("window", (2, 3)), ("window_local", (1, 2)), ("label", ()), ("total", (4, 9)),
        ("add", (1, ["a", "b:c"])), ("add", (2, [])), ("add_rows", ([(3, "100%"), [4, "d"]],)), ("add_rows", ([],)),
        ("load", ("shapes_item", ((5, str(k)) for k in range(2)))), ("load", ("shapes_item", [])),
        ("merge", (9,)), ("merge", (9,)), ("names", ()), ("matching", ("name", "a", "100%", "b:c")),
        ("document", ()), ("documents", ()), ("slow_then_fast", ()), ("contended", ()), ("drop", ()),
    ]
    for name, args in calls:
        try:
            print(name, repr(plain(await getattr(s, name)(*args))))
        except Exception as exc:
            print(name, type(exc).__name__)


asyncio.run(main())
'''


def _run(app_dir, database_url) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run([sys.executable, "main.py"], cwd=app_dir, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_migrated_shapes_print_what_the_legacy_ones_printed(tmp_path, database_url):
    sides = {}
    for side in ("legacy", "migrated"):
        app_dir = tmp_path / side
        app_dir.mkdir()
        (app_dir / "store.py").write_text(LEGACY_STORE)
        (app_dir / "main.py").write_text(LEGACY_MAIN)
        git(app_dir, "init", "-q")
        git(app_dir, "add", "-A")
        git(app_dir, "commit", "-qm", "legacy")
        sides[side] = app_dir
    result = CliRunner().invoke(app, ["migrate", str(sides["migrated"]), "--write"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output
    migrated = (sides["migrated"] / "store.py").read_text()
    assert "import asyncpg" not in migrated and "numbered" not in migrated
    assert "pool.acquire" not in migrated and "connect(self.pool, timeout=0.2)" in migrated

    legacy_out = _run(sides["legacy"], database_url)
    assert "window [5, 8]" in legacy_out and "TimeoutError" in legacy_out and "MERGE 1" in legacy_out
    assert '12345678901234567890.125' in legacy_out
    assert _run(sides["migrated"], database_url) == legacy_out


# -- json as the server's text, ORM JSON columns on the same engine ------------------------------------

def test_json_is_the_servers_text_and_orm_json_columns_still_decode(tmp_path, monkeypatch, database_url):
    from sqlalchemy import Column, Integer, MetaData, Table, cast, select, text
    from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB

    monkeypatch.setenv("DATABASE_URL", database_url)
    plan = make_plan()
    engine_module = load_module(tmp_path, "engine", render_engine_module(plan))
    raw_sql = load_module(tmp_path, "raw_sql", render_raw_sql_module(plan))
    sql = ("""SELECT '{"b": 12345678901234567890.125, "a": 1.50}'::jsonb AS doc, '{ "x" : [1, 2.0] }'::json AS j, """
           """ARRAY['{"n": 1.0}'::jsonb] AS many""")
    metadata = MetaData()
    docs = Table("json_docs", metadata, Column("id", Integer, primary_key=True), Column("body", JSONB),
                 Column("extra", JSON), Column("history", ARRAY(JSONB)), prefixes=["TEMPORARY"])

    async def run():
        legacy_conn = await asyncpg.connect(database_url)
        try:
            legacy = dict(await legacy_conn.fetchrow(sql))
        finally:
            await legacy_conn.close()
        try:
            async with engine_module.repository_engine.connect() as conn:
                new = dict(raw_sql.first_record(await conn.execute(text(sql))))
                driver = dict(await (await raw_sql.driver_connection(conn)).fetchrow(sql))
            async with engine_module.engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
                await conn.execute(docs.insert(), [{"id": 1, "body": {"k": [1, "two"], "f": 1.5}, "extra": {"e": None},
                                                    "history": [{"h": 1}]}])
                row = (await conn.execute(select(docs))).one()
                key = (await conn.execute(select(docs.c.body["k"]))).scalar()
                typed = (await conn.execute(select(cast({"z": 3}, JSONB)))).scalar()
                declared = (await conn.execute(text("SELECT body FROM json_docs").columns(body=JSONB))).scalar()
            return legacy, new, driver, tuple(row), key, typed, declared
        finally:
            await engine_module.engine.dispose()

    legacy, new, driver, row, key, typed, declared = asyncio.run(run())
    assert legacy["doc"] == '{"a": 1.50, "b": 12345678901234567890.125}' and legacy["j"] == '{ "x" : [1, 2.0] }'
    assert new == legacy and driver == legacy
    assert row == (1, {"k": [1, "two"], "f": 1.5}, {"e": None}, [{"h": 1}])
    assert key == [1, "two"] and typed == {"z": 3} and declared == {"k": [1, "two"], "f": 1.5}


def test_json_stays_as_the_application_decoded_it_where_it_registered_a_codec():
    plan = make_plan(json_codecs=frozenset({"jsonb"}))
    assert "_json_as_text" not in render_engine_module(plan)
    assert "_json_as_text" in render_engine_module(make_plan())
    assert "JSON_TEXT_TYPES = frozenset({114})" in render_raw_sql_module(plan)


def test_helpers_module_has_no_run_time_sql_lexer():
    source = render_raw_sql_module(make_plan())
    assert "def numbered" not in source and "_TOKENS" not in source and "import re\n" not in source
