"""engine codemod: before/after, and what it must leave untouched."""

from __future__ import annotations

import textwrap

import libcst as cst
from libcst.codemod import CodemodContext, CodemodTest

import pytest

from codemod_helpers import make_plan
from pgunify.codemods.engine import EngineCodemod
from pgunify.rewrite.sources import Callback, Refused, resolve_callback


class TestEngineCodemod(CodemodTest):
    TRANSFORM = EngineCodemod

    def check(self, before: str, after: str, **plan) -> EngineCodemod:
        context = CodemodContext(filename="/app/app/mlops/connection.py", full_module_name="app.mlops.connection")
        self.assertCodemod(before, after, make_plan(**plan), context_override=context)
        return self

    def test_module_level_engine_becomes_the_shared_one(self):
        self.check(
            """
            import os
            from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

            URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://localhost/db")
            async_engine = create_async_engine(URL, pool_pre_ping=True)  # keep this comment
            Session = async_sessionmaker(bind=async_engine)
            """,
            """
            import os
            from sqlalchemy.ext.asyncio import async_sessionmaker

            from app.db.engine import engine

            URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://localhost/db")
            async_engine = engine  # keep this comment
            Session = async_sessionmaker(bind=async_engine)
            """,
        )

    def test_assignment_named_engine_is_replaced_by_the_import(self):
        self.check(
            """
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine("postgresql+asyncpg://localhost/db")


            async def ping():
                async with engine.connect() as conn:
                    return conn
            """,
            """
            from app.db.engine import engine


            async def ping():
                async with engine.connect() as conn:
                    return conn
            """,
        )

    def test_engine_created_in_a_function_from_the_environment(self):
        self.check(
            """
            import os
            import sqlalchemy.ext.asyncio as sa_async

            def make():
                return sa_async.create_async_engine(os.environ["DATABASE_URL"], echo=True)
            """,
            """
            import sqlalchemy.ext.asyncio as sa_async

            from app.db.engine import engine

            def make():
                return engine
            """,
        )

    def test_engine_on_a_url_the_caller_passes_stays(self):
        source = """
            import sqlalchemy.ext.asyncio as sa_async

            def make(url):
                return sa_async.create_async_engine(url, echo=True)
            """
        self.check(source, source)

    def test_engine_on_a_constructor_argument_stays_and_says_why(self):
        source = """
            from sqlalchemy.ext.asyncio import create_async_engine


            class Reports:
                def __init__(self, target: str):
                    self.target = target
                    self.engine = create_async_engine(self.target, pool_size=2)
            """
        context = CodemodContext(filename="/app/app/reports.py", full_module_name="app.reports")
        codemod = EngineCodemod(context, make_plan())
        out = codemod.transform_module(cst.parse_module(textwrap.dedent(source)))
        assert out.code == textwrap.dedent(source)
        assert [item.line for item in codemod.left_alone] == [8]
        assert "parameter target of Reports.__init__()" in codemod.left_alone[0].reason
        assert not codemod.left_alone[0].manual  # a note: nothing is broken by leaving it

    def test_engines_on_another_database_system_stay(self):
        source = """
            from sqlalchemy.ext.asyncio import create_async_engine

            cache = create_async_engine("sqlite+aiosqlite:///cache.db")


            async def scratch(folder):
                engine = create_async_engine(f"sqlite+aiosqlite:///{folder}/scratch.db")
                return engine
            """
        self.check(source, source)

    def test_engine_from_settings_or_a_local_read_of_the_environment_is_replaced(self):
        self.check(
            """
            import os
            from sqlalchemy.ext.asyncio import create_async_engine
            from app.config import settings

            orm_engine = create_async_engine(settings.database_url)


            def reporting():
                url = os.getenv("DATABASE_URL", "postgresql://localhost/app")
                return create_async_engine(url)
            """,
            """
            import os
            from app.db.engine import engine

            orm_engine = engine


            def reporting():
                url = os.getenv("DATABASE_URL", "postgresql://localhost/app")
                return engine
            """,
        )

    def test_name_clash_imports_under_another_name(self):
        self.check(
            """
            from sqlalchemy.ext.asyncio import create_async_engine
            from somewhere import engine

            other = create_async_engine("postgresql+asyncpg://localhost/db")
            """,
            """
            from somewhere import engine

            from app.db.engine import engine as shared_engine

            other = shared_engine
            """,
        )

    def test_asyncpg_pool_and_sync_engines_stay(self):
        source = """
            import asyncpg
            from sqlalchemy import create_engine

            sync_engine = create_engine("postgresql://localhost/db")

            async def init(url):
                return await asyncpg.create_pool(url, min_size=5, max_size=20)
            """
        self.check(source, source)

    def test_lookalike_functions_are_untouched(self):
        source = """
            def create_async_engine(url):
                return url

            engine = create_async_engine("x")
            """
        self.check(source, source)

    def test_the_engine_module_itself_is_untouched(self):
        source = """
            from sqlalchemy.ext.asyncio import create_async_engine

            engine = create_async_engine("postgresql+asyncpg://db/x")
            """
        context = CodemodContext(filename="/app/app/db/engine.py", full_module_name="app.db.engine")
        self.assertCodemod(source, source, make_plan(), context_override=context)

    def test_second_run_is_a_no_op(self):
        after = """
            from sqlalchemy.ext.asyncio import async_sessionmaker

            from app.db.engine import engine

            async_engine = engine
            Session = async_sessionmaker(bind=async_engine)
            """
        self.check(after, after)


class TestPoolCallbacks(CodemodTest):
    """create_pool(init=...) callbacks defined beside the pool, as the plan moved them."""

    TRANSFORM = EngineCodemod

    def callback(self, source: str, keyword: str = "init") -> Callback:
        source = textwrap.dedent(source)
        line = next(i for i, text in enumerate(source.splitlines(), 1) if "create_pool(" in text)
        return resolve_callback(source, "app/store.py", "app.store", False, line, keyword, lambda module: False)

    def check(self, before: str, after: str, callbacks=()) -> None:
        context = CodemodContext(filename="/app/app/store.py", full_module_name="app.store")
        plan = make_plan(move_asyncpg_pools=True, pool_callbacks=tuple(callbacks))
        self.assertCodemod(before, after, plan, context_override=context)

    def test_a_nested_callback_moves_and_its_def_goes_away(self):
        before = """
            import json

            import asyncpg


            async def open_store(url):
                async def prepare(conn):
                    await conn.set_type_codec("json", schema="pg_catalog", encoder=json.dumps, decoder=json.loads)

                return await asyncpg.create_pool(url, init=prepare)
            """
        moved = self.callback(before)
        assert (moved.name, moved.defined_in, moved.event) == ("prepare", "open_store", "connect")
        assert [i.statement for i in moved.imports] == ["import json"]
        self.check(before, """
            from app.db.engine import use_database_url


            async def open_store(url):
                return await use_database_url(url)
            """, [moved])

    def test_a_nested_callback_something_else_calls_stays_in_place(self):
        before = """
            import asyncpg


            async def open_store(url):
                async def prepare(conn):
                    await conn.execute("SET search_path TO app")

                pool = await asyncpg.create_pool(url, setup=prepare)
                return pool, prepare
            """
        moved = self.callback(before, "setup")
        assert moved.event == "checkout"
        self.check(before, """
            from app.db.engine import use_database_url


            async def open_store(url):
                async def prepare(conn):
                    await conn.execute("SET search_path TO app")

                pool = await use_database_url(url)
                return pool, prepare
            """, [moved])

    def test_a_closure_is_refused_with_the_names_it_uses(self):
        with pytest.raises(Refused, match="uses schema of the function that creates the pool"):
            self.callback("""
                import asyncpg


                async def open_store(url, schema):
                    async def prepare(conn):
                        await conn.execute(f"SET search_path TO {schema}")

                    return await asyncpg.create_pool(url, init=prepare)
                """)

    def test_a_default_taken_from_the_enclosing_function_is_refused(self):
        with pytest.raises(Refused, match="default or annotation"):
            self.callback("""
                import asyncpg


                async def open_store(url, role):
                    async def prepare(conn, role=role):
                        await conn.execute("SET ROLE " + role)

                    return await asyncpg.create_pool(url, init=prepare)
                """)

    def test_a_homonym_at_module_level_is_not_the_callback(self):
        moved = self.callback("""
            import asyncpg


            def setup_tables(*args):
                print("the command-line entry point")


            async def open_store(url):
                async def setup_tables(conn):
                    await conn.execute("SET TIME ZONE 'UTC'")

                return await asyncpg.create_pool(url, init=setup_tables)
            """)
        assert moved.code.startswith("async def setup_tables(conn):") and not moved.function

    def test_a_module_level_callback_is_imported_by_its_exact_name(self):
        moved = self.callback("""
            import asyncpg


            async def prepare(conn):
                await conn.execute("SET TIME ZONE 'UTC'")


            async def open_store(url):
                return await asyncpg.create_pool(url, init=prepare)
            """)
        assert (moved.module, moved.function, moved.code) == ("app.store", "prepare", "")

    def test_a_module_level_name_bound_twice_is_refused(self):
        with pytest.raises(Refused, match="binds prepare 2 times"):
            self.callback("""
                import asyncpg

                if asyncpg.__version__ > "0.30":
                    async def prepare(conn): ...
                else:
                    async def prepare(conn): ...


                async def open_store(url):
                    return await asyncpg.create_pool(url, init=prepare)
                """)

    def test_a_lambda_becomes_a_function(self):
        moved = self.callback("""
            import asyncpg


            async def open_store(url):
                return await asyncpg.create_pool(url, init=lambda conn: conn.execute("SET jit = off"))
            """)
        assert moved.code == 'def init_connection(conn):\n    return conn.execute("SET jit = off")\n'

    def test_private_attributes_of_a_pool_are_manual(self):
        source = """
            async def report(pool):
                return pool._minsize, pool.get_size()
            """
        context = CodemodContext(filename="/app/app/health.py", full_module_name="app.health")
        codemod = EngineCodemod(context, make_plan(move_asyncpg_pools=True))
        codemod.transform_module(cst.parse_module(textwrap.dedent(source)))
        assert [(i.line, i.manual) for i in codemod.left_alone] == [(3, True)]
        assert "_minsize" in codemod.left_alone[0].reason
