"""schema-startup codemod: schema creation leaves start-up once the Alembic baseline exists."""

from __future__ import annotations

import tempfile
from pathlib import Path

from libcst.codemod import CodemodContext, CodemodTest

from codemod_helpers import make_plan
from pgunify.codemods.schema_startup import NO_BASELINE, SchemaStartupCodemod
from pgunify.rewrite.plan import has_alembic_baseline


def _target(with_baseline: bool) -> Path:
    root = Path(tempfile.mkdtemp(prefix="schema-startup-"))
    if with_baseline:
        (root / "alembic.ini").write_text("[alembic]\n")
        (root / "migrations/versions").mkdir(parents=True)
        (root / "migrations/versions/0001_baseline.py").write_text("revision = '0001'\n")
    return root


class TestSchemaStartupCodemod(CodemodTest):
    TRANSFORM = SchemaStartupCodemod

    @classmethod
    def setUpClass(cls) -> None:
        cls.with_baseline = _target(True)
        cls.without_baseline = _target(False)

    def check(self, before: str, after: str, baseline: bool = True, filename: str = "app/main.py") -> SchemaStartupCodemod:
        root = self.with_baseline if baseline else self.without_baseline
        context = CodemodContext(filename=str(root / filename), full_module_name="app.main")
        plan = make_plan(root=root, import_root=root, alembic_baseline=has_alembic_baseline(root))
        self.assertCodemod(before, after, plan, context_override=context)

    def test_baseline_is_detected_from_the_environment_files(self):
        assert has_alembic_baseline(self.with_baseline) and not has_alembic_baseline(self.without_baseline)

    def test_create_all_and_its_connection_block_are_removed(self):
        self.check(
            """
            async def init_db() -> None:
                \"\"\"Create the tables.\"\"\"
                from app import models  # noqa: F401

                async with engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                logger.info("ready")
            """,
            """
            async def init_db() -> None:
                \"\"\"Create the tables.\"\"\"
                from app import models  # noqa: F401
                logger.info("ready")
            """,
        )

    def test_sync_create_all_leaves_pass_in_an_otherwise_empty_function(self):
        self.check(
            """
            def create_tables(engine):
                metadata.create_all(engine)
            """,
            """
            def create_tables(engine):
                pass
            """,
        )

    def test_create_table_executed_in_code_is_removed(self):
        self.check(
            """
            async def start(pool):
                await pool.execute("CREATE TABLE IF NOT EXISTS audit (id bigserial PRIMARY KEY)")
                await pool.execute("INSERT INTO audit DEFAULT VALUES")
            """,
            """
            async def start(pool):
                await pool.execute("INSERT INTO audit DEFAULT VALUES")
            """,
        )

    def test_installer_calls_leave_the_lifespan_with_the_try_that_guarded_them(self):
        self.check(
            """
            from app.database import init_db
            from app.services import get_db_service


            @asynccontextmanager
            async def lifespan(app):
                db = await get_db_service()
                await db.init_schema()
                try:
                    await init_db()
                except Exception:
                    logger.exception("MLOps database initialisation failed")
                logger.info("started")
                yield
            """,
            """
            from app.services import get_db_service


            @asynccontextmanager
            async def lifespan(app):
                db = await get_db_service()
                logger.info("started")
                yield
            """,
        )

    def test_without_a_baseline_every_site_stays_with_the_reason(self):
        source = """
            async def lifespan(app):
                await init_schema()
                async with engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
            """
        root = self.without_baseline
        context = CodemodContext(filename=str(root / "app/main.py"), full_module_name="app.main")
        codemod = SchemaStartupCodemod(context, make_plan(root=root, import_root=root))
        import libcst as cst
        import textwrap

        module = cst.parse_module(textwrap.dedent(source))
        assert codemod.transform_module(module).code == module.code
        assert len(codemod.left_alone) == 2 and all(NO_BASELINE in item.reason for item in codemod.left_alone)
        assert not codemod.changes

    def test_installers_outside_start_up_hooks_and_other_sql_stay(self):
        source = """
            async def init_db_command(pool):
                await install_schema(pool)

            async def report(pool):
                await pool.execute("SELECT create_all FROM settings")
                await pool.execute(CREATE_SQL)
                await pool.execute("DROP TABLE IF EXISTS scratch")
            """
        self.check(source, source)

    def test_test_files_keep_their_own_schema_setup(self):
        source = """
            def setup_db(engine):
                Base.metadata.create_all(engine)
            """
        self.check(source, source, filename="tests/conftest.py")


def test_a_baseline_written_after_a_dry_run_is_seen_by_the_next_run(tmp_path):
    """The per-file result cache keys on the plan, and the plan knows about the baseline."""
    from typer.testing import CliRunner

    from pgunify.cli import app

    (tmp_path / "app").mkdir()
    (tmp_path / "app/main.py").write_text(
        "from app.models import Base, engine\n\n\n"
        "async def lifespan(app):\n"
        "    async with engine.begin() as conn:\n"
        "        await conn.run_sync(Base.metadata.create_all)\n"
        "    yield\n"
    )
    runner = CliRunner()
    before = runner.invoke(app, ["migrate", str(tmp_path), "--select", "schema-startup", "--format", "json"])
    assert before.exit_code == 0, before.output  # nothing to change yet: the site is left alone
    (tmp_path / "alembic.ini").write_text("[alembic]\n")
    (tmp_path / "migrations/versions").mkdir(parents=True)
    (tmp_path / "migrations/versions/0001_baseline.py").write_text("revision = '0001'\n")
    after = runner.invoke(app, ["migrate", str(tmp_path), "--select", "schema-startup", "--format", "json"])
    assert after.exit_code == 1, after.output  # the create_all now goes
    assert "create_all" in after.output
