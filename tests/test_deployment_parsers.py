"""Deployment files read by the parsers of their formats: .env as python-dotenv reads it,
Dockerfiles as dockerfile-parse reads them."""

from __future__ import annotations

import json
import textwrap

from typer.testing import CliRunner

from scan_helpers import write_tree
from pgunify.cli import app
from pgunify.facts.deployment import read_deployment_file

runner = CliRunner()


def settings(tmp_path, name: str, text: str) -> dict[str, tuple[int, str | None]]:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    kind, found, problem = read_deployment_file(path, name)
    assert problem is None
    return {s.name: (s.location.line, s.value) for s in found}


def test_dotenv_comments_quotes_and_export(tmp_path):
    found = settings(tmp_path, ".env", """
        # the database of the service
        DATABASE_URL=postgresql://app@db/app  # prod
        export ASYNC_DATABASE_URL="postgresql+asyncpg://app@db/app" # same server
        GREETING='hello # not a comment'
        EMPTY=
        not a setting
        LAST=yes
        """)
    assert found == {
        "DATABASE_URL": (2, "postgresql://app@db/app"),
        "ASYNC_DATABASE_URL": (3, "postgresql+asyncpg://app@db/app"),
        "GREETING": (4, "hello # not a comment"),
        "EMPTY": (5, ""),
        "LAST": (7, "yes"),
    }


def test_dockerfile_continuations_quotes_and_the_legacy_form(tmp_path):
    found = settings(tmp_path, "Dockerfile", """
        FROM python:3.11-slim
        ENV PYTHONUNBUFFERED=1 \\
            DATABASE_URL=postgresql://app@db/app \\
            ASYNC_DATABASE_URL="postgresql+asyncpg://app@db/app"
        ENV G="hello world" H='two words'
        ENV LEGACY value with spaces
        RUN echo "ENV NOT_A_SETTING=1"
        """)
    assert found == {
        "PYTHONUNBUFFERED": (2, "1"),
        "DATABASE_URL": (3, "postgresql://app@db/app"),
        "ASYNC_DATABASE_URL": (4, "postgresql+asyncpg://app@db/app"),
        "G": (5, "hello world"),
        "H": (5, "two words"),
        "LEGACY": (6, "value with spaces"),
    }
    assert "\\" not in found and 'world"' not in found


MLOPS = """
import os
from sqlalchemy.ext.asyncio import create_async_engine

ASYNC_DATABASE_URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://app@localhost:5432/app")
engine = create_async_engine(ASYNC_DATABASE_URL)
"""


def test_a_variable_set_on_a_continued_env_line_raises_no_localhost_error(tmp_path):
    """The flagship finding must not fire for a variable the Dockerfile does set."""
    write_tree(tmp_path, {"app/db.py": MLOPS, "Dockerfile": (
        "FROM python:3.11\nENV DATABASE_URL=postgresql://app@db/app \\\n"
        "    ASYNC_DATABASE_URL=postgresql+asyncpg://app@db/app\n")})
    result = runner.invoke(app, ["scan", str(tmp_path), "--format", "json"])
    data = json.loads(result.stdout)
    assert {s["name"] for s in data["deployment_settings"]} == {"DATABASE_URL", "ASYNC_DATABASE_URL"}
    assert not [f for f in data["findings"] if f["rule"] == "db-url-default-localhost"]
    assert result.exit_code == 0, result.output
    # and without the continuation line it is an error again
    (tmp_path / "Dockerfile").write_text("FROM python:3.11\nENV DATABASE_URL=postgresql://app@db/app\n")
    again = runner.invoke(app, ["scan", str(tmp_path), "--format", "json"])
    assert [f["rule"] for f in json.loads(again.stdout)["findings"] if f["severity"] == "error"] == \
        ["db-url-default-localhost"]
