"""Where the generated modules go: under an import root every migrated module has on its path.

Each test builds a small project in tmp_path, plans the migration, and checks the dotted
names the codemods will import; where it matters, the migrated program is run as its
users run it (a script in a subfolder, the application's own package).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app
from pgunify.config import Settings
from pgunify.facts.inventory import scan
from pgunify.files import collect
from pgunify.rewrite.plan import build_plan

POOL = """\
    import os
    import asyncpg


    async def open_pool():
        return await asyncpg.create_pool(os.environ["DATABASE_URL"], max_size=3)
    """

REPOSITORY = """\
    import asyncpg


    class Things:
        def __init__(self, pool: asyncpg.Pool) -> None:
            self.pool = pool

        async def count(self) -> int:
            return await self.pool.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", "public")
    """


def tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def plan_of(root: Path, **settings):
    files = collect(root)
    inventory = scan(root, files=files)
    return build_plan(root, inventory, Settings(**settings), move_asyncpg_pools=True, python_files=files.python)


def test_src_layout_places_the_modules_in_the_package(tmp_path):
    root = tree(tmp_path, {"src/shop/__init__.py": "", "src/shop/db.py": POOL, "src/shop/things.py": REPOSITORY})
    plan = plan_of(root)
    assert plan.location_problem == ""
    assert plan.import_root == root / "src"
    assert (plan.engine_module, plan.engine_path) == ("shop.engine", "src/shop/engine.py")
    assert (plan.raw_sql_module, plan.raw_sql_path) == ("shop.raw_sql", "src/shop/raw_sql.py")


def test_flat_layout_with_top_level_modules(tmp_path):
    root = tree(tmp_path, {"db.py": POOL, "things.py": REPOSITORY})
    plan = plan_of(root)
    assert (plan.engine_module, plan.raw_sql_module, plan.location_problem) == ("engine", "raw_sql", "")


def test_code_run_from_a_subfolder_gets_the_modules_beside_it(tmp_path):
    # scripts run as `python py/app.py`; the modules import each other by bare name
    root = tree(tmp_path, {
        "py/db.py": POOL,
        "py/things.py": REPOSITORY,
        "py/app.py": """\
            import asyncio

            import db
            from things import Things


            async def main():
                pool = await db.open_pool()
                print(await Things(pool).count())


            asyncio.run(main())
            """,
        "tests/test_things.py": """\
            import sys
            from pathlib import Path

            sys.path.insert(0, str(Path(__file__).parents[1] / "py"))
            import things
            """,
    })
    plan = plan_of(root)
    assert plan.location_problem == ""
    assert plan.import_root == root / "py"
    assert (plan.engine_path, plan.engine_module) == ("py/engine.py", "engine")
    assert (plan.raw_sql_path, plan.raw_sql_module) == ("py/raw_sql.py", "raw_sql")


def test_pool_in_the_tests_does_not_pull_the_modules_out_of_the_application(tmp_path):
    root = tree(tmp_path, {
        "tests/conftest.py": """\
            import os

            import asyncpg
            import pytest

            from app.things import Things


            @pytest.fixture
            async def things():
                pool = await asyncpg.create_pool(os.environ["DATABASE_URL"])
                yield Things(pool)
                await pool.close()
            """,
        "app/__init__.py": "",
        "app/things.py": REPOSITORY,
        "app/db.py": POOL,
    })
    plan = plan_of(root)
    assert plan.location_problem == ""
    assert plan.import_root == root
    assert (plan.engine_module, plan.raw_sql_module) == ("app.engine", "app.raw_sql")


def test_pool_only_in_the_tests_still_goes_where_the_application_imports_it(tmp_path):
    root = tree(tmp_path, {
        "tests/conftest.py": """\
            import os

            import asyncpg

            from app.things import Things


            async def things():
                return Things(await asyncpg.create_pool(os.environ["DATABASE_URL"]))
            """,
        "app/__init__.py": "",
        "app/things.py": REPOSITORY,
    })
    plan = plan_of(root)
    assert plan.location_problem == ""
    assert (plan.engine_module, plan.raw_sql_module) == ("app.engine", "app.raw_sql")


def test_a_benchmark_outside_the_import_root_is_named_from_its_own_folder(tmp_path):
    # the first pool is in a folder of its own; another module lives outside that folder
    root = tree(tmp_path, {
        "benchmark/__init__.py": "",
        "benchmark/run.py": POOL + "\n\nfrom benchmark import _crud\n",
        "_crud.py": REPOSITORY,
    })
    plan = plan_of(root, import_root="benchmark")
    assert plan.module_of(str(root / "_crud.py")) == "_crud"
    assert plan.module_of("benchmark/run.py") == "run"


def test_no_single_location_is_refused_with_a_reason_and_nothing_written(tmp_path):
    root = tree(tmp_path, {
        "py/db.py": POOL,
        "py/things.py": REPOSITORY,
        "seed.py": """\
            import os

            import asyncpg


            async def seed():
                pool = await asyncpg.create_pool(os.environ["DATABASE_URL"])
                await pool.execute("SELECT 1")
            """,
    })
    plan = plan_of(root)
    assert "no single place for the generated engine and raw-SQL modules" in plan.location_problem
    assert "seed.py" in plan.location_problem and "py/db.py" in plan.location_problem
    result = CliRunner().invoke(app, ["migrate", str(root), "--write", "--format", "json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "py/db.py", "py/things.py", "seed.py"]


def test_migrated_subfolder_program_imports_its_generated_modules(tmp_path):
    root = tree(tmp_path, {
        "py/db.py": POOL,
        "py/things.py": REPOSITORY,
        "py/app.py": """\
            import things
            import db

            print(things.__name__, db.__name__)
            """,
    })
    result = CliRunner().invoke(app, ["migrate", str(root), "--write"])
    assert result.exit_code == 0, result.output
    assert "from raw_sql import" in (root / "py/things.py").read_text()
    run = subprocess.run([sys.executable, "py/app.py"], cwd=root, capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["things", "db"]


def test_folders_imported_through_by_dotted_or_relative_names_are_namespace_packages(tmp_path):
    # no __init__.py anywhere: run.py imports app.cogs.things, and app/db/pool.py reaches its
    # sibling folder relatively, so app/, app/cogs/ and app/db/ are packages under the root
    root = tree(tmp_path, {
        "run.py": "from app.cogs.things import Things\n",
        "app/db/pool.py": POOL,
        "app/db/store.py": "from .queries import listing\n",
        "app/db/queries/listing.py": REPOSITORY,
        "app/cogs/things.py": REPOSITORY,
    })
    plan = plan_of(root)
    assert plan.location_problem == ""
    assert plan.import_root == root
    assert plan.engine_module == "app.db.engine"


def test_a_folder_whose_code_imports_its_own_modules_by_bare_name_is_where_imports_start(tmp_path):
    # tests import the bot as src.core, but the bot runs from src/: its modules import each
    # other as `from utils import ...`, so the generated modules are imported from src/ too
    root = tree(tmp_path, {
        "src/core.py": POOL,
        "src/utils/__init__.py": "",
        "src/utils/helpers.py": "X = 1\n",
        "src/cogs/__init__.py": "",
        "src/cogs/things.py": "from utils.helpers import X\n" + textwrap.dedent(REPOSITORY),
        "tests/test_core.py": "from src.core import open_pool\n",
    })
    plan = plan_of(root)
    assert plan.location_problem == ""
    assert plan.import_root == root / "src"
    assert plan.raw_sql_module == "raw_sql"
