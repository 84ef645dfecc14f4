"""The `$n` statement counter of the corpus harness, on small sources (no git, no database)."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from corpus import count_source, count_tree  # noqa: E402


def _count(code: str):
    return count_source(textwrap.dedent(code))


def test_literal_shapes_that_count():
    counted = _count('''
        async def shapes(conn, pool, table, ids):
            await conn.fetch("SELECT * FROM t WHERE id = $1", 1)
            await conn.fetchrow("SELECT a "
                                "FROM t WHERE b = $2 AND a = $1", 1, 2)
            await pool.fetchval(f"SELECT count(*) FROM {table} WHERE k = $1", 3)
            await conn.execute("DELETE FROM t WHERE id = ANY($1::int[])" + " RETURNING id", ids)
            await conn.executemany(query="INSERT INTO t VALUES ($1)", args=[(1,)])
            await conn.prepare("SELECT $1::int")
            conn.cursor("SELECT * FROM t WHERE id > $1", 0)
            await conn.copy_from_query("SELECT * FROM t WHERE id < $1", 5, output="f")
    ''')
    assert [site.method for site in counted.sites] == [
        "fetch", "fetchrow", "fetchval", "execute", "executemany", "prepare", "cursor", "copy_from_query"]
    assert not any(site.wrapped for site in counted.sites)


def test_names_assigned_sql_in_the_function_or_the_module():
    counted = _count('''
        LOOKUP = "SELECT name FROM users WHERE id = $1"

        async def by_name(conn, key):
            query = """
                SELECT * FROM users
                WHERE name = $1
            """
            await conn.fetch(query, key)
            await conn.fetchval(LOOKUP, 1)

        async def elsewhere(conn, query):
            await conn.fetch(query)   # a parameter: not known to be SQL here
    ''')
    assert [(site.method, site.line) for site in counted.sites] == [("fetch", 9), ("fetchval", 10)]


def test_shapes_that_do_not_count():
    counted = _count('''
        async def not_sql(conn, cache, session, sql):
            await conn.fetch("SELECT 1")                 # no placeholder
            await conn.execute(sql, 1)                   # not a literal
            cache.get("price $5")                        # not a SQL method
            fetch("SELECT $1", 2)                        # a plain function, no receiver
            await conn.fetch(f"SELECT * FROM {'$1'}")    # the $1 is in an expression part
            "a $1 docstring-like string"
    ''')
    assert counted.sites == []


def test_receivers_built_with_the_driver_helpers_are_counted_as_wrapped():
    counted = _count('''
        async def migrated(conn, engine):
            await (await driver_connection(conn)).fetch("SELECT $1::int", 1)
            raw = await driver_connection(conn)
            await raw.fetchrow("SELECT $1::int", 2)
            async with asyncpg_connection(engine) as driver:
                await driver.execute("SELECT $1::int", 3)
            await conn.fetchval("SELECT $1::int", 4)      # still on an asyncpg-looking receiver
    ''')
    assert [(site.line, site.wrapped) for site in counted.sites] == [(3, True), (5, True), (7, True), (8, False)]


def test_core_statements_are_counted_apart():
    counted = _count('''
        from sqlalchemy import text

        FIND = text("SELECT * FROM t WHERE id = :p1")

        async def core(conn, sql, args):
            await conn.execute(text("DELETE FROM t"))
            await conn.exec_driver_sql("SELECT $1::int", (1,))
            await conn.execute(*numbered(sql, args))
            await conn.execute(text(sql))                 # not a literal
    ''')
    assert (counted.text_literals, counted.exec_driver_sql, counted.numbered) == (2, 1, 1)
    assert counted.sites == []


def test_tree_count_lists_files_that_do_not_parse(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "repo.py").write_text('async def f(c):\n    await c.fetch("SELECT $1", 1)\n')
    (tmp_path / "pkg" / "broken.py").write_text("def f(:\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hook.py").write_text('c.fetch("SELECT $1")\n')
    counted = count_tree(tmp_path)
    assert counted["dollar_sites"] == 1 and counted["receiver"] == 1 and counted["wrapped"] == 0
    assert counted["unparsable"] == ["pkg/broken.py"]
    assert counted["sites"][0]["path"] == "pkg/repo.py"


def test_calls_through_the_projects_own_wrapper_count_apart_once_it_is_on_core(tmp_path):
    wrapper = '''
class Database:
    async def fetch(self, sql, *args):
        async with self.pool.connect() as con:
            return all_records(await con.exec_driver_sql(sql, tuple(args)))

    async def fetchval(self, sql, *args):
        async with self.pool.acquire() as con:
            return await con.fetchval(sql, *args)
'''
    (tmp_path / "db.py").write_text(wrapper)
    (tmp_path / "users.py").write_text(
        'async def f(db):\n'
        '    await db.fetch("SELECT * FROM users WHERE id = $1", 1)\n'
        '    await db.fetchval("SELECT count(*) FROM users WHERE id = $1", 1)\n')
    counted = count_tree(tmp_path)
    assert counted["core_wrappers"] == ["fetch"]
    assert (counted["dollar_sites"], counted["via_wrapper"], counted["receiver"]) == (2, 1, 1)

    # a second wrapper of the same name still on asyncpg: the name no longer tells, nothing counts apart
    (tmp_path / "other.py").write_text(wrapper.replace("Database", "Other").replace("exec_driver_sql(sql, tuple(args))",
                                                                                   "fetch(sql, *args)"))
    counted = count_tree(tmp_path)
    assert counted["core_wrappers"] == [] and counted["via_wrapper"] == 0
