"""`pgunify scan` end to end through the CLI runner, on trees written to disk."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scan_helpers import write_tree
from pgunify.cli import app

runner = CliRunner()

SECRET = "Sup3r$ecret"

MLOPS = f"""
import os
from sqlalchemy.ext.asyncio import create_async_engine

ASYNC_DATABASE_URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://app:{SECRET}@localhost:5432/app")
engine = create_async_engine(ASYNC_DATABASE_URL, pool_pre_ping=True)
"""

SERVICE = f"""
import os
import asyncpg

class DatabaseService:
    async def initialize(self):
        url = os.getenv("DATABASE_URL", "postgresql://app:{SECRET}@localhost:5432/app")
        self.pool = await asyncpg.create_pool(url, min_size=5, max_size=20)

class AlertRepository:
    def __init__(self, pool):
        self.pool = pool

    async def get(self, alert_id):
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", alert_id)
"""

COMPOSE_ONLY_DATABASE_URL = f"""
services:
  api:
    image: app
    environment:
      - DATABASE_URL=postgresql://app:{SECRET}@database:5432/app
"""


def scan(*args: str):
    return runner.invoke(app, ["scan", *args])


@pytest.fixture
def seed_tree(tmp_path):
    return write_tree(tmp_path, {
        "src/database/connection.py": MLOPS,
        "src/services/database_service.py": SERVICE,
        "docker-compose.yml": COMPOSE_ONLY_DATABASE_URL,
    })


def findings(result) -> list[dict]:
    return json.loads(result.stdout)["findings"]


def test_seed_incident_is_an_error_with_location_and_fix(seed_tree):
    result = scan(str(seed_tree), "--format", "json")
    assert result.exit_code == 1, result.output
    errors = [f for f in findings(result) if f["severity"] == "error"]
    assert len(errors) == 1
    error = errors[0]
    assert error["rule"] == "db-url-default-localhost"
    assert error["location"] == {"path": "src/database/connection.py", "line": 4, "column": 21}
    assert "ASYNC_DATABASE_URL" in error["message"] and "DATABASE_URL is set there" in error["message"]
    assert 'make_url(os.environ["DATABASE_URL"])' in error["fix"]


def test_fail_on_controls_the_exit_code(seed_tree):
    assert scan(str(seed_tree), "--fail-on", "never").exit_code == 0
    assert scan(str(seed_tree), "--fail-on", "error").exit_code == 1
    assert scan(str(seed_tree), "--fail-on", "bogus").exit_code == 2


def test_variable_set_by_deployment_is_not_reported(seed_tree):
    (seed_tree / "docker-compose.yml").write_text(
        "services:\n  api:\n    environment:\n      DATABASE_URL: postgresql://a@db/x\n      ASYNC_DATABASE_URL: postgresql+asyncpg://a@db/x\n"
    )
    result = scan(str(seed_tree), "--format", "json")
    assert not [f for f in findings(result) if f["rule"] == "db-url-default-localhost"]
    assert result.exit_code == 0


def test_kubernetes_and_dotenv_count_as_deployment(tmp_path):
    write_tree(tmp_path, {
        "app/db.py": MLOPS,
        "deploy/k8s/api.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: api}
            spec:
              template:
                spec:
                  containers:
                    - name: api
                      env:
                        - name: DATABASE_URL
                          valueFrom: {secretKeyRef: {name: db, key: url}}
            """,
        ".env": "DATABASE_URL=postgresql://a@db/x\n",
    })
    data = json.loads(scan(str(tmp_path), "--format", "json").stdout)
    assert sorted(data["deployment_files"]) == [".env", "deploy/k8s/api.yaml"]
    assert {(s["file_kind"], s["name"]) for s in data["deployment_settings"]} == {
        ("kubernetes", "DATABASE_URL"), ("dotenv", "DATABASE_URL")}
    (error,) = [f for f in data["findings"] if f["severity"] == "error"]
    assert "ASYNC_DATABASE_URL" in error["message"]


def test_without_deployment_files_the_localhost_default_is_a_warning(tmp_path):
    write_tree(tmp_path, {"db.py": MLOPS})
    result = scan(str(tmp_path), "--format", "json")
    assert result.exit_code == 0
    (finding,) = [f for f in findings(result) if f["rule"] == "db-url-default-localhost"]
    assert finding["severity"] == "warning"


def test_broken_files_are_reported_and_the_rest_scanned(seed_tree):
    write_tree(seed_tree, {
        "src/broken.py": "import asyncpg\ndef f(:\n    pass\n",
        "src/legacy_py2.py": "import asyncpg\nprint 'hello'\n",
        "src/blob.py": b"import asyncpg\x00\x01\x02",
        "src/latin1.py": "# -*- coding: latin-1 -*-\nimport os\nNAME = os.getenv('DATABASE_URL', 'caf\xe9')\n".encode("latin-1"),
        "src/undecodable.py": b"import os\nX = os.getenv('A', '\xff\xfe')\n",
    })
    result = scan(str(seed_tree), "--format", "json")
    data = json.loads(result.stdout)
    problems = {p["path"]: p["error"] for p in data["problems"]}
    assert problems["src/broken.py"].startswith("syntax error at line 2")
    assert "Missing parentheses" in problems["src/legacy_py2.py"]
    assert "binary content" in problems["src/blob.py"]
    assert "src/undecodable.py" in problems
    assert "src/latin1.py" not in problems  # a PEP 263 coding line is honoured
    assert any(e["name"] == "DATABASE_URL" and e["location"]["path"] == "src/latin1.py" for e in data["env_reads"])
    # the rest of the tree was still scanned
    assert data["summary"]["asyncpg_pools"] == 1 and data["summary"]["sql_calls"] == 1
    table = scan(str(seed_tree), "--fail-on", "never")
    assert "src/broken.py" in table.stdout and table.exit_code == 0


def test_gitignore_and_exclude(seed_tree):
    write_tree(seed_tree, {
        ".gitignore": "generated/\n",
        "generated/other.py": SERVICE,
        "vendor/third.py": SERVICE,
    })
    data = json.loads(scan(str(seed_tree), "--format", "json", "--exclude", "vendor/").stdout)
    paths = {c["location"]["path"] for c in data["calls"]}
    assert paths == {"src/services/database_service.py"}
    everything = json.loads(scan(str(seed_tree), "--format", "json", "--no-gitignore").stdout)
    assert {c["location"]["path"] for c in everything["calls"]} == {
        "src/services/database_service.py", "generated/other.py", "vendor/third.py"}


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_no_password_in_any_output(seed_tree, fmt, tmp_path):
    result = scan(str(seed_tree), "--format", fmt, "--verbose")
    assert SECRET not in result.output
    assert "***" in result.output
    out = tmp_path / f"report.{fmt}"
    scan(str(seed_tree), "--format", fmt, "--output", str(out))
    assert SECRET not in out.read_text()


def test_json_schema_is_stable(seed_tree):
    data = json.loads(scan(str(seed_tree), "--format", "json").stdout)
    assert data["schema_version"] == 1
    assert set(data) == {"schema_version", "tool", "root", "summary", "factories", "acquires", "calls", "env_reads",
                         "deployment_files", "deployment_settings", "schema_sources", "orm_tables", "except_clauses",
                         "findings", "problems"}
    call = data["calls"][0]
    assert set(call) == {"location", "function", "receiver", "receiver_kind", "evidence", "method", "sql", "sql_origin",
                         "placeholders", "casts", "statements", "result_use", "in_transaction"}
    assert call["function"] == "AlertRepository.get" and call["placeholders"] == [1]


def test_markdown_has_every_section(seed_tree):
    text = scan(str(seed_tree), "--format", "markdown").stdout
    for heading in ("# Database access inventory", "## Findings", "## Pools, engines and session factories",
                    "## Environment variables", "## SQL call sites", "## Schema sources"):
        assert heading in text


def test_clean_tree_exits_zero(tmp_path):
    write_tree(tmp_path, {"app.py": "def main():\n    return 1\n"})
    result = scan(str(tmp_path))
    assert result.exit_code == 0
    assert "1 files scanned" in result.stdout.replace("\n", " ") or "files scanned" in result.stdout


def test_help_of_every_command_is_clear():
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0 and "scan" in top.stdout
    sub = runner.invoke(app, ["scan", "--help"])
    assert sub.exit_code == 0
    for option in ("--format", "--fail-on", "--exclude", "--jobs", "--output"):
        assert option in sub.stdout


def test_without_a_terminal_every_site_is_one_line_grep_finds():
    # `pgunify scan examples/pepgmp | cat` in a CI log: a pipe, no terminal, no COLUMNS
    import os
    import subprocess
    import sys
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "pepgmp"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}

    def pgunify(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "pgunify", "scan", str(example), "--fail-on", "never", *args],
                              capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    data = json.loads(pgunify("--format", "json"))
    lines = pgunify().splitlines()
    assert not any("│" in line for line in lines), "tables in a pipe break cells over lines"

    def line_of(location: dict) -> str:
        where = f"{location['path']}:{location['line']}"
        found = [line for line in lines if line.startswith(where + "  ")]
        assert found, where
        return found[0]

    assert data["calls"] and data["factories"]
    for call in data["calls"]:
        line = line_of(call["location"])
        assert f"method: {call['method']}" in line
        if call["sql"] is not None:
            assert "SQL: " + " ".join(call["sql"].split()) in line  # the whole statement, on the site's line
    for factory in data["factories"]:
        assert f"api: {factory['api']}" in line_of(factory["location"])
    for finding in data["findings"]:
        if finding["severity"] != "info":
            where = f"{finding['location']['path']}:{finding['location']['line']}"
            assert any(where in line and " ".join(finding["message"].split()) in line for line in lines), where
    summary = [line for line in lines if line.endswith(" files scanned") or " files scanned, " in line]
    assert len(summary) == 1 and "Findings:" in summary[0]
