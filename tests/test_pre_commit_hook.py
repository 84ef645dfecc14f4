"""The `pgunify-scan` hook of .pre-commit-hooks.yaml, installed and run by pre-commit itself
(`pre-commit try-repo`) in a throwaway git repository, as a user's commit would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from example_tree import git
from scan_helpers import write_tree

UNIFY_SOURCE = Path(__file__).resolve().parents[1]

DB = """
import os
from sqlalchemy.ext.asyncio import create_async_engine

URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://app@localhost/app")
engine = create_async_engine(URL)
"""


def try_repo(repo: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(UNIFY_SOURCE), "pgunify-scan",
                           "--all-files"], cwd=repo, capture_output=True, text=True, env=env, timeout=900)


def test_the_hook_is_declared_for_the_whole_tree():
    (hook,) = yaml.safe_load((UNIFY_SOURCE / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "pgunify-scan" and hook["entry"] == "pgunify scan ."
    assert hook["language"] == "python" and hook["pass_filenames"] is False


def test_the_hook_fails_a_commit_on_an_error_finding_and_passes_once_fixed(tmp_path):
    repo = write_tree(tmp_path / "repo", {
        "src/db.py": DB,
        "docker-compose.yml": "services:\n  api:\n    environment:\n      - DATABASE_URL=postgresql://app@db/app\n",
    })
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    failing = try_repo(repo, tmp_path / "pre-commit-home")
    assert failing.returncode == 1, failing.stdout[-3000:] + failing.stderr[-2000:]
    assert "pgunify scan" in failing.stdout and "Failed" in failing.stdout
    assert "db-url-default-localhost" in failing.stdout and "src/db.py:4" in failing.stdout

    (repo / "docker-compose.yml").write_text(
        "services:\n  api:\n    environment:\n      - DATABASE_URL=postgresql://app@db/app\n"
        "      - ASYNC_DATABASE_URL=postgresql+asyncpg://app@db/app\n")
    git(repo, "add", "-A")
    passing = try_repo(repo, tmp_path / "pre-commit-home")
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-2000:]
    assert "Passed" in passing.stdout
