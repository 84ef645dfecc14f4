"""Copies of the bundled example applications, as git repositories, for end-to-end tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True,
                            env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
                                 "GIT_COMMITTER_EMAIL": "t@example.com", "PATH": "/usr/bin:/bin:/usr/local/bin",
                                 "HOME": str(cwd)})
    return result.stdout


def git_tree(root: Path, files: dict[str, str]) -> Path:
    """A git repository of `files` (path -> dedented text, line numbers as written), committed."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "legacy")
    return root


def copy_example(name: str, destination: Path, as_git: bool = True) -> Path:
    target = destination / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache", ".pgunify"))
    if as_git:
        git(target, "init", "-q")
        git(target, "add", "-A")
        git(target, "commit", "-qm", "legacy")
    return target


def run_example_tests(root: Path) -> subprocess.CompletedProcess[str]:
    """The example's own test suite as CI runs it: a database required, nothing skipped for lack of one."""
    env = {**os.environ, "UNIFY_REQUIRE_DB": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("ASYNC_DATABASE_URL", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=root, env=env, capture_output=True, text=True)


def write_program(root: Path, files: dict[str, str]) -> Path:
    """A small program of `files` (name -> dedented text) in a new folder, not under git."""
    root.mkdir(parents=True)
    for name, text in files.items():
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root


def run_main(root: Path, database_url: str) -> str:
    """What the program's main.py prints, run against `database_url`; it must exit 0."""
    done = subprocess.run([sys.executable, "main.py"], cwd=root, env=dict(os.environ, DATABASE_URL=database_url),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout
