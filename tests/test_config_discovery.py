"""[tool.pgunify] is read by every command, found upward from PATH, and an unknown key is
refused by each command with the same message."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from scan_helpers import write_tree
from pgunify.cli import app
from pgunify.config import find_pyproject, load_settings

runner = CliRunner()

LOCALHOST = """
import os
import asyncpg

URL = os.getenv("DATABASE_URL", "postgresql://app@localhost/app")

async def pool():
    return await asyncpg.create_pool(URL)
"""


def test_scan_applies_exclude_from_the_configuration(tmp_path):
    write_tree(tmp_path, {"app/db.py": LOCALHOST, "legacy/old.py": LOCALHOST,
                          "pyproject.toml": '[tool.pgunify]\nexclude = ["legacy/"]\n'})
    data = json.loads(runner.invoke(app, ["scan", str(tmp_path), "--format", "json"]).stdout)
    assert data["summary"]["files_scanned"] == 1
    assert {f["location"]["path"] for f in data["findings"] if f["location"]} == {"app/db.py"}
    # a command-line --exclude replaces the configured list, as in migrate
    again = json.loads(runner.invoke(app, ["scan", str(tmp_path), "--format", "json", "-e", "app/"]).stdout)
    assert again["summary"]["files_scanned"] == 1
    assert {f["location"]["path"] for f in again["findings"] if f["location"]} == {"legacy/old.py"}


def test_the_nearest_pyproject_with_a_unify_table_is_found_upward(tmp_path):
    write_tree(tmp_path, {"pyproject.toml": '[tool.pgunify]\njobs = 3\n',
                          "services/api/pyproject.toml": '[project]\nname = "api"\n',
                          "services/api/app/db.py": LOCALHOST})
    start = tmp_path / "services/api/app"
    assert find_pyproject(start) == tmp_path / "pyproject.toml"
    assert load_settings(start).jobs == 3
    (tmp_path / "services/api/pyproject.toml").write_text('[project]\nname = "api"\n[tool.pgunify]\njobs = 2\n')
    assert find_pyproject(start) == tmp_path / "services/api/pyproject.toml"
    assert load_settings(start).jobs == 2


BAD = {
    "top-level key": ('[tool.pgunify]\nexclud = ["x/"]\n', "unknown key [tool.pgunify] 'exclud'"),
    "unknown section": ('[tool.pgunify.verfy]\nexamples = 3\n', "unknown key [tool.pgunify] 'verfy'"),
    "verify key": ('[tool.pgunify.verify]\nexampels = 3\n', "[tool.pgunify.verify] unknown key 'exampels'"),
    "schema key": ('[tool.pgunify.schema]\ntable-module = "x"\n', "unknown key [tool.pgunify.schema] 'table-module'"),
}
COMMANDS = {
    "scan": ["scan", "{path}"],
    "migrate": ["migrate", "{path}"],
    "verify": ["verify", "{path}", "--dsn", "postgresql://app@127.0.0.1:1/app"],
    "schema": ["schema", "{path}", "--server", "postgresql://app@127.0.0.1:1/app"],
    "schema check": ["schema", "check", "{path}", "--dsn", "postgresql://app@127.0.0.1:1/app"],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("bad", BAD)
def test_every_command_refuses_an_unknown_key_alike(tmp_path, command, bad):
    text, message = BAD[bad]
    write_tree(tmp_path, {"pyproject.toml": text, "app/db.py": LOCALHOST})
    sub = tmp_path / "app"  # found upward from a subdirectory, too
    result = runner.invoke(app, [a.format(path=sub) for a in COMMANDS[command]], env={"COLUMNS": "400"})
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split()), result.output
    assert str(tmp_path / "pyproject.toml") in result.output.replace("\n", "")
