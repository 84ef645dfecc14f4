"""engine codemod: before/after, and what it must leave untouched."""

from __future__ import annotations

from libcst.codemod import CodemodContext, CodemodTest

from codemod_helpers import make_plan
from unify.codemods.engine import EngineCodemod


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

    def test_engine_created_in_a_function(self):
        self.check(
            """
            import sqlalchemy.ext.asyncio as sa_async

            def make(url):
                return sa_async.create_async_engine(url, echo=True)
            """,
            """
            import sqlalchemy.ext.asyncio as sa_async
            from app.db.engine import engine

            def make(url):
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
