"""test-patches: a test's patch of asyncpg.create_pool follows the call that replaced it,
and the project's own test passes before and after the migration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from example_tree import git_tree
from pgunify.cli import app

APP = """
    import os

    import asyncpg


    async def open_pool():
        return await asyncpg.create_pool(os.environ["DATABASE_URL"])


    async def count_jobs(pool):
        return await pool.fetchval("SELECT count(*) FROM pg_class WHERE relname = $1", "jobs")
"""

TEST = """
    import asyncio
    from unittest.mock import AsyncMock, patch

    from app.db import open_pool


    @patch("app.db.asyncpg.create_pool", new_callable=AsyncMock)
    def test_the_pool_uses_the_configured_url(create_pool, monkeypatch):
        monkeypatch.setenv("DATABASE_URL", "postgresql://reader@db.internal/jobs")
        asyncio.run(open_pool())
        create_pool.assert_awaited_once_with("postgresql://reader@db.internal/jobs")
"""


def _own_suite(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=root,
                          env=env, capture_output=True, text=True)


def test_the_patch_follows_create_pool_and_the_test_still_passes(tmp_path):
    git_tree(tmp_path, {"app/__init__.py": "", "app/db.py": APP, "tests/test_db.py": TEST})
    before = _own_suite(tmp_path)
    assert before.returncode == 0, before.stdout + before.stderr

    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json"])
    assert result.exit_code == 0, result.output
    changes = [c for f in json.loads(result.stdout)["files"] for c in f.get("changes", [])
               if c["codemod"] == "test-patches"]
    assert [(c["line"], c["risk"]) for c in changes] == [(8, "review")]
    migrated = (tmp_path / "tests/test_db.py").read_text()
    assert '@patch("app.db.use_database_url", new_callable=AsyncMock)' in migrated
    assert "import asyncpg\n" not in (tmp_path / "app/db.py").read_text()

    after = _own_suite(tmp_path)
    assert after.returncode == 0, after.stdout + after.stderr


def test_a_patch_the_new_call_would_not_satisfy_stops_the_run(tmp_path):
    # min_size goes to the engine module, so use_database_url() is called without it and the
    # test's assertion about the call could not hold: the patch stays and the run is refused
    git_tree(tmp_path, {
        "app/__init__.py": "",
        "app/db.py": APP.replace('os.environ["DATABASE_URL"])', 'os.environ["DATABASE_URL"], min_size=2)'),
        "tests/test_db.py": TEST,
    })
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json"])
    assert result.exit_code == 1, result.output
    closure = json.loads(result.stdout)["closure"]
    assert [(c["path"], c["line"], c["blocking"]) for c in closure] == [("tests/test_db.py", 8, True)]
    assert '@patch("app.db.asyncpg.create_pool"' in (tmp_path / "tests/test_db.py").read_text()
    assert "asyncpg.create_pool(" in (tmp_path / "app/db.py").read_text()  # nothing written
