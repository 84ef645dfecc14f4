"""The project's dependency declaration gains sqlalchemy[asyncio]>=2, edited as text; pins
that rule SQLAlchemy 2 out stop the migration before anything is written."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgunify.cli import app
from pgunify.rewrite.dependencies import declare_sqlalchemy


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def edited(root: Path) -> dict[str, str]:
    declared = declare_sqlalchemy(root)
    assert declared.manual == []
    return {c.path: c.new.decode() for c in declared.changes}


def test_pyproject_project_dependencies_gain_one_line_in_the_same_style(tmp_path):
    write(tmp_path, "pyproject.toml", """\
        [project]
        name = "shop"
        dependencies = [
            'asyncpg>=0.29',  # the driver
            'fastapi',
        ]

        [tool.ruff]
        line-length = 100
        """)
    assert edited(tmp_path)["pyproject.toml"] == textwrap.dedent("""\
        [project]
        name = "shop"
        dependencies = [
            'asyncpg>=0.29',  # the driver
            'fastapi',
            'sqlalchemy[asyncio]>=2',
        ]

        [tool.ruff]
        line-length = 100
        """)


def test_pyproject_without_trailing_comma_and_one_line_arrays(tmp_path):
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\ndependencies = ["asyncpg"]\n')
    assert edited(tmp_path)["pyproject.toml"] == \
        '[project]\nname = "x"\ndependencies = ["asyncpg", "sqlalchemy[asyncio]>=2"]\n'
    write(tmp_path, "pyproject.toml", '[project]\ndependencies = [\n  "asyncpg"\n]\n')
    assert edited(tmp_path)["pyproject.toml"] == '[project]\ndependencies = [\n  "asyncpg",\n  "sqlalchemy[asyncio]>=2",\n]\n'


@pytest.mark.parametrize("before, after", [
    ("SQLAlchemy>=1.4,<3", "SQLAlchemy[asyncio]>=2,<3"),
    ("sqlalchemy", "sqlalchemy[asyncio]>=2"),
    ("sqlalchemy[mypy]>=2.0.20", "sqlalchemy[asyncio,mypy]>=2.0.20"),
    ("sqlalchemy>=1.4; python_version >= '3.8'", "sqlalchemy[asyncio]>=2; python_version >= '3.8'"),
])
def test_an_existing_sqlalchemy_requirement_is_rewritten_in_place(tmp_path, before, after):
    write(tmp_path, "requirements.txt", f"asyncpg==0.29.0\n{before}  # orm\n")
    assert edited(tmp_path)["requirements.txt"] == f"asyncpg==0.29.0\n{after}  # orm\n"


def test_a_requirement_that_already_fits_changes_nothing(tmp_path):
    write(tmp_path, "requirements.txt", "SQLAlchemy[asyncio]==2.0.36\n")
    assert edited(tmp_path) == {}


def test_the_main_requirements_file_not_the_dev_one(tmp_path):
    write(tmp_path, "requirements.txt", "asyncpg\n")
    write(tmp_path, "requirements-dev.txt", "-r requirements.txt\npytest\n")
    assert set(edited(tmp_path)) == {"requirements.txt"}
    assert edited(tmp_path)["requirements.txt"] == "asyncpg\nsqlalchemy[asyncio]>=2\n"


def test_poetry_setup_cfg_and_pipfile(tmp_path):
    write(tmp_path, "pyproject.toml", """\
        [tool.poetry.dependencies]
        python = "^3.11"
        asyncpg = "^0.29"

        [build-system]
        requires = ["poetry-core"]
        """)
    write(tmp_path, "setup.cfg", """\
        [metadata]
        name = shop

        [options]
        install_requires =
            asyncpg>=0.29
            SQLAlchemy>=1.4
        packages = find:
        """)
    write(tmp_path, "Pipfile", """\
        [packages]
        asyncpg = "*"

        [dev-packages]
        pytest = "*"
        """)
    changes = edited(tmp_path)
    assert changes["pyproject.toml"] == textwrap.dedent("""\
        [tool.poetry.dependencies]
        python = "^3.11"
        asyncpg = "^0.29"
        sqlalchemy = {version = ">=2", extras = ["asyncio"]}

        [build-system]
        requires = ["poetry-core"]
        """)
    assert "    asyncpg>=0.29\n    SQLAlchemy[asyncio]>=2\npackages = find:\n" in changes["setup.cfg"]
    assert changes["Pipfile"].startswith('[packages]\nasyncpg = "*"\nsqlalchemy = {version = ">=2", extras = ["asyncio"]}\n\n[dev-packages]')


def test_poetry_caret_pin_on_1_x_is_a_conflict(tmp_path):
    write(tmp_path, "pyproject.toml", '[tool.poetry.dependencies]\nSQLAlchemy = "^1.4"\n')
    declared = declare_sqlalchemy(tmp_path)
    assert [(m.path, m.line) for m in declared.manual] == [("pyproject.toml", 2)]
    assert declared.changes == []


@pytest.mark.parametrize("pin, words", [
    ("sqlalchemy==1.3.24", "rules out SQLAlchemy 2"),
    ("SQLAlchemy<1.4", "rules out SQLAlchemy 2"),
    ("sqlalchemy~=1.4", "rules out SQLAlchemy 2"),
    ("asyncpgsa==0.27.1", "asyncpgsa"),
    ("databases[postgresql]==0.6.2", "databases before 0.8"),
])
def test_pins_that_need_sqlalchemy_1_stop_the_run(tmp_path, pin, words):
    write(tmp_path, "requirements.txt", f"asyncpg\n{pin}\n")
    declared = declare_sqlalchemy(tmp_path)
    assert declared.changes == []
    [item] = declared.manual
    assert (item.path, item.line) == ("requirements.txt", 2) and words in item.reason


def test_no_declaration_is_a_note(tmp_path):
    declared = declare_sqlalchemy(tmp_path)
    assert declared.changes == [] and declared.manual == []
    assert "no dependency declaration found" in declared.notes[0]


REPO = '''\
import os

import asyncpg


async def count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT 1")


async def open_pool():
    return await asyncpg.create_pool(os.environ["DATABASE_URL"])
'''


def test_migrate_writes_the_declaration_with_the_code(tmp_path):
    write(tmp_path, "repo.py", REPO)
    write(tmp_path, "requirements.txt", "asyncpg>=0.29\n")
    result = CliRunner().invoke(app, ["migrate", str(tmp_path)])
    assert result.exit_code == 1
    assert "+sqlalchemy[asyncio]>=2" in result.stdout
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "requirements.txt").read_text() == "asyncpg>=0.29\nsqlalchemy[asyncio]>=2\n"
    again = CliRunner().invoke(app, ["migrate", str(tmp_path)])
    assert again.exit_code == 0, again.output


def test_a_conflicting_pin_is_manual_exit_1_and_nothing_is_written(tmp_path):
    write(tmp_path, "repo.py", REPO)
    write(tmp_path, "requirements.txt", "asyncpg>=0.29\nSQLAlchemy<1.4\n")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    result = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write", "--format", "json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["manual"] == [{"path": "requirements.txt", "line": 2, "codemod": "dependencies",
                               "reason": "SQLAlchemy<1.4 rules out SQLAlchemy 2, which the migrated code needs",
                               "suggestion": "require sqlalchemy[asyncio]>=2 instead: the migrated code runs on "
                                             "SQLAlchemy 2's asyncio engine"}]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # no baseline, no engine module
    text = CliRunner().invoke(app, ["migrate", str(tmp_path), "--write"])
    assert text.exit_code == 1 and "nothing was written" in text.output


def test_a_backend_folders_requirements_and_their_variants_gain_sqlalchemy(tmp_path):
    from pgunify.rewrite.dependencies import declare_sqlalchemy

    (tmp_path / "backend/app").mkdir(parents=True)
    (tmp_path / "backend/requirements.txt").write_text("asyncpg==0.29.0\nfastapi\n")
    (tmp_path / "backend/requirements-custom.txt").write_text("asyncpg==0.29.0\nuvloop\n")
    (tmp_path / "backend/requirements-slim.txt").write_text("-r requirements.txt\nuvloop\n")
    (tmp_path / "backend/requirements-dev.txt").write_text("pytest\n")
    declared = declare_sqlalchemy(tmp_path, tmp_path / "backend/app")
    assert not declared.manual and not declared.notes
    changed = {c.path: c.new.decode() for c in declared.changes}
    assert set(changed) == {"backend/requirements.txt", "backend/requirements-custom.txt"}
    assert all("sqlalchemy[asyncio]>=2" in text.lower() for text in changed.values())


def test_setup_py_gains_the_requirement_in_its_own_layout(tmp_path):
    write(tmp_path, "setup.py", """\
        from setuptools import setup

        setup(
            name="shop",
            install_requires=[
                "asyncpg>=0.29",  # the driver
                "aiohttp",  # the web server
            ],
        )
        """)
    assert edited(tmp_path)["setup.py"] == textwrap.dedent("""\
        from setuptools import setup

        setup(
            name="shop",
            install_requires=[
                "asyncpg>=0.29",  # the driver
                "aiohttp",  # the web server
                "sqlalchemy[asyncio]>=2",
            ],
        )
        """)


@pytest.mark.parametrize(("before", "after"), [
    ("setup(install_requires=['asyncpg'])\n", "setup(install_requires=['asyncpg', 'sqlalchemy[asyncio]>=2'])\n"),
    ("setuptools.setup(install_requires=('asyncpg',))\n",
     "setuptools.setup(install_requires=('asyncpg', 'sqlalchemy[asyncio]>=2',))\n"),
    ("setup(install_requires=[])\n", "setup(install_requires=[\"sqlalchemy[asyncio]>=2\"])\n"),
    ("setup(install_requires=['asyncpg', 'SQLAlchemy>=1.4'])\n",
     "setup(install_requires=['asyncpg', 'SQLAlchemy[asyncio]>=2'])\n"),
])
def test_setup_py_lists_of_other_shapes(tmp_path, before, after):
    write(tmp_path, "setup.py", before)
    assert edited(tmp_path)["setup.py"] == after


def test_setup_py_that_fits_or_conflicts_or_computes_its_list(tmp_path):
    write(tmp_path, "setup.py", "setup(install_requires=['sqlalchemy[asyncio]>=2.0'])\n")
    assert edited(tmp_path) == {}
    assert not declare_sqlalchemy(tmp_path).notes

    write(tmp_path, "setup.py", "setup(\n    install_requires=[\n        'gino>=1.0',\n    ],\n)\n")
    declared = declare_sqlalchemy(tmp_path)
    assert [(m.path, m.line) for m in declared.manual] == [("setup.py", 3)]
    assert not declared.changes

    write(tmp_path, "setup.py", "setup(install_requires=open('requirements.txt').read().splitlines())\n")
    write(tmp_path, "requirements.txt", "asyncpg\n")
    declared = declare_sqlalchemy(tmp_path)
    assert {c.path for c in declared.changes} == {"requirements.txt"}
    assert any("setup.py builds install_requires in code" in n for n in declared.notes)
    assert not any("no dependency declaration found" in n for n in declared.notes)


def test_a_pin_in_an_optional_requirements_file_stops_the_run(tmp_path):
    # the optional extras are installed next to the application: a legacy layer that pins
    # SQLAlchemy below 2 there cannot live with the migrated code
    write(tmp_path, "requirements.txt", "aiohttp\n")
    write(tmp_path, "optional-requirements.txt", "asyncpg\nSQLAlchemy<2\n")
    write(tmp_path, "dev-requirements.txt", "pytest\n")
    declared = declare_sqlalchemy(tmp_path)
    assert [(m.path, m.line) for m in declared.manual] == [("optional-requirements.txt", 2)]
    assert not declared.changes

    write(tmp_path, "optional-requirements.txt", "asyncpg\n")
    assert set(edited(tmp_path)) == {"requirements.txt"}  # never edited, only read
