"""repositories codemod: before/after per construct, and what it must leave untouched."""

from __future__ import annotations

from codemod_helpers import RepositoryCodemodTest


class TestRepositoryCodemod(RepositoryCodemodTest):
    def test_acquire_and_fetchrow_with_binds_named_after_arguments(self):
        self.check(
            """
            import asyncpg

            class Repo:
                def __init__(self, pool: asyncpg.Pool):
                    self._pool = pool

                async def get(self, alert_id):
                    async with self._pool.acquire() as conn:
                        return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", alert_id)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import first_record

            class Repo:
                def __init__(self, pool: AsyncEngine):
                    self._pool = pool

                async def get(self, alert_id):
                    async with self._pool.connect() as conn:
                        return first_record(await conn.execute(text("SELECT * FROM alerts WHERE id = :alert_id"), {"alert_id": alert_id}))
            """,
        )

    def test_record_imported_by_name_is_rebound_to_the_helpers_record(self):
        self.check(
            """
            from asyncpg import Pool, Record

            class Repo:
                def __init__(self, pool: Pool):
                    self._pool = pool

                async def get(self, alert_id) -> Record | None:
                    async with self._pool.acquire() as conn:
                        return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", alert_id)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import Record, first_record

            class Repo:
                def __init__(self, pool: AsyncEngine):
                    self._pool = pool

                async def get(self, alert_id) -> Record | None:
                    async with self._pool.connect() as conn:
                        return first_record(await conn.execute(text("SELECT * FROM alerts WHERE id = :alert_id"), {"alert_id": alert_id}))
            """,
        )

    def test_pool_level_call_gets_a_connection(self):
        self.check(
            """
            import asyncpg

            async def names(pool: asyncpg.Pool, limit):
                rows = await pool.fetch(
                    "SELECT name FROM cameras ORDER BY name LIMIT $1",
                    limit,
                )
                return [r["name"] for r in rows]
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import all_records

            async def names(pool: AsyncEngine, limit):
                async with pool.connect() as conn:
                    rows = all_records(await conn.execute(
                        text("SELECT name FROM cameras ORDER BY name LIMIT :limit"),
                        {"limit": limit},
                    ))
                return [r["name"] for r in rows]
            """,
        )

    def test_constants_are_edited_where_they_are_defined(self):
        self.check(
            """
            import asyncpg

            GET = "SELECT * FROM t WHERE a = $1 AND meta @> $2::jsonb"

            async def get(pool: asyncpg.Pool, a, meta):
                async with pool.acquire() as conn:
                    return await conn.fetchval(GET, a, meta, column=1)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import first_value

            GET = r"SELECT * FROM t WHERE a = :p1 AND meta @> :p2\\:\\:jsonb"

            async def get(pool: AsyncEngine, a, meta):
                async with pool.connect() as conn:
                    return first_value(await conn.execute(text(GET), {"p1": a, "p2": meta}), column=1)
            """,
        )

    def test_execute_keeps_the_status_string_only_where_it_is_read(self):
        self.check(
            """
            import asyncpg

            async def touch(conn: asyncpg.Connection, key):
                await conn.execute("UPDATE t SET seen = now() WHERE k = $1", key)
                status = await conn.execute("DELETE FROM t WHERE k = $1", key)
                return int(status.split()[-1])
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import command_status

            async def touch(conn: AsyncConnection, key):
                await conn.execute(text("UPDATE t SET seen = now() WHERE k = :key"), {"key": key})
                status = command_status(await conn.execute(text("DELETE FROM t WHERE k = :key"), {"key": key}), "DELETE")
                return int(status.split()[-1])
            """,
        )

    def test_transactions_executemany_and_scripts(self):
        self.check(
            """
            import asyncpg

            async def load(pool: asyncpg.Pool, rows):
                async with pool.acquire() as conn:
                    await conn.execute("CREATE TABLE IF NOT EXISTS t (a int); CREATE INDEX IF NOT EXISTS i ON t (a)")
                    async with conn.transaction(isolation="serializable"):
                        await conn.executemany("INSERT INTO t VALUES ($1)", rows)
                        async with conn.transaction():
                            await conn.execute("DELETE FROM t WHERE a < 0")
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import driver_connection, execute_many, transaction

            async def load(pool: AsyncEngine, rows):
                async with pool.connect() as conn:
                    raw = await driver_connection(conn)
                    await raw.execute("CREATE TABLE IF NOT EXISTS t (a int); CREATE INDEX IF NOT EXISTS i ON t (a)")
                    async with transaction(conn, isolation="serializable"):
                        await execute_many(conn, text("INSERT INTO t VALUES (:p1)"), [{"p1": values[0]} for values in rows])
                        async with transaction(conn):
                            await conn.execute(text("DELETE FROM t WHERE a < 0"))
            """,
        )

    def test_read_only_and_deferrable_transactions_keep_their_options(self):
        self.check(
            """
            import asyncpg

            async def report(conn: asyncpg.Connection):
                async with conn.transaction(isolation="serializable", readonly=True, deferrable=True):
                    return await conn.fetchval("SELECT count(*) FROM t")
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import first_value, transaction

            async def report(conn: AsyncConnection):
                async with transaction(conn, isolation="serializable", readonly=True, deferrable=True):
                    return first_value(await conn.execute(text("SELECT count(*) FROM t")))
            """,
        )

    def test_dynamic_sql_goes_to_the_driver_as_written(self):
        self.check(
            """
            import asyncpg

            async def search(conn: asyncpg.Connection, where, args):
                return await conn.fetch(f"SELECT * FROM t WHERE {where}", *args)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import all_records

            async def search(conn: AsyncConnection, where, args):
                return all_records(await conn.exec_driver_sql(f"SELECT * FROM t WHERE {where}", tuple(args)))
            """,
        )

    def test_prepared_statements_and_release(self):
        self.check(
            """
            import asyncpg

            async def resolve(pool: asyncpg.Pool, plates):
                conn = await pool.acquire()
                try:
                    stmt = await conn.prepare("SELECT id FROM vehicles WHERE plate = $1")
                    return [await stmt.fetchval(p) for p in plates]
                finally:
                    await pool.release(conn)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import first_value

            async def resolve(pool: AsyncEngine, plates):
                conn = await pool.connect()
                try:
                    stmt = text("SELECT id FROM vehicles WHERE plate = :p1")
                    return [first_value(await conn.execute(stmt, {"p1": p})) for p in plates]
                finally:
                    await conn.close()
            """,
        )

    def test_sites_it_cannot_carry_over_are_marked_once(self):
        self.check(
            """
            import asyncpg

            def get(conn: asyncpg.Connection):
                tr = conn.transaction()
                return tr
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            def get(conn: AsyncConnection):
                tr = conn.transaction()  # pgunify: review a transaction started by hand (tr.start()/commit()) outside an async function is not migrated
                return tr
            """,
        )

    def test_sqlalchemy_direct_connections_and_lookalikes_stay(self):
        source = """
            import asyncpg
            import httpx
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            async def f(engine: AsyncEngine, client: httpx.AsyncClient, dsn):
                async with engine.connect() as conn:
                    await conn.execute(text("SELECT 1"))
                await client.fetch("/x")
                raw = await asyncpg.connect(dsn)
                await raw.fetchval("SELECT 1")
            """
        self.check(source, source)

    def test_a_cursor_kept_in_a_name_stays_asyncpgs_on_the_driver_connection(self):
        self.check(
            """
            import asyncpg

            async def f(conn: asyncpg.Connection):
                cur = await conn.cursor("SELECT g FROM generate_series(1, $1) AS g", 7)
                head = await cur.fetch(3)
                return head, await cur.fetchrow()
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def f(conn: AsyncConnection):
                raw = await driver_connection(conn)
                cur = await raw.cursor("SELECT g FROM generate_series(1, $1) AS g", 7)
                head = await cur.fetch(3)
                return head, await cur.fetchrow()
            """,
        )

    def test_synchronous_calls_of_the_same_names_stay(self):
        # a legacy synchronous SQLAlchemy layer beside the asyncpg one: its calls are not
        # coroutines, and `execute(table.update())` is no asyncpg call in async code either
        source = """
            import asyncpg

            def save(db, table, key):
                with db.begin() as conn:
                    conn.execute(table.update().where(table.c.id == key))
                    conn.execute("DELETE FROM t WHERE id = %s", key)

            async def later(conn, table):
                pending = conn.execute(table.insert().values(id=1))
                return pending
            """
        self.check(source, source)

    def test_statement_that_cannot_be_proven_stays_on_the_driver_connection(self):
        self.check(
            """
            import asyncpg

            async def f(conn: asyncpg.Connection, a, b):
                return await conn.fetch("SELECT x[1:$1] FROM t WHERE y = $2", a, b)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def f(conn: AsyncConnection, a, b):
                raw = await driver_connection(conn)
                return await raw.fetch("SELECT x[1:$1] FROM t WHERE y = $2", a, b)
            """,
        )
        codemod = self.run_codemod("""
            import asyncpg

            async def f(conn: asyncpg.Connection, a, b):
                return await conn.fetch("SELECT x[1:$1] FROM t WHERE y = $2", a, b)
            """)
        [change] = codemod.changes
        assert change.risk == "review" and "cannot be converted" in change.description
        assert not codemod.left_alone

    def test_constant_read_elsewhere_is_not_edited(self):
        self.check(
            """
            import logging
            import asyncpg

            GET = "SELECT * FROM t WHERE a = $1"

            async def get(conn: asyncpg.Connection, a):
                logging.info("running %s", GET)
                return await conn.fetchrow(GET, a)
            """,
            """
            import logging
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import first_record

            GET = "SELECT * FROM t WHERE a = $1"

            async def get(conn: AsyncConnection, a):
                logging.info("running %s", GET)
                return first_record(await conn.exec_driver_sql(GET, (a,)))
            """,
        )

    def test_local_sql_variable_is_edited_not_the_module_constant_of_its_name(self):
        self.check(
            """
            import asyncpg

            QUERY = "SELECT version()"

            async def get(pool: asyncpg.Pool, a):
                QUERY = "SELECT name FROM users WHERE id = $1"
                async with pool.acquire() as conn:
                    return await conn.fetchval(QUERY, a)
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import first_value

            QUERY = "SELECT version()"

            async def get(pool: AsyncEngine, a):
                QUERY = "SELECT name FROM users WHERE id = :a"
                async with pool.connect() as conn:
                    return first_value(await conn.execute(text(QUERY), {"a": a}))
            """,
        )

    def test_constant_shared_with_a_direct_connection_is_not_edited(self):
        self.check(
            """
            import asyncpg

            BY_ID = "SELECT * FROM t WHERE id = $1"

            async def get(pool: asyncpg.Pool, dsn, key):
                async with pool.acquire() as conn:
                    row = await conn.fetchrow(BY_ID, key)
                script = await asyncpg.connect(dsn)
                return row, await script.fetchrow(BY_ID, key)
            """,
            """
            import asyncpg
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import first_record

            BY_ID = "SELECT * FROM t WHERE id = $1"

            async def get(pool: AsyncEngine, dsn, key):
                async with pool.connect() as conn:
                    row = first_record(await conn.exec_driver_sql(BY_ID, (key,)))
                script = await asyncpg.connect(dsn)
                return row, await script.fetchrow(BY_ID, key)
            """,
        )

    def test_receiver_known_by_name_only_is_not_migrated_twice(self):
        self.check(
            """
            import asyncpg

            async def update(conn, a):
                try:
                    await conn.execute("UPDATE t SET v = $1", a)
                except asyncpg.UniqueViolationError:
                    pass
            """,
            """
            import asyncpg
            from sqlalchemy import text

            async def update(conn, a):
                try:
                    await conn.execute(text("UPDATE t SET v = :a"), {"a": a})
                except asyncpg.UniqueViolationError:
                    pass
            """,
        )

    def test_calls_that_are_not_awaited_in_place_are_marked(self):
        self.check(
            """
            import asyncio
            import asyncpg

            async def both(pool: asyncpg.Pool):
                return await asyncio.gather(pool.fetchval("SELECT 1"), pool.fetchval("SELECT 2"))
            """,
            """
            import asyncio
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import on_driver

            async def both(pool: AsyncEngine):
                return await asyncio.gather(on_driver(pool).fetchval("SELECT 1"), on_driver(pool).fetchval("SELECT 2"))
            """,
        )

    def test_one_line_bodies_get_their_review_comment(self):
        self.check(
            """
            import asyncpg

            def f(conn: asyncpg.Connection, a):
                if a: tr = conn.transaction()
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            def f(conn: AsyncConnection, a):
                if a: tr = conn.transaction()  # pgunify: review a transaction started by hand (tr.start()/commit()) outside an async function is not migrated
            """,
        )

    def test_a_transaction_driven_by_hand_stays_asyncpgs_on_the_driver_connection(self):
        self.check(
            """
            import asyncpg

            async def f(conn: asyncpg.Connection):
                tr = conn.transaction(isolation="serializable")
                await tr.start()
                await tr.commit()
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def f(conn: AsyncConnection):
                raw = await driver_connection(conn)
                tr = raw.transaction(isolation="serializable")
                await tr.start()
                await tr.commit()
            """,
        )

    def test_pool_level_call_in_a_test_runs_on_a_connection_of_its_own(self):
        self.check(
            """
            import asyncpg

            async def f(pool: asyncpg.Pool, a):
                if a: return await pool.fetchval("SELECT $1::int", a)
                while await pool.fetchval("SELECT $1::int > 3", a):
                    a -= 1
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import execute_on, first_value

            async def f(pool: AsyncEngine, a):
                if a: return first_value(await execute_on(pool, text(r"SELECT :a\\:\\:int"), {"a": a}))
                while first_value(await execute_on(pool, text(r"SELECT :a\\:\\:int > 3"), {"a": a})):
                    a -= 1
            """,
        )

    def test_pool_introspection_reads_the_engines_pool(self):
        self.check(
            """
            import asyncpg

            def sizes(pool: asyncpg.Pool):
                return pool.get_size(), pool.get_idle_size(), pool.get_max_size()
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import pool_idle_size, pool_max_size, pool_size

            def sizes(pool: AsyncEngine):
                return pool_size(pool), pool_idle_size(pool), pool_max_size(pool)
            """,
        )

    def test_connection_state_asyncpg_alone_has_runs_on_the_driver_connection(self):
        self.check(
            """
            import asyncpg

            async def stats(pool: asyncpg.Pool):
                async with pool.acquire() as conn:
                    version = conn.get_server_version()
                    await conn.set_type_codec("json", encoder=str, decoder=str, schema="pg_catalog")
                    return version
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import driver_connection

            async def stats(pool: AsyncEngine):
                async with pool.connect() as conn:
                    raw = await driver_connection(conn)
                    version = raw.get_server_version()
                    await raw.set_type_codec("json", encoder=str, decoder=str, schema="pg_catalog")
                    return version
            """,
        )
