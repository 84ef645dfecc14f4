"""repositories codemod, isinstance() against asyncpg's Record: in a module the codemod rewrites
the check accepts the raw-SQL helpers' Record too; the records it returns could never pass for
asyncpg's (checked here against real records from PostgreSQL)."""

from __future__ import annotations

import abc

import asyncpg
import pytest

from codemod_helpers import RepositoryCodemodTest, load_module, make_plan
from pgunify.templates import render_raw_sql_module

WIDENED = "isinstance() against asyncpg.Record accepts the raw-SQL helpers' Record too"


class TestRecordChecks(RepositoryCodemodTest):
    def test_asyncpg_record_check_accepts_both_and_asyncpg_stays_imported(self):
        source = """
            import asyncpg

            async def one(pool: asyncpg.Pool, key):
                row = await pool.fetchrow("SELECT * FROM notes WHERE id = $1", key)
                if isinstance(row, asyncpg.Record):
                    return dict(row)
                return isinstance(key, int)
            """
        self.check(
            source,
            """
            import asyncpg
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import Record, first_record

            async def one(pool: AsyncEngine, key):
                async with pool.connect() as conn:
                    row = first_record(await conn.execute(text("SELECT * FROM notes WHERE id = :key"), {"key": key}))
                if isinstance(row, (asyncpg.Record, Record)):
                    return dict(row)
                return isinstance(key, int)
            """,
        )
        widened = [c for c in self.run_codemod(source).changes if c.description.startswith(WIDENED)]
        assert [(c.line, c.risk.value) for c in widened] == [(6, "review")]

    def test_record_imported_from_asyncpg_is_named_through_the_module(self):
        self.check(
            """
            from asyncpg import Pool, Record

            async def one(pool: Pool, key) -> Record | None:
                row = await pool.fetchrow("SELECT * FROM notes WHERE id = $1", key)
                assert isinstance(row, Record)
                return row
            """,
            """
            import asyncpg
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import Record, first_record

            async def one(pool: AsyncEngine, key) -> Record | None:
                async with pool.connect() as conn:
                    row = first_record(await conn.execute(text("SELECT * FROM notes WHERE id = :key"), {"key": key}))
                assert isinstance(row, (asyncpg.Record, Record))
                return row
            """,
        )

    def test_tuples_of_classes_and_the_protocol_module_name(self):
        self.check(
            """
            import asyncpg
            from asyncpg.protocol import Record

            async def one(pool: asyncpg.Pool, key):
                row = await pool.fetchrow("SELECT * FROM notes WHERE id = $1", key)
                return isinstance(row, (dict, Record)), isinstance(row, asyncpg.protocol.Record)
            """,
            """
            import asyncpg
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import Record, first_record

            async def one(pool: AsyncEngine, key):
                async with pool.connect() as conn:
                    row = first_record(await conn.execute(text("SELECT * FROM notes WHERE id = :key"), {"key": key}))
                return isinstance(row, (dict, asyncpg.Record, Record)), isinstance(row, (asyncpg.protocol.Record, Record))
            """,
        )

    def test_an_alias_of_asyncpgs_record_is_kept(self):
        self.check(
            """
            import asyncpg
            from asyncpg import Record as PgRecord

            async def one(pool: asyncpg.Pool, key):
                row = await pool.fetchrow("SELECT * FROM notes WHERE id = $1", key)
                return isinstance(row, PgRecord)
            """,
            """
            from asyncpg import Record as PgRecord
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import AsyncEngine

            from app.db.raw_sql import Record, first_record

            async def one(pool: AsyncEngine, key):
                async with pool.connect() as conn:
                    row = first_record(await conn.execute(text("SELECT * FROM notes WHERE id = :key"), {"key": key}))
                return isinstance(row, (PgRecord, Record))
            """,
        )

    def test_a_module_rewritten_only_in_its_annotations_widens_its_checks_too(self):
        self.check(
            """
            import asyncpg

            def plain(row: asyncpg.Record):
                return dict(row) if isinstance(row, asyncpg.Record) else row
            """,
            """
            import asyncpg

            from app.db.raw_sql import Record

            def plain(row: Record):
                return dict(row) if isinstance(row, (asyncpg.Record, Record)) else row
            """,
        )

    # -- must stay untouched ---------------------------------------------------------------------
    def test_a_module_the_codemod_does_not_otherwise_rewrite_is_left_to_the_closure_check(self):
        source = """
            import asyncpg

            def plain(value):
                return dict(value) if isinstance(value, asyncpg.Record) else value
            """
        self.check(source, source)
        codemod = self.run_codemod(source)
        assert codemod.changes == [] and codemod.left_alone == []

    def test_a_module_with_a_record_of_its_own_is_left_with_a_reason(self):
        source = """
            import asyncpg

            class Record:
                pass

            async def one(pool: asyncpg.Pool, key):
                row = await pool.fetchrow("SELECT * FROM notes WHERE id = $1", key)
                return isinstance(row, asyncpg.Record)
            """
        codemod = self.run_codemod(source)
        assert not [c for c in codemod.changes if c.description.startswith(WIDENED)]
        assert [(s.line, s.manual) for s in codemod.left_alone] == [(9, False)]
        assert "`Record` names something else in this module" in codemod.left_alone[0].reason

    def test_asyncpgs_record_read_elsewhere_keeps_its_name(self):
        source = """
            from asyncpg import Pool, Record

            async def one(pool: Pool, key):
                row = await pool.fetchrow("SELECT * FROM notes WHERE id = $1", key)
                return isinstance(row, Record), Record
            """
        codemod = self.run_codemod(source)
        assert not [c for c in codemod.changes if c.description.startswith(WIDENED)]
        assert [s.line for s in codemod.left_alone] == [6]
        assert "also read other than in annotations and isinstance() (line 6)" in codemod.left_alone[0].reason


def test_the_helpers_record_cannot_pass_for_asyncpgs():
    """Why the check is widened rather than the helpers' Record made an asyncpg.Record: the C
    type takes no ABC registration, no __instancecheck__, and no usable subclass."""
    assert type(asyncpg.Record) is type  # not an ABCMeta: isinstance() asks the type itself
    with pytest.raises(AttributeError):
        abc.ABCMeta.register(asyncpg.Record, dict)
    with pytest.raises(TypeError):
        asyncpg.Record.__instancecheck__ = lambda cls, value: True
    with pytest.raises(TypeError):
        type("Sub", (asyncpg.Record,), {"__slots__": ("_values",)})
    with pytest.raises(SystemError):  # no instance outside asyncpg's protocol
        type("Sub", (asyncpg.Record,), {})()


async def test_widened_check_holds_for_both_kinds_of_record(tmp_path, database_url):
    raw_sql = load_module(tmp_path, "raw_sql", render_raw_sql_module(make_plan()))
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
    try:
        async with engine.connect() as conn:
            moved = raw_sql.first_record(await conn.execute(text("SELECT 1 AS a")))
    finally:
        await engine.dispose()
    legacy = await asyncpg.connect(database_url)
    try:
        own = await legacy.fetchrow("SELECT 1 AS a")
    finally:
        await legacy.close()
    assert isinstance(own, asyncpg.Record) and not isinstance(moved, asyncpg.Record)
    assert isinstance(moved, (asyncpg.Record, raw_sql.Record)) and isinstance(own, (asyncpg.Record, raw_sql.Record))
