"""repositories codemod, prepared statements: a statement becomes text() only when every use of
it is a call that moves; one used as asyncpg's PreparedStatement (get_attributes(), explain(),
returned, stored, handed on, not awaited) stays asyncpg's, whole, on the driver connection."""

from __future__ import annotations

from codemod_helpers import RepositoryCodemodTest

STAYS = "prepare() runs on the asyncpg connection under the engine's connection, as before, and so do the statement's calls: "


class TestPreparedStatements(RepositoryCodemodTest):
    def reasons(self, source: str) -> list[str]:
        codemod = self.run_codemod(source)
        assert not codemod.left_alone, codemod.left_alone
        return [c.description.removeprefix(STAYS) for c in codemod.changes if c.description.startswith(STAYS)]

    def test_statement_whose_attributes_are_read_stays_asyncpgs_with_all_its_calls(self):
        before = """
            import asyncpg

            async def columns(pool: asyncpg.Pool):
                async with pool.acquire() as conn:
                    stmt = await conn.prepare("SELECT name FROM notes WHERE id = ANY($1::int[])")
                    names = [r["name"] for r in await stmt.fetch([1, 2, 3])]
                    cols = [a.name for a in stmt.get_attributes()]
                    return names, cols
            """
        self.check(
            before,
            """
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import driver_connection

            async def columns(pool: AsyncEngine):
                async with pool.connect() as conn:
                    raw = await driver_connection(conn)
                    stmt = await raw.prepare("SELECT name FROM notes WHERE id = ANY($1::int[])")
                    names = [r["name"] for r in await stmt.fetch([1, 2, 3])]
                    cols = [a.name for a in stmt.get_attributes()]
                    return names, cols
            """,
        )
        assert self.reasons(before) == [
            "stmt.get_attributes() is asyncpg's PreparedStatement API, which a text() statement does not have"]

    def test_every_method_of_asyncpgs_prepared_statement_keeps_it(self):
        for method in ("get_parameters()", "get_query()", "get_statusmsg()", "get_name()", "explain(key)",
                       "fetchmany(key, 10)"):
            with self.subTest(method=method):
                name = method.split("(")[0]
                awaited = "await " if name in ("explain", "fetchmany") else ""
                source = f"""
                    import asyncpg

                    async def use(conn: asyncpg.Connection, key):
                        stmt = await conn.prepare("SELECT name FROM notes WHERE id = $1")
                        first = await stmt.fetchval(key)
                        return first, {awaited}stmt.{method}
                    """
                self.check(source, f"""
                    from sqlalchemy.ext.asyncio import AsyncConnection

                    from app.db.raw_sql import driver_connection

                    async def use(conn: AsyncConnection, key):
                        raw = await driver_connection(conn)
                        stmt = await raw.prepare("SELECT name FROM notes WHERE id = $1")
                        first = await stmt.fetchval(key)
                        return first, {awaited}stmt.{method}
                    """)
                assert self.reasons(source) == [
                    f"stmt.{name}() is asyncpg's PreparedStatement API, which a text() statement does not have"]

    def test_statement_returned_or_handed_on_stays_asyncpgs(self):
        self.check(
            """
            import asyncpg

            async def statement(conn: asyncpg.Connection):
                stmt = await conn.prepare("SELECT id FROM notes WHERE id = $1")
                return stmt

            async def described(conn: asyncpg.Connection):
                stmt = await conn.prepare("SELECT 1 AS a")
                return describe(stmt)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def statement(conn: AsyncConnection):
                raw = await driver_connection(conn)
                stmt = await raw.prepare("SELECT id FROM notes WHERE id = $1")
                return stmt

            async def described(conn: AsyncConnection):
                raw = await driver_connection(conn)
                stmt = await raw.prepare("SELECT 1 AS a")
                return describe(stmt)
            """,
        )

    def test_statement_stored_on_an_attribute_stays_asyncpgs_and_its_calls_too(self):
        source = """
            import asyncpg

            class Notes:
                async def open(self, conn: asyncpg.Connection):
                    self._by_id = await conn.prepare("SELECT name FROM notes WHERE id = $1")

                async def name(self, key):
                    return await self._by_id.fetchval(key)
            """
        self.check(
            source,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            class Notes:
                async def open(self, conn: AsyncConnection):
                    raw = await driver_connection(conn)
                    self._by_id = await raw.prepare("SELECT name FROM notes WHERE id = $1")

                async def name(self, key):
                    return await self._by_id.fetchval(key)
            """,
        )
        assert self.reasons(source) == [
            "the statement is not assigned to a plain name (it is returned, stored or handed on)"]

    def test_calls_not_awaited_in_place_and_prepare_options_keep_the_statement(self):
        self.check(
            """
            import asyncio

            import asyncpg

            async def both(conn: asyncpg.Connection):
                stmt = await conn.prepare("SELECT $1::int + 1")
                return await asyncio.gather(stmt.fetchval(1), stmt.fetchval(2))

            async def named(conn: asyncpg.Connection, key):
                stmt = await conn.prepare("SELECT name FROM notes WHERE id = $1", name="note_by_id")
                return await stmt.fetchrow(key)
            """,
            """
            import asyncio

            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def both(conn: AsyncConnection):
                raw = await driver_connection(conn)
                stmt = await raw.prepare("SELECT $1::int + 1")
                return await asyncio.gather(stmt.fetchval(1), stmt.fetchval(2))

            async def named(conn: AsyncConnection, key):
                raw = await driver_connection(conn)
                stmt = await raw.prepare("SELECT name FROM notes WHERE id = $1", name="note_by_id")
                return await stmt.fetchrow(key)
            """,
        )

    def test_sql_variable_shared_with_a_statement_that_stays_is_not_edited(self):
        # the literal serves asyncpg's prepare() as written: the other call sends it as written too
        self.check(
            """
            import asyncpg

            async def rows(conn: asyncpg.Connection, keys):
                sql = "SELECT name FROM notes WHERE id = $1"
                stmt = await conn.prepare(sql)
                first = await conn.fetchrow(sql, keys[0])
                return first, stmt.get_query()
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection, first_record

            async def rows(conn: AsyncConnection, keys):
                sql = "SELECT name FROM notes WHERE id = $1"
                raw = await driver_connection(conn)
                stmt = await raw.prepare(sql)
                first = first_record(await conn.exec_driver_sql(sql, (keys[0],)))
                return first, stmt.get_query()
            """,
        )

    # -- must move, and must stay untouched ---------------------------------------------------
    def test_statements_used_only_by_calls_that_move_become_text(self):
        self.check(
            """
            import asyncpg

            async def load(conn: asyncpg.Connection, rows, keys):
                insert = await conn.prepare("INSERT INTO notes (id, name) VALUES ($1, $2)")
                await insert.executemany(rows)
                one = await conn.prepare("SELECT name FROM notes WHERE id = $1")
                return [await one.fetchrow(k) for k in keys]
            """,
            """
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import execute_many, first_record

            async def load(conn: AsyncConnection, rows, keys):
                insert = text("INSERT INTO notes (id, name) VALUES (:p1, :p2)")
                await execute_many(conn, insert, [{"p1": values[0], "p2": values[1]} for values in rows])
                one = text("SELECT name FROM notes WHERE id = :p1")
                return [first_record(await conn.execute(one, {"p1": k})) for k in keys]
            """,
        )

    def test_a_connection_of_its_own_keeps_its_prepared_statement(self):
        source = """
            import asyncpg

            async def own(url, key):
                conn = await asyncpg.connect(url)
                stmt = await conn.prepare("SELECT name FROM notes WHERE id = $1")
                return await stmt.fetchval(key), stmt.get_parameters()
            """
        self.check(source, source)
        assert self.run_codemod(source).changes == []
