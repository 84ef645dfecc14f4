"""statement-constants codemod: fixed text() statements built once, as module constants.

Before/after cases on modules in the form `repositories` writes, the cases that must stay as
they are (SQL built at run time, names that would change meaning at the top, statements the
application wrote itself, tests), and the moved statements executed on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import libcst as cst
from codemod_helpers import REPOSITORIES_PLAN, load_module, make_plan
from libcst.codemod import CodemodContext, CodemodTest

from pgunify.codemods.statement_constants import StatementConstantsCodemod

PLAN = make_plan(**REPOSITORIES_PLAN)


def _context(filename: str = "/app/app/repo.py") -> CodemodContext:
    return CodemodContext(filename=filename, full_module_name="app.repo")


def _run(source: str, filename: str = "/app/app/repo.py") -> tuple[str, StatementConstantsCodemod]:
    codemod = StatementConstantsCodemod(_context(filename), PLAN)
    tree = codemod.transform_module(cst.parse_module(textwrap.dedent(source)))
    return tree.code, codemod


class TestStatementConstants(CodemodTest):
    TRANSFORM = StatementConstantsCodemod

    def check(self, before: str, after: str) -> None:
        self.assertCodemod(before, after, PLAN, context_override=_context())
        # the result is left as it is by a second run
        self.assertCodemod(after, after, PLAN, context_override=_context())

    def test_a_literal_statement_moves_above_its_class(self) -> None:
        self.check(
            '''
            from sqlalchemy import text

            from app.db.raw_sql import first_record


            class AlertRepository:
                async def get(self, alert_id):
                    async with self.pool.connect() as conn:
                        return first_record(await conn.execute(text("SELECT * FROM alerts WHERE id = :alert_id"), {"alert_id": alert_id}))
            ''',
            '''
            from sqlalchemy import text

            from app.db.raw_sql import first_record

            _GET_SQL = text("SELECT * FROM alerts WHERE id = :alert_id")


            class AlertRepository:
                async def get(self, alert_id):
                    async with self.pool.connect() as conn:
                        return first_record(await conn.execute(_GET_SQL, {"alert_id": alert_id}))
            ''',
        )

    def test_several_statements_of_one_function_are_named_by_keyword_or_in_order(self) -> None:
        self.check(
            '''
            from sqlalchemy import text

            X = 1


            async def escalate(conn, ids):
                rows = await conn.execute(text("SELECT id FROM alerts"))
                await conn.execute(text("UPDATE alerts SET level = 2 WHERE id = ANY(:ids)"), {"ids": ids})


            async def purge(conn, day, only_read):
                if only_read:
                    await conn.execute(text("DELETE FROM alerts WHERE day < :day AND read"), {"day": day})
                else:
                    await conn.execute(text("DELETE FROM alerts WHERE day < :day"), {"day": day})
            ''',
            '''
            from sqlalchemy import text

            X = 1


            _ESCALATE_SELECT_SQL = text("SELECT id FROM alerts")
            _ESCALATE_UPDATE_SQL = text("UPDATE alerts SET level = 2 WHERE id = ANY(:ids)")


            async def escalate(conn, ids):
                rows = await conn.execute(_ESCALATE_SELECT_SQL)
                await conn.execute(_ESCALATE_UPDATE_SQL, {"ids": ids})


            _PURGE_SQL_1 = text("DELETE FROM alerts WHERE day < :day AND read")
            _PURGE_SQL_2 = text("DELETE FROM alerts WHERE day < :day")


            async def purge(conn, day, only_read):
                if only_read:
                    await conn.execute(_PURGE_SQL_1, {"day": day})
                else:
                    await conn.execute(_PURGE_SQL_2, {"day": day})
            ''',
        )

    def test_the_same_statement_twice_shares_one_constant(self) -> None:
        self.check(
            '''
            from sqlalchemy import text


            async def first(conn):
                return await conn.execute(text("SELECT 1"))


            async def second(conn):
                return await conn.execute(text("SELECT 1"))
            ''',
            '''
            from sqlalchemy import text

            _FIRST_SQL = text("SELECT 1")


            async def first(conn):
                return await conn.execute(_FIRST_SQL)


            async def second(conn):
                return await conn.execute(_FIRST_SQL)
            ''',
        )

    def test_a_sql_constant_and_a_columns_declaration(self) -> None:
        self.check(
            '''
            from sqlalchemy import text
            from sqlalchemy.dialects.postgresql import JSONB

            SELECT_CAMERA_SQL = "SELECT id, config FROM cameras WHERE id = :p1"


            class Cameras:
                async def get(self, conn, camera_id):
                    return await conn.execute(text(SELECT_CAMERA_SQL).columns(config=JSONB), {"p1": camera_id})

                async def raw(self, conn, camera_id):
                    return await conn.execute(text(SELECT_CAMERA_SQL), {"p1": camera_id})
            ''',
            '''
            from sqlalchemy import text
            from sqlalchemy.dialects.postgresql import JSONB

            SELECT_CAMERA_SQL = "SELECT id, config FROM cameras WHERE id = :p1"


            _SELECT_CAMERA_STATEMENT_JSONB = text(SELECT_CAMERA_SQL).columns(config=JSONB)
            _SELECT_CAMERA_STATEMENT = text(SELECT_CAMERA_SQL)


            class Cameras:
                async def get(self, conn, camera_id):
                    return await conn.execute(_SELECT_CAMERA_STATEMENT_JSONB, {"p1": camera_id})

                async def raw(self, conn, camera_id):
                    return await conn.execute(_SELECT_CAMERA_STATEMENT, {"p1": camera_id})
            ''',
        )

    def test_pieces_of_a_long_statement_are_laid_out_at_the_top(self) -> None:
        self.check(
            '''
            from sqlalchemy import text


            # the repository of alerts
            class Alerts:
                async def create_many(self, conn, rows):
                    await conn.execute(
                        text(
                            "INSERT INTO alerts (camera_id, alert_type, severity, message) "
                            r"VALUES (:p1, :p2, :p3, :p4\\:\\:text)"
                        ),
                        rows,
                    )
            ''',
            '''
            from sqlalchemy import text

            _CREATE_MANY_SQL = text(
                "INSERT INTO alerts (camera_id, alert_type, severity, message) "
                r"VALUES (:p1, :p2, :p3, :p4\\:\\:text)"
            )


            # the repository of alerts
            class Alerts:
                async def create_many(self, conn, rows):
                    await conn.execute(
                        _CREATE_MANY_SQL,
                        rows,
                    )
            ''',
        )

    def test_a_name_the_module_uses_is_never_taken(self) -> None:
        self.check(
            '''
            from sqlalchemy import text


            async def get(conn, _GET_SQL):
                return await conn.execute(text("SELECT 2"))
            ''',
            '''
            from sqlalchemy import text

            _GET_SQL_2 = text("SELECT 2")


            async def get(conn, _GET_SQL):
                return await conn.execute(_GET_SQL_2)
            ''',
        )

    def test_what_must_stay_where_it_is(self) -> None:
        untouched = [
            # SQL built at run time, or held in a local variable
            '''
            from sqlalchemy import text


            async def find(conn, table, sql):
                await conn.execute(text(f"SELECT * FROM {table}"))
                await conn.execute(text("SELECT * FROM " + table))
                await conn.execute(text(sql))
            ''',
            # the SQL constant is bound below its user, rebound, augmented or declared global
            '''
            from sqlalchemy import text


            async def late(conn):
                await conn.execute(text(LATE))


            LATE = "SELECT 1"
            TWICE = "SELECT 1"
            TWICE = "SELECT 2"
            GROWN = "SELECT 1"
            GROWN += " WHERE true"
            MOVED = "SELECT 3"


            async def uses(conn):
                await conn.execute(text(TWICE))
                await conn.execute(text(GROWN))
                await conn.execute(text(MOVED))


            def reset():
                global MOVED
                MOVED = "SELECT 4"
            ''',
            # a name the statement reads is bound inside the function: the local one is meant
            '''
            from sqlalchemy import text
            from sqlalchemy.dialects.postgresql import JSONB

            SQL = "SELECT 1"


            async def shadowed(conn, SQL):
                await conn.execute(text(SQL))


            async def typed(conn, JSONB):
                await conn.execute(text("SELECT '{}'::jsonb AS v").columns(v=JSONB))


            async def own_text(conn):
                from sqlalchemy.sql import text
                await conn.execute(text("SELECT 5"))
            ''',
            # built once already: a default argument, a decorator, the module's own level
            '''
            from sqlalchemy import text

            TOP = text("SELECT 1")


            @registered(text("SELECT 2"))
            async def get(conn, statement=text("SELECT 3")):
                await conn.execute(statement)
            ''',
            # text is not sqlalchemy's, or not imported at the top
            '''
            from app.markup import text


            async def render(conn):
                await conn.execute(text("SELECT 1"))
            ''',
            '''
            async def local_import(conn):
                from sqlalchemy import text
                await conn.execute(text("SELECT 1"))
            ''',
        ]
        for source in untouched:
            self.assertCodemod(source, source, PLAN, context_override=_context())


def test_statements_the_application_wrote_itself_stay(tmp_path: Path) -> None:
    # on disk: the application's own text(), and an asyncpg call the repositories codemod rewrote
    on_disk = textwrap.dedent('''
        from sqlalchemy import text


        async def health(conn):
            return await conn.execute(text("SELECT 1"))


        async def count(pool):
            return await pool.fetchval("SELECT count(*) FROM alerts")
    ''')
    migrated = on_disk.replace('await pool.fetchval("SELECT count(*) FROM alerts")',
                               'await conn.execute(text("SELECT count(*) FROM alerts"))')
    path = tmp_path / "repo.py"
    path.write_text(on_disk)
    code, codemod = _run(migrated, str(path))
    assert 'await conn.execute(text("SELECT 1"))' in code
    assert '_COUNT_SQL = text("SELECT count(*) FROM alerts")' in code
    assert "await conn.execute(_COUNT_SQL)" in code
    assert [c.description for c in codemod.changes] == [
        "the statement of count is built once, at import, as _COUNT_SQL"]
    # the line of the function that built it, in the file on disk
    assert [c.line for c in codemod.changes] == [on_disk.splitlines().index("async def count(pool):") + 1]


def test_tests_are_not_its_files() -> None:
    source = b"import asyncpg\nasync def test_x(pool):\n    await pool.fetchrow('SELECT 1')\n"
    assert StatementConstantsCodemod.wants_file("app/repo.py", source, PLAN)
    assert not StatementConstantsCodemod.wants_file("tests/test_repo.py", source, PLAN)
    assert not StatementConstantsCodemod.wants_file("app/test_repo.py", source, PLAN)
    assert not StatementConstantsCodemod.wants_file("conftest.py", source, PLAN)


def test_moved_statements_run_on_postgresql(tmp_path: Path, database_url: str) -> None:
    """The module as rewritten imports, and its constants serve concurrent calls."""
    code, codemod = _run('''
        import asyncio

        from sqlalchemy import text
        from sqlalchemy.dialects.postgresql import JSONB

        DOUBLE_SQL = "SELECT CAST(:p1 AS int) * 2 AS doubled"


        class Repo:
            def __init__(self, engine):
                self.engine = engine

            async def double(self, value):
                async with self.engine.connect() as conn:
                    return (await conn.execute(text(DOUBLE_SQL), {"p1": value})).scalar_one()

            async def config(self, value):
                async with self.engine.connect() as conn:
                    result = await conn.execute(
                        text("SELECT jsonb_build_object('v', CAST(:value AS int)) AS config").columns(config=JSONB),
                        {"value": value},
                    )
                    return result.scalar_one()

            async def many(self, values):
                return await asyncio.gather(*(self.double(v) for v in values), *(self.config(v) for v in values))
    ''')
    assert len(codemod.changes) == 2
    assert "text(" not in code.split("class Repo")[1]
    module = load_module(tmp_path, "moved", code)
    from sqlalchemy.ext.asyncio import create_async_engine

    async def main():
        engine = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1), pool_size=3)
        try:
            return await module.Repo(engine).many(range(6))
        finally:
            await engine.dispose()

    results = asyncio.run(main())
    assert results == [0, 2, 4, 6, 8, 10] + [{"v": n} for n in range(6)]


def test_a_module_that_binds_text_itself_gets_sqlalchemys_under_another_name(tmp_path: Path) -> None:
    """`for flag, text in ...:` in the function: `text(...)` there would call the loop's string.
    The repositories codemod imports sqlalchemy's text as sa_text, and the statement moves
    as sa_text(...)."""
    from codemod_helpers import RepositoryCodemodTest

    source = textwrap.dedent('''
        import asyncpg


        async def badges(pool: asyncpg.Pool, flags, user_id):
            shown = []
            for flag, text in flags.items():
                shown.append(text)
            rows = await pool.fetch("SELECT name FROM badges WHERE user_id = $1", user_id)
            count = await pool.fetchval("SELECT count(*) FROM badges")
            return shown, rows, count
    ''')
    migrated = RepositoryCodemodTest().run_codemod(source)
    from libcst.codemod import CodemodContext as Context

    from pgunify.codemods.repositories import RepositoryCodemod

    codemod = RepositoryCodemod(Context(filename="/app/app/repo.py", full_module_name="app.repo"), PLAN)
    code = codemod.transform_module(cst.parse_module(source)).code
    assert migrated.changes
    assert code.count("from sqlalchemy import text as sa_text\n") == 1 and code.count("sa_text,") == 0
    assert 'sa_text("SELECT name FROM badges WHERE user_id = :user_id")' in code
    moved, constants = _run(code)
    assert '_BADGES_SELECT_SQL = sa_text("SELECT name FROM badges WHERE user_id = :user_id")' not in moved
    assert '_BADGES_SQL_1 = sa_text("SELECT name FROM badges WHERE user_id = :user_id")' in moved
    assert "await conn.execute(_BADGES_SQL_1" in moved and "await conn.execute(_BADGES_SQL_2)" in moved
    # the second run of the repositories codemod leaves the migrated module as it is
    again = RepositoryCodemod(Context(filename="/app/app/repo.py", full_module_name="app.repo"), PLAN)
    assert again.transform_module(cst.parse_module(code)).code == code
