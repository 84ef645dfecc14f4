"""A project that declares asyncpg optional (a library serving several databases) keeps
modules importable without it; a migration that would add a top-level import of SQLAlchemy,
asyncpg or a generated module to such a module stops, naming the import, and writes nothing."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app
from pgunify.rewrite.dependencies import asyncpg_optional
from tests.example_tree import git_tree

LIBRARY = {
    "store/postgres.py": """
        import os

        import asyncpg


        async def open_pool():
            return await asyncpg.create_pool(os.environ["DATABASE_URL"])
    """,
    "store/queries.py": """
        from __future__ import annotations

        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            import asyncpg


        async def count_notes(pool: asyncpg.Pool, owner: int) -> int:
            return await pool.fetchval("SELECT count(*) FROM notes WHERE owner = $1", owner)
    """,
    "store/__init__.py": """
        try:
            from .postgres import open_pool
        except ImportError:  # asyncpg is an extra
            open_pool = None
    """,
}


def _migrate(root: Path):
    return CliRunner().invoke(app, ["migrate", str(root), "--write", "--no-diff", "--no-import-check"])


def test_where_asyncpg_is_optional_a_new_hard_import_stops_the_run(tmp_path):
    root = git_tree(tmp_path, {**LIBRARY, "requirements.txt": "attrs\n",
                               "optional-requirements.txt": "asyncpg>=0.29\n"})
    assert asyncpg_optional(root) == "optional-requirements.txt"
    before = (root / "store/queries.py").read_text()
    result = _migrate(root)
    assert result.exit_code == 1, result.output
    assert "store/queries.py" in result.output and "declares asyncpg optional (optional-requirements.txt)" in result.output
    assert "nothing written" in result.output
    assert (root / "store/queries.py").read_text() == before
    # store/postgres.py imported asyncpg unconditionally already: not listed
    assert "store/postgres.py:" not in result.output.split("nothing written")[1]


def test_where_asyncpg_is_a_main_dependency_the_same_tree_migrates(tmp_path):
    root = git_tree(tmp_path, {**LIBRARY, "requirements.txt": "attrs\nasyncpg>=0.29\n",
                               "optional-requirements.txt": "asyncpg>=0.29\n"})
    assert asyncpg_optional(root) is None
    result = _migrate(root)
    assert result.exit_code == 0, result.output
    assert "fetchval" not in (root / "store/queries.py").read_text()


def test_how_projects_declare_asyncpg_optional(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["attrs"]\n[project.optional-dependencies]\npg = ["asyncpg"]\n')
    assert asyncpg_optional(tmp_path) == "pyproject.toml [project.optional-dependencies] pg"
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["attrs", "asyncpg"]\n[project.optional-dependencies]\npg = ["asyncpg"]\n')
    assert asyncpg_optional(tmp_path) is None
    (tmp_path / "pyproject.toml").write_text(
        '[tool.poetry.dependencies]\npython = "^3.11"\nasyncpg = {version = "^0.29", optional = true}\n')
    assert "optional = true" in asyncpg_optional(tmp_path)
    (tmp_path / "pyproject.toml").unlink()
    assert asyncpg_optional(tmp_path) is None  # nothing declared: nothing to go by
