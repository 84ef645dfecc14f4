"""The generated raw-SQL helpers, against asyncpg itself on a real server."""

from __future__ import annotations

import asyncio
import json
import re

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from codemod_helpers import load_module, make_plan
from pgunify.templates import render_raw_sql_module

QUERY = "SELECT 1 AS a, 'x'::text AS b, NULL::int AS c, '{\"k\": [1, 2]}'::jsonb AS j, 2 AS a"


def load(tmp_path, json_codecs=frozenset()):
    return load_module(tmp_path, "raw_sql", render_raw_sql_module(make_plan(json_codecs=frozenset(json_codecs))))


def sa_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


def test_record_behaves_like_asyncpg_record(tmp_path, database_url):
    raw_sql = load(tmp_path)

    async def both():
        legacy_conn = await asyncpg.connect(database_url)
        try:
            legacy = await legacy_conn.fetchrow(QUERY)
        finally:
            await legacy_conn.close()
        engine = create_async_engine(sa_url(database_url))
        try:
            async with engine.connect() as conn:
                new = raw_sql.first_record(await conn.execute(text(QUERY)))
                missing = raw_sql.first_record(await conn.execute(text("SELECT 1 WHERE false")))
                many = raw_sql.all_records(await conn.execute(text("SELECT g AS n FROM generate_series(1, 3) g")))
                value = raw_sql.first_value(await conn.execute(text("SELECT 1, 2")), column=1)
        finally:
            await engine.dispose()
        return legacy, new, missing, many, value

    legacy, new, missing, many, value = asyncio.run(both())
    assert missing is None and value == 2 and [r["n"] for r in many] == [1, 2, 3]
    for probe in (lambda r: r["a"], lambda r: r[0], lambda r: r[-1], lambda r: r[1:3], lambda r: r.get("b"),
                  lambda r: r.get("zz", 5), lambda r: dict(r), lambda r: list(r.keys()), lambda r: list(r.values()),
                  lambda r: list(r.items()), lambda r: list(r), lambda r: tuple(r), lambda r: len(r),
                  lambda r: "a" in r, lambda r: 1 in r, lambda r: r == (1, "x", None, r[3], 2),
                  lambda r: hash(r) == hash(tuple(r)), lambda r: r < (1, "y"), lambda r: r >= (1, "x"), repr):
        assert probe(new) == probe(legacy)
    a, b, c, j, _ = new
    assert (a, b, c) == (1, "x", None) and isinstance(j, str) and json.loads(j) == json.loads(legacy["j"])
    with pytest.raises(KeyError):
        new["zz"]
    with pytest.raises(IndexError):
        new[9]


def test_json_stays_decoded_where_the_application_registered_a_codec(tmp_path, database_url):
    raw_sql = load(tmp_path, json_codecs={"jsonb"})

    async def run():
        engine = create_async_engine(sa_url(database_url))
        try:
            async with engine.connect() as conn:
                return raw_sql.first_record(await conn.execute(text(QUERY)))
        finally:
            await engine.dispose()

    record = asyncio.run(run())
    assert record["j"] == {"k": [1, 2]}


def test_status_strings_transactions_and_execute_many(tmp_path, database_url):
    raw_sql = load(tmp_path)

    async def run():
        legacy_conn = await asyncpg.connect(database_url)
        engine = create_async_engine(sa_url(database_url)).execution_options(isolation_level="AUTOCOMMIT")
        try:
            await legacy_conn.execute("CREATE TABLE IF NOT EXISTS rs (k int PRIMARY KEY, v text)")
            legacy = [await legacy_conn.execute("INSERT INTO rs VALUES (1, 'a'), (2, 'b')"),
                      await legacy_conn.execute("UPDATE rs SET v = 'c' WHERE k > 0"),
                      await legacy_conn.execute("DELETE FROM rs WHERE k = 99")]
            await legacy_conn.execute("TRUNCATE rs")
            async with engine.connect() as conn:
                new = [raw_sql.command_status(await conn.execute(text("INSERT INTO rs VALUES (1, 'a'), (2, 'b')")), "INSERT"),
                       raw_sql.command_status(await conn.execute(text("UPDATE rs SET v = 'c' WHERE k > 0")), "UPDATE"),
                       raw_sql.command_status(await conn.execute(text("DELETE FROM rs WHERE k = 99")), "DELETE")]
                await raw_sql.execute_many(conn, text("INSERT INTO rs VALUES (:p1, :p2)"), [])  # nothing sent
                # a failed transaction leaves nothing behind; its savepoint keeps the outer work
                with pytest.raises(Exception):
                    async with raw_sql.transaction(conn):
                        await raw_sql.execute_many(conn, text("INSERT INTO rs VALUES (:p1, :p2)"),
                                                   [{"p1": 10, "p2": "x"}, {"p1": 11, "p2": "y"}])
                        await conn.execute(text("INSERT INTO rs VALUES (1, 'dup')"))
                async with raw_sql.transaction(conn):
                    await conn.execute(text("INSERT INTO rs VALUES (20, 'kept')"))
                    with pytest.raises(Exception):
                        async with raw_sql.transaction(conn):
                            await conn.execute(text("INSERT INTO rs VALUES (21, 'gone')"))
                            await conn.execute(text("INSERT INTO rs VALUES (1, 'dup')"))
                # back to one commit per statement, and usable after an error
                with pytest.raises(Exception):
                    await conn.execute(text("INSERT INTO rs VALUES (1, 'dup')"))
                await conn.execute(text("INSERT INTO rs VALUES (30, 'after')"))
            keys = [r["k"] for r in await legacy_conn.fetch("SELECT k FROM rs ORDER BY k")]
        finally:
            await legacy_conn.execute("DROP TABLE IF EXISTS rs")
            await legacy_conn.close()
            await engine.dispose()
        return legacy, new, keys

    legacy, new, keys = asyncio.run(run())
    assert new == legacy == ["INSERT 0 2", "UPDATE 2", "DELETE 0"]
    assert keys == [1, 2, 20, 30]


def test_streamed_rows_are_records_and_arrays_stay_lists(tmp_path, database_url):
    raw_sql = load(tmp_path)

    async def run():
        engine = create_async_engine(sa_url(database_url))
        try:
            async with engine.connect() as conn:
                async with conn.begin():
                    result = await conn.stream(text("SELECT g AS n, ARRAY[g, g] AS a, jsonb_build_object('g', g) AS j "
                                                    "FROM generate_series(1, 3) g"))
                    return [r async for r in raw_sql.stream_records(result)]
        finally:
            await engine.dispose()

    rows = asyncio.run(run())
    assert [r["n"] for r in rows] == [1, 2, 3]
    assert rows[0]["a"] == [1, 1] and rows[0][0] == 1
    assert rows[1]["j"] == '{"g": 2}'  # jsonb as text, as asyncpg gave it


RUN_TIME_SQL = [
    ("SELECT (ARRAY[3, 5, 8, 13])[$1:$2] AS s", (2, 3)),  # a slice: no bind may follow the colon in text()
    ("SELECT 7 AS cost$1", ()),  # $1 inside an identifier
    ("SELECT $2::int AS b, $1::text AS a, $2::int * 2 AS c", ("x", 4)),  # reused, out of order
    ("SELECT '100%' AS p, '%s %%' AS q, ':name' AS r, '10:30'::time::text AS t", ()),
    ("SELECT E'\\'' AS q, $1::int AS n -- it's $2\n, /* ' */ 'x:y' AS x", (5,)),
    ("SELECT $body$ a:b $1 $body$ AS d, $1::int AS n WHERE 'k' LIKE '%:a' OR true", (6,)),
]


def test_run_time_sql_goes_to_the_driver_as_written(tmp_path, database_url):
    """SQL built at run time runs through exec_driver_sql() with asyncpg's own $n placeholders:
    what the helpers return equals what asyncpg returned, whatever the SQL holds."""
    raw_sql = load(tmp_path)

    async def run():
        legacy_conn = await asyncpg.connect(database_url)
        engine = create_async_engine(sa_url(database_url)).execution_options(isolation_level="AUTOCOMMIT")
        try:
            legacy = [[dict(r) for r in await legacy_conn.fetch(sql, *args)] for sql, args in RUN_TIME_SQL]
            async with engine.connect() as conn:
                new = [[dict(r) for r in raw_sql.all_records(await conn.exec_driver_sql(sql, args))]
                       for sql, args in RUN_TIME_SQL]
                first = raw_sql.first_value(await conn.exec_driver_sql("SELECT 1 WHERE $1", (False,)))
        finally:
            await legacy_conn.close()
            await engine.dispose()
        return legacy, new, first

    legacy, new, first = asyncio.run(run())
    assert new == legacy and first is None
    assert legacy[0] == [{"s": [5, 8]}] and legacy[1] == [{"cost$1": 7}]


def test_execute_many_takes_any_rows_and_sends_nothing_for_none(tmp_path, database_url):
    raw_sql = load(tmp_path)

    async def run():
        engine = create_async_engine(sa_url(database_url)).execution_options(isolation_level="AUTOCOMMIT")
        sent: list[str] = []
        try:
            async with engine.connect() as conn:
                driver = await raw_sql.driver_connection(conn)
                driver.add_query_logger(lambda q: sent.append(q.query))
                await conn.exec_driver_sql("CREATE TEMP TABLE em (k int, v text)")
                sent.clear()
                await raw_sql.execute_many(conn, "INSERT INTO em VALUES ($1, $2)", [])
                await raw_sql.execute_many(conn, "INSERT INTO em VALUES ($1, $2)", (r for r in ()))
                await raw_sql.execute_many(conn, text("INSERT INTO em VALUES (:p1, :p2)"), [])
                assert sent == []  # nothing sent for no rows, as asyncpg's executemany()
                await raw_sql.execute_many(conn, "INSERT INTO em VALUES ($1, $2)", [(1, "a"), [2, "100%"]])
                await raw_sql.execute_many(conn, "INSERT INTO em VALUES ($1, $2)", ((k, str(k)) for k in (3, 4)))
                await raw_sql.execute_many(conn, text("INSERT INTO em VALUES (:p1, :p2)"),
                                           ({"p1": k, "p2": ":x"} for k in (5,)))
                return [tuple(r) for r in raw_sql.all_records(await conn.exec_driver_sql("SELECT * FROM em ORDER BY k"))]
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == [(1, "a"), (2, "100%"), (3, "3"), (4, "4"), (5, ":x")]


def test_connect_waits_for_a_pooled_connection_no_longer_than_the_timeout(tmp_path, database_url):
    """connect(engine, timeout=) fails as pool.acquire(timeout=) did when the pool is exhausted,
    with the same exception class, and the pool is whole afterwards."""
    raw_sql = load(tmp_path)

    async def run():
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        engine = create_async_engine(sa_url(database_url), pool_size=1, max_overflow=0)
        failures = []
        try:
            async with pool.acquire():
                with pytest.raises(Exception) as legacy:
                    await pool.acquire(timeout=0.2)
            async with engine.connect():
                with pytest.raises(Exception) as new:
                    async with raw_sql.connect(engine, timeout=0.2):
                        pass
                with pytest.raises(Exception) as new_awaited:
                    await raw_sql.connect(engine, timeout=0.2)
            failures = [legacy.type, new.type, new_awaited.type]
            async with raw_sql.connect(engine, timeout=1) as conn:
                first = await conn.scalar(text("SELECT 1"))
            conn = await raw_sql.connect(engine, timeout=1)
            second = await conn.scalar(text("SELECT 2"))
            await conn.close()
            return failures, first, second, engine.pool.checkedout()
        finally:
            await pool.close()
            await engine.dispose()

    failures, first, second, checked_out = asyncio.run(run())
    assert failures == [asyncio.TimeoutError] * 3 and (first, second, checked_out) == (1, 2, 0)


def test_transaction_takes_asyncpg_isolation_values_and_sends_what_asyncpg_sent(tmp_path, database_url):
    raw_sql = load(tmp_path)

    async def run():
        logged: dict[str, list[str]] = {"legacy": [], "new": []}
        legacy_conn = await asyncpg.connect(database_url)
        legacy_conn.add_query_logger(lambda q: logged["legacy"].append(q.query))
        engine = create_async_engine(sa_url(database_url)).execution_options(isolation_level="AUTOCOMMIT")
        try:
            async with legacy_conn.transaction(isolation="serializable", readonly=True, deferrable=True):
                async with legacy_conn.transaction():
                    legacy = await legacy_conn.fetchval("SHOW transaction_isolation")
            async with engine.connect() as conn:
                (await raw_sql.driver_connection(conn)).add_query_logger(lambda q: logged["new"].append(q.query))
                async with raw_sql.transaction(conn, isolation="serializable", readonly=True, deferrable=True):
                    async with raw_sql.transaction(conn):
                        new = await conn.scalar(text("SHOW transaction_isolation"))
                after = await conn.scalar(text("SHOW transaction_isolation"))
        finally:
            await legacy_conn.close()
            await engine.dispose()
        return legacy, new, after, logged

    legacy, new, after, logged = asyncio.run(run())
    assert legacy == new == "serializable"
    assert after == "read committed"  # the block ended; statements commit one by one again
    control = [[re.sub(r"savepoint_\w+", "savepoint", q) for q in queries if q.startswith(("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT"))]
               for queries in (logged["legacy"], logged["new"])]
    assert control[0] == control[1] == ["BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY DEFERRABLE;", "SAVEPOINT __asyncpg_savepoint;",
                                        "RELEASE SAVEPOINT __asyncpg_savepoint;", "COMMIT;"]


def test_transaction_on_a_connection_sqlalchemy_manages_commits_the_block(tmp_path, database_url):
    """On engine.connect() (no AUTOCOMMIT) the helper uses SQLAlchemy's own transaction, so
    the block's work is committed at its end and a failed nested block is a savepoint."""
    raw_sql = load(tmp_path)

    async def run():
        engine = create_async_engine(sa_url(database_url))
        try:
            async with engine.begin() as conn:
                await conn.execute(text("CREATE TABLE tx (k int PRIMARY KEY)"))
            async with engine.connect() as conn:
                async with raw_sql.transaction(conn):
                    await conn.execute(text("INSERT INTO tx VALUES (1)"))
                    with pytest.raises(Exception):
                        async with raw_sql.transaction(conn):
                            await conn.execute(text("INSERT INTO tx VALUES (2)"))
                            await conn.execute(text("INSERT INTO tx VALUES (1)"))
            async with engine.connect() as other:
                return list(await other.scalars(text("SELECT k FROM tx ORDER BY k")))
        finally:
            await engine.dispose()

    assert asyncio.run(run()) == [1]


def test_pool_introspection_and_execute_on_read_the_engines_pool(tmp_path, database_url):
    """asyncpg's get_size()/get_idle_size()/get_max_size() on the engine's pool, and a statement
    run on a connection of its own that is back in the pool when execute_on() returns."""
    raw_sql = load(tmp_path)

    async def run():
        engine = create_async_engine(sa_url(database_url), pool_size=3, max_overflow=0)
        try:
            sizes = [(raw_sql.pool_size(engine), raw_sql.pool_idle_size(engine), raw_sql.pool_max_size(engine))]
            async with engine.connect():
                sizes.append((raw_sql.pool_size(engine), raw_sql.pool_idle_size(engine), raw_sql.pool_max_size(engine)))
            result = await raw_sql.execute_on(engine, text("SELECT g FROM generate_series(1, :n) AS g"), {"n": 3})
            sizes.append((raw_sql.pool_size(engine), raw_sql.pool_idle_size(engine), raw_sql.pool_max_size(engine)))
            rows = [r["g"] for r in raw_sql.all_records(result)]  # read after the connection went back
        finally:
            await engine.dispose()
        return sizes, rows

    sizes, rows = asyncio.run(run())
    assert sizes == [(0, 0, 3), (1, 0, 3), (1, 1, 3)]
    assert rows == [1, 2, 3]
