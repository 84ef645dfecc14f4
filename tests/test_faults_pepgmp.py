"""examples/pepgmp under faults and load on real PostgreSQL: the migrated copy against the
legacy copy, the same scenario (tests/fault_scenarios.py) in a process of its own for each.

Each test asserts what the application must do, on the migrated tree, and that the migrated
tree does at least as well as the legacy one on every measured line. The figures are in
docs/reliability.md; `-s` prints them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from example_tree import copy_example
from pgunify.cli import app
from pgunify.postgres import provision, restart, scratch_database

SCENARIOS = Path(__file__).resolve().parent / "fault_scenarios.py"
TREES = ("legacy", "migrated")


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("faults")
    legacy = copy_example("pepgmp", base / "legacy")
    migrated = copy_example("pepgmp", base / "migrated")
    result = CliRunner().invoke(app, ["migrate", str(migrated), "--write"])
    assert result.exit_code == 0, result.output
    return {"legacy": legacy, "migrated": migrated}


def _plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _start(tree: Path, scenario: str, url: str, control: Path, **env: str) -> subprocess.Popen:
    control.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, str(SCENARIOS), scenario, str(control)], cwd=tree, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": _plain(url), "PYTHONDONTWRITEBYTECODE": "1", **env})


def _result(run: subprocess.Popen, timeout: float = 600) -> dict:
    stdout, stderr = run.communicate(timeout=timeout)
    assert run.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def _side_by_side(pg_server, trees, tmp_path, scenario: str, **env: str) -> dict[str, dict]:
    """Both trees at once, each on a database of its own."""
    with scratch_database(pg_server, prefix="fault_legacy") as legacy_url, \
            scratch_database(pg_server, prefix="fault_migrated") as migrated_url:
        urls = {"legacy": legacy_url, "migrated": migrated_url}
        runs = {name: _start(trees[name], scenario, urls[name], tmp_path / name, **env) for name in TREES}
        results = {name: _result(run) for name, run in runs.items()}
    print(f"\n{scenario}: {json.dumps(results, indent=1)}")
    return results


def test_server_restart_loses_no_acknowledged_write_and_the_application_recovers(trees, tmp_path):
    results = {}
    with provision(sources=["binaries"]) as server:
        for name in TREES:
            with scratch_database(server, prefix=f"restart_{name}") as url:
                control = tmp_path / name
                run = _start(trees[name], "restart", url, control)
                for marker in ("restart-now", "restart-idle"):
                    deadline = time.monotonic() + 300
                    while not (control / marker).exists():
                        assert run.poll() is None, run.communicate()[1][-3000:]
                        assert time.monotonic() < deadline, f"{name}: the scenario never asked for {marker}"
                        time.sleep(0.05)
                    restart(server)
                    (control / "restarted").write_text("")
                results[name] = _result(run)
    print(f"\nrestart: {json.dumps(results, indent=1)}")
    migrated, legacy = results["migrated"], results["legacy"]
    assert migrated["acknowledged_rows_lost"] == 0 and migrated["rows_checked"] >= 450
    assert migrated["final_calls_ok"] == 50  # recovered without restarting the application
    assert migrated["failed_calls_after_idle_restart"] <= legacy["failed_calls_after_idle_restart"]
    assert migrated["failed_calls_after_idle_restart"] == 0, migrated["errors"]
    assert migrated["failed_calls_after_server_back"] <= legacy["failed_calls_after_server_back"] + 8  # in flight


def test_exhausted_pool_gives_a_bounded_clear_timeout(pg_server, trees, tmp_path):
    results = _side_by_side(pg_server, trees, tmp_path, "exhausted", FAULT_WAIT_LIMIT="45")
    migrated = results["migrated"]
    assert migrated["bounded"], migrated  # the extra caller is not left waiting for ever
    assert "Timeout" in migrated["extra_caller"], migrated
    assert migrated["blocked_callers_served_after"] == 20 and migrated["served_after"]
    assert migrated["connections_left_open"] == 0
    assert results["legacy"]["connections_left_open"] == 0


def test_cancelled_transaction_commits_nothing_and_returns_a_clean_connection(pg_server, trees, tmp_path):
    results = _side_by_side(pg_server, trees, tmp_path, "cancelled")
    for name in TREES:
        result = results[name]
        assert result["task"] == "cancelled", (name, result)
    migrated, legacy = results["migrated"], results["legacy"]
    assert migrated["rows_committed_by_cancelled_transaction"] == 0
    assert migrated["backends_settled"], migrated
    assert migrated["calls_after_cancel_ok"] == migrated["calls_after_cancel"], migrated["errors"]
    assert migrated["rows_visible_after"] == migrated["calls_after_cancel"]
    assert migrated["connections_left_open"] == 0
    for key in ("calls_after_cancel_ok", "rows_visible_after"):
        assert migrated[key] >= legacy[key]


def test_statement_timeout_is_a_clear_error_and_the_connection_serves_again(pg_server, trees, tmp_path):
    results = _side_by_side(pg_server, trees, tmp_path, "statement_timeout")
    migrated, legacy = results["migrated"], results["legacy"]
    assert migrated["timeouts_raised"] == 3, migrated
    assert any("canceling statement due to statement timeout" in e for e in migrated["errors"]), migrated
    assert migrated["calls_after_ok"] == migrated["calls_after"]
    assert migrated["calls_after_ok"] >= legacy["calls_after_ok"]
    assert migrated["connections_left_open"] == 0


def test_200_concurrent_callers_no_error_no_leaked_connection(pg_server, trees, tmp_path):
    results = _side_by_side(pg_server, trees, tmp_path, "concurrent")
    migrated, legacy = results["migrated"], results["legacy"]
    assert migrated["failed_callers"] == 0, migrated["errors"]
    assert migrated["rows_checked"] == migrated["rows_written"] == 200 * 4
    assert 0 < migrated["peak_server_connections"] <= 20
    assert migrated["connections_left_open"] == 0
    assert migrated["failed_callers"] <= legacy["failed_callers"]


def test_refused_connections_raise_the_driver_errors_the_code_catches(pg_server, trees, tmp_path):
    results = _side_by_side(pg_server, trees, tmp_path, "refused")
    migrated, legacy = results["migrated"], results["legacy"]
    assert legacy["health_check_while_refused"] == "False" and legacy["call_error_is_asyncpg_error"]
    # the same behaviour is required of the migrated code: `except asyncpg.PostgresError` keeps working
    assert migrated["health_check_while_refused"] == "False", migrated
    assert migrated["call_error_is_asyncpg_error"], migrated
    assert migrated["calls_after_ok"] == migrated["calls_after"]
