"""`pgunify scan --format sarif` (SARIF 2.1.0, read back by two SARIF libraries) and
`--format github` (workflow commands GitHub Actions turns into annotations)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scan_helpers import write_tree
from pgunify.cli import app

runner = CliRunner()

DB = """
import os
from sqlalchemy.ext.asyncio import create_async_engine

ASYNC_DATABASE_URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://app@localhost:5432/app")
engine = create_async_engine(ASYNC_DATABASE_URL)
"""
SERVICE = """
import os
import asyncpg

async def pool():
    return await asyncpg.create_pool(os.getenv("DATABASE_URL", "postgresql://app@localhost/app"))
"""


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "app", {
        "src/db.py": DB, "src/service.py": SERVICE,
        "docker-compose.yml": "services:\n  api:\n    environment:\n      - DATABASE_URL=postgresql://app@db/app\n",
    })


def scan(tree, fmt, *extra):
    return runner.invoke(app, ["scan", str(tree), "--format", fmt, *extra])


def test_sarif_is_valid_against_the_object_model_and_loads_in_sarif_tools(tree, tmp_path):
    from sarif import loader
    from sarif_pydantic import Level, load

    out = tmp_path / "pgunify.sarif"
    result = scan(tree, "sarif", "--output", str(out))
    assert result.exit_code == 1  # an error finding: --fail-on error still decides the exit code
    expected = json.loads(scan(tree, "json").stdout)["findings"]
    assert expected

    log = load(out)
    assert log.version == "2.1.0"
    (run,) = log.runs
    assert run.tool.driver.name == "pgunify"
    assert {rule.id for rule in run.tool.driver.rules} == {f["rule"] for f in expected}
    assert len(run.results) == len(expected)
    error = next(r for r in run.results if r.rule_id == "db-url-default-localhost")
    assert error.level == Level.ERROR
    region = error.locations[0].physical_location.region
    location = next(f["location"] for f in expected if f["rule"] == "db-url-default-localhost")
    assert error.locations[0].physical_location.artifact_location.uri == location["path"] == "src/db.py"
    assert (region.start_line, region.start_column) == (location["line"], location["column"] + 1)
    for r in run.results:
        assert run.tool.driver.rules[r.rule_index].id == r.rule_id

    loaded = loader.load_sarif_file(str(out))
    assert loaded.get_result_count() == len(expected)
    records = loaded.get_records()
    assert any(rec["Location"].endswith("src/db.py") and rec["Line"] == location["line"] for rec in records), records


def test_github_annotations(tree):
    result = scan(tree, "github", "--fail-on", "never")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    findings = json.loads(scan(tree, "json").stdout)["findings"]
    assert len(lines) == len(findings)
    error = next(line for line in lines if "db-url-default-localhost" in line)
    head, _, message = error.partition("::")[2].partition("::")
    level, _, props = head.partition(" ")
    assert level == "error"
    fields = dict(p.split("=", 1) for p in props.split(","))
    assert fields["file"] == "src/db.py" and fields["line"] == "4" and fields["col"] == "22"
    assert fields["title"] == "pgunify db-url-default-localhost"
    assert "ASYNC_DATABASE_URL" in message and "\n" not in message
    assert all(line.startswith(("::error ", "::warning ", "::notice ")) for line in lines)
