"""What the scan recognises in Python code, and what it must not mistake for asyncpg."""

from __future__ import annotations

import textwrap

from pgunify.facts.python_facts import facts_from_source


def facts(code: str):
    return facts_from_source("m.py", textwrap.dedent(code).lstrip("\n").encode())


def test_receivers_follow_assignments_acquire_and_annotations():
    f = facts(
        """
        import asyncpg
        from asyncpg import Pool

        class Repo:
            def __init__(self, database: Pool):
                self._db = database

            async def one(self, key):
                async with self._db.acquire() as c:
                    return await c.fetchrow("SELECT * FROM t WHERE k = $1", key)

            async def many(self):
                return await self._db.fetch("SELECT * FROM t")

        async def standalone(dsn):
            link = await asyncpg.connect(dsn)
            return await link.fetchval("SELECT 1")
        """
    )
    by_line = {c.location.line: c for c in f.calls}
    assert [c.method for c in f.calls] == ["fetchrow", "fetch", "fetchval"]
    assert by_line[10].receiver_kind == "connection" and by_line[10].evidence == "acquire()"
    assert by_line[13].receiver_kind == "pool" and by_line[13].evidence == "annotation asyncpg.Pool"
    assert by_line[17].receiver_kind == "connection" and by_line[17].evidence == "asyncpg.connect()"
    assert [a.form for a in f.acquires] == ["async-with"]


def test_sqlalchemy_connections_and_sessions_are_not_asyncpg():
    f = facts(
        """
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker

        engine = create_async_engine("postgresql+asyncpg://localhost/db")
        Session = async_sessionmaker(engine)

        async def run():
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            async with Session() as session:
                await session.execute(text("SELECT 2"))
        """
    )
    assert f.calls == ()
    assert [x.kind for x in f.factories] == ["engine", "session-factory"]


def test_unrelated_fetch_and_execute_are_ignored():
    f = facts(
        """
        import httpx
        import sqlite3

        async def get(client: httpx.AsyncClient):
            await client.fetch("/x")
            cursor = sqlite3.connect(":memory:").cursor()
            cursor.execute("SELECT 1")
        """
    )
    assert f.calls == ()


def test_sql_origin_placeholders_casts_and_statements():
    f = facts(
        """
        import asyncpg

        GET = "SELECT * FROM t WHERE id = $2 AND tags && $1::text[]"

        async def go(pool: asyncpg.Pool, table, ids):
            await pool.fetch(GET, ["a"], 3)
            await pool.execute(f"DELETE FROM {table} WHERE id = $1", 1)
            await pool.execute("CREATE TABLE a (x int); CREATE INDEX ON a (x)")
            await pool.fetch("SELECT '$1', $1::jsonb -- $9", "{}")
            await pool.executemany("INSERT INTO t VALUES ($1, $2)", [(1, 2)])
        """
    )
    get, dynamic, script, literal, many = f.calls
    assert get.sql_origin == "constant:GET" and get.placeholders == (1, 2) and get.casts == ((1, "text[]"),)
    assert dynamic.sql_origin == "dynamic" and dynamic.sql is None
    assert script.statements == 2
    assert literal.placeholders == (1,) and literal.casts == ((1, "jsonb"),)
    assert many.method == "executemany" and many.placeholders == (1, 2)
    assert any(s.kind == "ddl-in-code" for s in f.schema_sources)


def test_result_use_is_described():
    f = facts(
        """
        import json
        import asyncpg

        async def go(pool: asyncpg.Pool):
            rows = await pool.fetch("SELECT 1 AS a, 2 AS b")
            out = [json.loads(r["a"]) for r in rows]
            row = await pool.fetchrow("SELECT 1")
            first = row[0]
            status = await pool.execute("UPDATE t SET a = 1")
            if status == "UPDATE 0":
                pass
            a, b = await pool.fetchrow("SELECT 1, 2")
            return dict(row)
        """
    )
    uses = {c.location.line: c.result_use for c in f.calls}
    assert "iterated" in uses[5] and "each: row['col']" in uses[5]
    assert "row[i]" in uses[7] and "dict(...)" in uses[7]
    assert uses[9] == ("compared",)
    assert uses[12] == ("unpacked",)


def test_transactions_and_except_clauses():
    f = facts(
        """
        import asyncpg
        from asyncpg.exceptions import UniqueViolationError

        async def go(pool: asyncpg.Pool):
            async with pool.acquire() as conn:
                async with conn.transaction():
                    await conn.execute("INSERT INTO t VALUES (1)")
                try:
                    await conn.execute("INSERT INTO t VALUES (1)")
                except (UniqueViolationError, asyncpg.PostgresError):
                    pass
        """
    )
    inside, outside = f.calls
    assert inside.in_transaction and not outside.in_transaction
    assert [e.exception for e in f.except_clauses] == ["asyncpg.exceptions.UniqueViolationError", "asyncpg.PostgresError"]


def test_env_reads_with_defaults_are_redacted():
    f = facts(
        """
        import os
        from os import getenv, environ

        A = os.getenv("DATABASE_URL", "postgresql://app:s3cr3t@localhost:5432/app")
        B = environ.get("ASYNC_DATABASE_URL", default="postgresql+asyncpg://app:s3cr3t@localhost/app")
        C = os.environ["REDIS_URL"]
        D = getenv("LOG_LEVEL", "info")
        os.environ["X"] = "y"
        """
    )
    reads = {e.name: e for e in f.env_reads}
    assert set(reads) == {"DATABASE_URL", "ASYNC_DATABASE_URL", "REDIS_URL", "LOG_LEVEL"}
    assert reads["DATABASE_URL"].database_url and reads["ASYNC_DATABASE_URL"].database_url
    assert not reads["REDIS_URL"].database_url and not reads["LOG_LEVEL"].database_url
    assert reads["ASYNC_DATABASE_URL"].default == "postgresql+asyncpg://app:***@localhost/app"
    assert all("s3cr3t" not in (e.default or "") for e in f.env_reads)


def test_orm_tables_and_create_all():
    f = facts(
        """
        from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

        class Base(DeclarativeBase):
            pass

        class Dataset(Base):
            __tablename__ = "datasets"
            id: Mapped[int] = mapped_column(primary_key=True)

        async def init(engine):
            async with engine.begin() as conn:
                await conn.run_sync(Base.metadata.create_all)

        def init_sync(engine):
            Base.metadata.create_all(engine)
        """
    )
    assert f.orm_tables == (("Dataset", "datasets"),)
    assert [s.detail for s in f.schema_sources if s.kind == "metadata-create-all"] == [
        "Base.metadata.create_all", "Base.metadata.create_all"]  # passed to run_sync, and called


def test_driver_calls_of_migrated_code_are_named_as_such():
    f = facts(
        """
        import asyncpg
        from app.db.raw_sql import driver_connection

        async def load(engine, rows):
            async with engine.connect() as conn:
                await (await driver_connection(conn)).copy_records_to_table("t", records=rows)
        """
    )
    (call,) = f.calls
    assert call.receiver_kind == "driver" and call.method == "copy_records_to_table"


def test_driver_calls_on_a_name_bound_to_the_driver_connection_are_named_as_such():
    f = facts(
        """
        import asyncpg
        from app.db.raw_sql import driver_connection

        async def load(engine, rows, other):
            async with engine.connect() as conn:
                raw = await driver_connection(conn)
                await raw.copy_records_to_table("t", records=rows)
                maybe = await driver_connection(conn) if rows else other
                await maybe.copy_records_to_table("t", records=rows)
        """
    )
    assert [(c.receiver_kind, c.location.line) for c in f.calls] == [("driver", 7), ("unresolved", 9)]
