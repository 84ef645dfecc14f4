"""`pgunify verify` fails (exit 1, with the reason) when the migrated code cannot run at all,
instead of comparing one start-up error with whatever the legacy code did."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from example_tree import git
from pgunify.cli import app

runner = CliRunner()

FILES = {
    "depot/__init__.py": "",
    "depot/db.py": """\
        import asyncpg


        async def open_pool(dsn):
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
            return pool
        """,
    "depot/crates.py": """\
        import asyncpg


        class CrateStore:
            def __init__(self, pool: asyncpg.Pool) -> None:
                self.pool = pool

            async def labelled(self, label: str) -> int:
                return await self.pool.fetchval("SELECT length($1::text)", label)
        """,
}


@pytest.fixture
def migrated(tmp_path) -> Path:
    root = tmp_path / "depot-app"
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "legacy")
    result = runner.invoke(app, ["migrate", str(root), "--write", "--no-diff"])
    assert result.exit_code == 0, result.output
    assert (root / "depot/engine.py").is_file()
    return root


def verify(root: Path, database_url: str):
    result = runner.invoke(app, ["verify", str(root), "--dsn", database_url, "-n", "3", "--format", "json"])
    return result, json.loads(result.stdout) if result.stdout.strip().startswith("{") else None


def test_the_migrated_tree_as_written_runs_and_compares(migrated, database_url):
    result, data = verify(migrated, database_url)
    assert result.exit_code == 0, result.output
    assert data["summary"]["migrated_code_runs"] and data["summary"]["cases"] == 3
    # versioned like the JSON of every other command
    assert data["schema_version"] == 1 and data["command"] == "verify" and data["tool"]["name"] == "pgunify"


def test_an_engine_module_reading_a_variable_nobody_sets_fails_the_run(migrated, database_url):
    engine = migrated / "depot/engine.py"
    engine.write_text(engine.read_text().replace(
        "engine: AsyncEngine = create_async_engine(",
        'os.environ["DEPOT_DB_URL"]  # a variable no deployment sets\nengine: AsyncEngine = create_async_engine(', 1))
    result, data = verify(migrated, database_url)
    assert result.exit_code == 1, result.output
    assert data["summary"]["differences"] == 0 and data["summary"]["cases"] == 0
    [reason] = data["cannot_run"]
    assert "CrateStore cannot be built in the migrated code" in reason and "DEPOT_DB_URL" in reason


def test_a_migrated_module_that_does_not_parse_fails_the_run(migrated, database_url):
    crates = migrated / "depot/crates.py"
    crates.write_text(crates.read_text() + "\ndef broken(:\n")
    result = runner.invoke(app, ["verify", str(migrated), "--dsn", database_url, "-n", "3"])
    assert result.exit_code == 1, result.output
    assert "The migrated code cannot run" in result.stdout
    assert "CrateStore does not import in the migrated code: SyntaxError" in result.stdout


def test_a_run_that_calls_nothing_is_no_evidence_not_a_pass(tmp_path, database_url):
    # only module-level functions: no repository class for verify to call
    root = tmp_path / "loose-app"
    files = {
        "loose/__init__.py": "",
        "loose/db.py": FILES["depot/db.py"],
        "loose/queries.py": """\
            async def label_length(pool, label):
                return await pool.fetchval("SELECT length($1::text)", label)
            """,
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "legacy")
    assert runner.invoke(app, ["migrate", str(root), "--write", "--no-diff"]).exit_code == 0
    result, data = verify(root, database_url)
    assert result.exit_code == 1, result.output
    assert data["summary"]["cases"] == 0 and data["summary"]["differences"] == 0
    assert data["no_evidence"].startswith("no case ran")
    assert "no evidence: no case ran" in result.stderr
