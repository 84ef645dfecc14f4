"""examples/guildbot migrated and checked end to end: a chat bot whose pool sits behind a
property (`bot.pool`, `ctx.db`), helpers taking a pool or a connection, computed
`executemany` rows, per-call timeouts, an `init` callback defined inside the pool factory,
a script with its own pool and ORM models on `declarative_base()` and a `registry()`."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from example_tree import copy_example, git
from pgunify.cli import app

runner = CliRunner()


def test_migration_report_scan_and_verify(tmp_path, database_url):
    root = copy_example("guildbot", tmp_path)
    report = tmp_path / "report.json"
    result = runner.invoke(app, ["migrate", str(root), "--write", "--no-diff", "--report", str(report), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    summary = data["summary"]
    assert summary["manual"] == 0 and summary["files_failed"] == 0
    assert summary["statements_proven"] >= 19
    assert summary["changes_by_risk"]["safe"] >= 9
    changes = {(f["path"], c["description"]) for f in data["files"] for c in f.get("changes", [])}
    # the init callback defined inside the factory moved into the engine module
    assert ("guildbot/db.py", "init() moved into guildbot.engine, which runs it on every new connection as "
                              "create_pool(init=...) did") in changes
    engine_module = (root / "guildbot/engine.py").read_text()
    assert "set_type_codec" in engine_module and "create_pool(" not in (root / "guildbot/db.py").read_text()
    # the helpers that get the pool and connections alike go through asyncpg_connection()
    assert "asyncpg_connection(" in (root / "guildbot/db.py").read_text()
    left = {f["path"]: [i["reason"] for i in f.get("left_alone", [])] for f in data["files"]}
    assert any("a pool this test, script or tool creates for itself" in r for r in left["scripts/backfill.py"])

    scan = json.loads(runner.invoke(app, ["scan", str(root), "--format", "json", "--fail-on", "never"]).stdout)
    assert scan["summary"]["sqlalchemy_engines"] == 1  # the ORM's engine is the shared one now
    pools = [f for f in scan["factories"] if f["api"] == "asyncpg.create_pool"]
    assert [p["location"]["path"] for p in pools] == ["scripts/backfill.py"]

    git(root, "add", "-A")
    git(root, "commit", "-qm", "migrated")
    assert runner.invoke(app, ["migrate", str(root)]).exit_code == 0  # a second run changes nothing

    verified = runner.invoke(app, ["verify", str(root), "--dsn", database_url, "-n", "5", "--format", "json"])
    assert verified.exit_code == 0, verified.output
    outcome = json.loads(verified.stdout)
    assert outcome["summary"]["differences"] == 0 and outcome["summary"]["migrated_code_runs"] is True
    assert outcome["summary"]["classes"] == 4  # Karma, Reminders, Tags (built by the bot) and SettingsDAO
    assert outcome["summary"]["scenarios"] == 3
    assert outcome["calls"]["scenario:karma is given, limited, listed and reset"] == {"calls": 8, "raised": 1}
    assert outcome["calls"]["Reminders.schedule"]["calls"] == 5
    assert {item["target"].split(".")[1][:4] for item in outcome["not_called"]} == {"cmd_"}  # commands need a message
