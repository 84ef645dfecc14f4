"""The import check: migrated modules, and the modules that import them, imported by the
project's own interpreter before and after the migration."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from example_tree import git_tree
from pgunify.cli import app
from pgunify.rewrite.import_check import importers, starts_at_import

APP = {
    "app/__init__.py": "",
    "app/db.py": """
        import os

        import asyncpg
        from asyncpg import Pool


        async def open_pool() -> Pool:
            return await asyncpg.create_pool(os.environ["DATABASE_URL"])


        async def count(pool: Pool) -> int:
            return await pool.fetchval("SELECT count(*) FROM pg_class WHERE relkind = $1", "r")
    """,
    # imports a name from app/db.py, which keeps it for that reason
    "app/service.py": """
        from app.db import Pool, count


        async def tables(pool: Pool) -> int:
            return await count(pool)
    """,
    # reaches asyncpg through app/db.py at import time, which no model follows
    "app/records.py": """
        import app.db

        RecordClass = app.db.asyncpg.Record
    """,
    "app/main.py": """
        import asyncio

        from app.db import open_pool

        asyncio.run(open_pool())
    """,
}


def test_a_module_that_no_longer_imports_stops_the_write(tmp_path):
    git_tree(tmp_path, APP)
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json",
                                      "--python", sys.executable])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [(c["path"], c["call"], c["blocking"]) for c in data["closure"]] == [
        ("app/records.py", "import app.records", True)]
    assert "AttributeError: module 'app.db' has no attribute 'asyncpg'" in data["closure"][0]["problem"]
    outcomes = {m["module"]: (m["before"], m["after"]) for m in data["import_check"]["modules"]}
    assert outcomes["app.db"] == (None, None)
    # a name another module imports from a migrated one stays imported there
    assert outcomes["app.service"] == (None, None)
    assert outcomes["app.engine"] == (None, None) and outcomes["app.raw_sql"] == (None, None)
    # a module that starts the application when imported is not imported, and says so
    assert outcomes["app.main"][0].startswith("not imported: it starts the application (asyncio.run(")
    # nothing was written, and the import check left nothing behind in the project
    assert "import asyncpg" in (tmp_path / "app/db.py").read_text()
    assert not list(tmp_path.rglob("__pycache__"))
    assert subprocess.run(["git", "status", "--porcelain"], cwd=tmp_path, capture_output=True,
                          text=True).stdout == ""


def test_modules_that_import_both_times_let_the_write_go_on(tmp_path):
    files = {rel: text for rel, text in APP.items() if rel != "app/records.py"}
    git_tree(tmp_path, files)
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json",
                                      "--python", sys.executable])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["closure"] == []
    assert any(n.startswith("import check (") and "4 migrated module(s) imported before and after" in n
               for n in data["notes"]), data["notes"]


def test_without_the_projects_interpreter_it_says_it_did_not_run(tmp_path):
    git_tree(tmp_path, APP)
    data = json.loads(CliRunner().invoke(app, ["migrate", str(tmp_path), "--format", "json"]).stdout)
    assert data["import_check"] is None
    assert any(n.startswith("import check not run: no interpreter of the project's own environment")
               for n in data["notes"])
    data = json.loads(CliRunner().invoke(app, ["migrate", str(tmp_path), "--format", "json",
                                               "--no-import-check"]).stdout)
    assert not any("import check" in n for n in data["notes"])


def test_importers_follow_absolute_and_relative_imports(tmp_path):
    sources = {
        "pkg/__init__.py": "",
        "pkg/db.py": "",
        "pkg/a.py": "from .db import Pool\n",
        "pkg/sub/b.py": "from ..db import Pool\n",
        "pkg/c.py": "import pkg.db\n",
        "pkg/d.py": "from pkg import db\n",
        "pkg/e.py": "import json\n",
    }
    for rel in sources:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(sources[rel])
    found = importers(sources, {"pkg/db.py": "pkg.db"}, tmp_path, tmp_path)
    assert found == {"pkg/a.py": "pkg.a", "pkg/sub/b.py": "pkg.sub.b", "pkg/c.py": "pkg.c", "pkg/d.py": "pkg.d"}


def test_modules_that_start_the_application_are_recognised():
    assert starts_at_import("import asyncio\nasyncio.run(main())\n") == "asyncio.run(main())"
    assert starts_at_import("bot.run(TOKEN)\n") == "bot.run(TOKEN)"
    assert starts_at_import("if __name__ == '__main__':\n    bot.run(TOKEN)\n") is None
    assert starts_at_import("logging.basicConfig()\napp = make_app()\n") is None
