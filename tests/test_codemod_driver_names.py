"""repositories codemod: the driver connection bound to a name on the line before its
statement, reused by later statements of the same block, and where it stays nested."""

from __future__ import annotations

from codemod_helpers import RepositoryCodemodTest

SCRIPT = '"CREATE TABLE IF NOT EXISTS t (a int); CREATE INDEX IF NOT EXISTS i ON t (a)"'


class TestDriverNames(RepositoryCodemodTest):
    def test_statements_of_one_block_share_the_binding(self):
        self.check(
            f"""
            import asyncpg

            async def load(conn: asyncpg.Connection, rows, key):
                # the schema first
                await conn.execute({SCRIPT})
                await conn.execute("DELETE FROM t WHERE a = $1", key)
                await conn.copy_records_to_table("t", records=rows)
            """,
            f"""
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def load(conn: AsyncConnection, rows, key):
                # the schema first
                raw = await driver_connection(conn)
                await raw.execute({SCRIPT})
                await conn.execute(text("DELETE FROM t WHERE a = :key"), {{"key": key}})
                await raw.copy_records_to_table("t", records=rows)
            """,
        )

    def test_a_receiver_bound_again_gets_a_binding_again(self):
        self.check(
            f"""
            import asyncpg

            async def load(conn: asyncpg.Connection, other: asyncpg.Connection, rows):
                await conn.execute({SCRIPT})
                conn = other
                await conn.copy_records_to_table("t", records=rows)
                await conn.close()
                await conn.copy_records_to_table("t", records=rows)
            """,
            f"""
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def load(conn: AsyncConnection, other: AsyncConnection, rows):
                raw = await driver_connection(conn)
                await raw.execute({SCRIPT})
                conn = other
                raw = await driver_connection(conn)
                await raw.copy_records_to_table("t", records=rows)
                await conn.close()
                raw = await driver_connection(conn)
                await raw.copy_records_to_table("t", records=rows)
            """,
        )

    def test_each_block_binds_its_own_and_each_receiver_has_its_name(self):
        self.check(
            """
            import asyncpg

            async def load(conn: asyncpg.Connection, audit: asyncpg.Connection, rows, raw):
                if rows:
                    await conn.copy_records_to_table("t", records=rows)
                await conn.copy_records_to_table("u", records=raw)
                await audit.copy_records_to_table("log", records=rows)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def load(conn: AsyncConnection, audit: AsyncConnection, rows, raw):
                if rows:
                    raw_conn = await driver_connection(conn)
                    await raw_conn.copy_records_to_table("t", records=rows)
                raw_conn = await driver_connection(conn)
                await raw_conn.copy_records_to_table("u", records=raw)
                raw_audit = await driver_connection(audit)
                await raw_audit.copy_records_to_table("log", records=rows)
            """,
        )

    def test_tests_and_iterables_of_compound_statements_bind_before_them(self):
        self.check(
            """
            import asyncpg

            async def report(conn: asyncpg.Connection, sql):
                if conn.is_in_transaction():
                    return []
                async for row in conn.cursor(sql):
                    print(row)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def report(conn: AsyncConnection, sql):
                raw = await driver_connection(conn)
                if raw.is_in_transaction():
                    return []
                async for row in raw.cursor(sql):
                    print(row)
            """,
        )

    def test_an_attribute_receiver_is_bound_for_each_statement(self):
        self.check(
            f"""
            import asyncpg

            class Loader:
                def __init__(self, conn: asyncpg.Connection):
                    self._conn = conn

                async def load(self, rows):
                    await self._conn.execute({SCRIPT})
                    await self.reconnect()
                    await self._conn.copy_records_to_table("t", records=rows)
            """,
            f"""
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            class Loader:
                def __init__(self, conn: AsyncConnection):
                    self._conn = conn

                async def load(self, rows):
                    raw = await driver_connection(self._conn)
                    await raw.execute({SCRIPT})
                    await self.reconnect()
                    raw = await driver_connection(self._conn)
                    await raw.copy_records_to_table("t", records=rows)
            """,
        )

    def test_calls_evaluated_only_sometimes_keep_the_nested_form(self):
        # a binding on the line before would run where the call does not (or runs again)
        self.check(
            """
            import asyncpg

            async def load(conn: asyncpg.Connection, rows, ready):
                done = ready or await conn.copy_records_to_table("t", records=rows)
                pids = [conn.get_server_pid() for _ in rows]
                while not conn.is_in_transaction():
                    break
                if ready:
                    pass
                elif conn.is_in_transaction():
                    pass
                if ready: await conn.copy_records_to_table("t", records=rows)
                return done, pids
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def load(conn: AsyncConnection, rows, ready):
                done = ready or await (await driver_connection(conn)).copy_records_to_table("t", records=rows)
                pids = [(await driver_connection(conn)).get_server_pid() for _ in rows]
                while not (await driver_connection(conn)).is_in_transaction():
                    break
                if ready:
                    pass
                elif (await driver_connection(conn)).is_in_transaction():
                    pass
                if ready: await (await driver_connection(conn)).copy_records_to_table("t", records=rows)
                return done, pids
            """,
        )

    def test_a_receiver_bound_in_the_same_header_keeps_the_nested_form(self):
        self.check(
            """
            import asyncpg

            async def load(conn: asyncpg.Connection, other, rows):
                if (conn := other) and conn.is_in_transaction():
                    pass
                await conn.copy_records_to_table("t", records=(conn := other) and rows)
            """,
            """
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def load(conn: AsyncConnection, other, rows):
                if (conn := other) and (await driver_connection(conn)).is_in_transaction():
                    pass
                await (await driver_connection(conn)).copy_records_to_table("t", records=(conn := other) and rows)
            """,
        )

    def test_migrated_code_stays_untouched(self):
        # the nested form of an earlier run, and the binding of this one, are the author's code now
        code = f"""
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection

            async def load(conn: AsyncConnection, rows):
                await (await driver_connection(conn)).execute({SCRIPT})
                raw = await driver_connection(conn)
                await raw.copy_records_to_table("t", records=rows)
                tr = raw.transaction()
                await tr.start()
            """
        self.check(code, code)
        assert self.run_codemod(code).changes == []

    def test_a_name_read_in_a_nested_function_is_not_taken(self):
        # `raw` bound in load() would be what the closure reads instead of the module's (a star import)
        self.check(
            f"""
            import asyncpg

            from app.names import *

            async def load(conn: asyncpg.Connection):
                await conn.execute({SCRIPT})
                return lambda: raw
            """,
            f"""
            from sqlalchemy.ext.asyncio import AsyncConnection

            from app.db.raw_sql import driver_connection
            from app.names import *

            async def load(conn: AsyncConnection):
                raw_conn = await driver_connection(conn)
                await raw_conn.execute({SCRIPT})
                return lambda: raw
            """,
        )
