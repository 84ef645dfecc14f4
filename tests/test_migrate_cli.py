"""`pgunify migrate` end to end on a copy of examples/pepgmp, through the CLI runner."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from example_tree import copy_example, git, run_example_tests
from pgunify.cli import app

runner = CliRunner()


def migrate(*args: str):
    return runner.invoke(app, ["migrate", *args])


@pytest.fixture
def example(tmp_path):
    return copy_example("pepgmp", tmp_path)


def test_dry_run_prints_a_diff_that_git_apply_and_patch_accept(example, tmp_path):
    patch = tmp_path / "migrate.diff"
    result = migrate(str(example), "--patch", str(patch))  # the printed diff masks passwords: docs/migrate.md
    assert result.exit_code == 1, result.output  # changes pending
    diff = patch.read_text()
    assert "+++ b/src/database/engine.py" in diff and "--- a/src/database/connection.py" in diff
    assert "+++ b/src/database/engine.py" in result.stdout
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=example, check=True)
    subprocess.run(["patch", "-p1", "--dry-run", "-i", str(patch)], cwd=example, check=True, capture_output=True)
    assert git(example, "status", "--porcelain") == ""  # a dry run writes nothing


def test_write_then_second_run_is_a_no_op(example):
    first = migrate(str(example), "--write")
    assert first.exit_code == 0, first.output
    assert (example / "src/database/engine.py").is_file()
    baseline = example / ".pgunify/baseline"
    latest = (baseline / "LATEST").read_text().strip()
    manifest = json.loads((baseline / latest / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} >= {
        "src/database/connection.py", "src/database/engine.py", "src/database/raw_sql.py",
        "src/services/database_service.py", "src/repositories/alert_repository.py"}
    assert {f["path"] for f in manifest["files"] if f["created_by_unify"]} == {"src/database/engine.py", "src/database/raw_sql.py"}
    assert (baseline / latest / "files/src/database/connection.py").read_text() == git(example, "show", "HEAD:src/database/connection.py")
    git(example, "add", "-A")
    git(example, "commit", "-qm", "migrated")
    second = migrate(str(example))
    assert second.exit_code == 0, second.output
    assert "+++" not in second.stdout


def test_after_write_scan_sees_one_engine_and_no_localhost_default(example):
    assert migrate(str(example), "--write").exit_code == 0
    data = json.loads(runner.invoke(app, ["scan", str(example), "--format", "json"]).stdout)
    assert data["summary"]["sqlalchemy_engines"] == 1
    assert data["summary"]["engines_and_pools"] == 1  # the asyncpg pool is gone too
    # no asyncpg call is left in the application but the schema script, deliberately run on the
    # asyncpg connection under the engine; the test suite keeps its own probe connection
    app_calls = [c for c in data["calls"] if c["location"]["path"].startswith("src/")]
    assert [(c["function"], c["method"], c["receiver_kind"]) for c in app_calls] == [
        ("DatabaseService.init_schema", "execute", "driver")]
    assert {c["location"]["path"] for c in data["calls"] if c["receiver_kind"] != "driver"} <= {"conftest.py"}
    engines = [f for f in data["factories"] if f["kind"] == "engine"]
    assert engines[0]["location"]["path"] == "src/database/engine.py"
    assert not [f for f in data["findings"] if f["rule"] == "db-url-default-localhost"]
    assert "ASYNC_DATABASE_URL" not in data["summary"]["database_env_vars"]


@pytest.mark.parametrize(
    "name, codemods",
    [("pepgmp", []), ("pepgmp", ["--ignore", "repositories"]), ("fleetlog", []), ("guildbot", [])],
    ids=["pepgmp-all-codemods", "pepgmp-engine-and-config", "fleetlog-all-codemods", "guildbot-all-codemods"],
)
def test_migrated_example_passes_its_own_tests(tmp_path, name, codemods):
    example = copy_example(name, tmp_path)
    assert migrate(str(example), "--write", *codemods).exit_code == 0
    result = run_example_tests(example)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout


def test_fleetlog_after_migration_has_one_engine_and_no_pool_calls(tmp_path):
    example = copy_example("fleetlog", tmp_path)
    result = migrate(str(example), "--write")
    assert result.exit_code == 0, result.output
    data = json.loads(runner.invoke(app, ["scan", str(example), "--format", "json"]).stdout)
    assert data["summary"]["engines_and_pools"] == data["summary"]["sqlalchemy_engines"] == 1
    application_calls = [c for c in data["calls"] if c["location"]["path"].startswith("fleet/")]
    # only scripts and COPY are left on the driver, deliberately, under the shared engine's connection
    assert {c["receiver_kind"] for c in application_calls} == {"driver"}
    assert sorted(c["method"] for c in application_calls) == ["copy_records_to_table", "execute"]
    git(example, "add", "-A")
    git(example, "commit", "-qm", "migrated")
    assert migrate(str(example)).exit_code == 0  # nothing left to change


def test_syntax_error_file_is_reported_and_the_rest_migrated(example):
    (example / "src/broken.py").write_text("import asyncpg\ndef f(:\n    pass\n")
    git(example, "add", "-A")
    git(example, "commit", "-qm", "broken file")
    result = migrate(str(example), "--write")
    assert result.exit_code == 0, result.output
    assert "skipped src/broken.py: syntax error at line 2" in " ".join(result.output.split())
    assert (example / "src/database/engine.py").exists()


def test_dirty_work_tree_is_refused_without_allow_dirty(example):
    (example / "src/main.py").write_text((example / "src/main.py").read_text() + "\n# local edit\n")
    result = migrate(str(example), "--write")
    assert result.exit_code == 2
    assert "uncommitted changes" in result.output and "src/main.py" in result.output
    assert not (example / "src/database/engine.py").exists()
    assert migrate(str(example), "--write", "--allow-dirty").exit_code == 0


def test_report_lists_every_change_and_every_site_left_alone(example, tmp_path):
    data_file = tmp_path / "report.json"
    migrate(str(example), "--report", str(data_file), "--format", "json")
    data = json.loads(data_file.read_text())
    changes = [c for f in data["files"] for c in f.get("changes", [])]
    assert data["summary"]["changes"] == len(changes) >= 3
    # every static statement of the example is rewritten and proven; the count is in the report
    assert data["summary"]["statements_proven"] == sum(f.get("statements_proven", 0) for f in data["files"]) >= 40
    assert all(c["description"] and c["risk"] in ("safe", "review", "manual") for c in changes)
    left = [item for f in data["files"] for item in f.get("left_alone", [])]
    assert any("asyncpg.connect() is left as it is" in item["reason"] for item in left)
    markdown_file = tmp_path / "report.md"
    migrate(str(example), "--report", str(markdown_file))
    markdown = markdown_file.read_text()
    for change in changes:
        assert change["description"].replace("|", "\\|") in markdown
    assert "## Left alone" in markdown and "conftest.py:" in markdown
    assert f"{data['summary']['statements_proven']} SQL statements rewritten, each proven" in markdown
    assert {"repositories", "engine", "config"} <= {c["codemod"] for c in changes}


def test_list_select_and_ignore(example):
    listed = migrate("--list")
    assert listed.exit_code == 0 and "review" in listed.stdout
    assert listed.stdout.index("repositories") < listed.stdout.index("engine") < listed.stdout.index("config")
    unknown = migrate(str(example), "--select", "nope")
    assert unknown.exit_code == 2 and "unknown codemod 'nope'" in unknown.output
    only_engine = migrate(str(example), "--select", "engine", "--format", "json")
    codemods = {c["codemod"] for f in json.loads(only_engine.stdout)["files"] for c in f.get("changes", [])}
    assert codemods == {"engine"}
    none_left = migrate(str(example), "--select", "engine", "--ignore", "engine")
    assert none_left.exit_code == 2


def test_configuration_from_pyproject(example):
    (example / "pyproject.toml").write_text('[tool.pgunify]\nselect = ["engine"]\nengine-module = "src.db_engine"\n')
    data = json.loads(migrate(str(example), "--format", "json").stdout)
    paths = {f["path"] for f in data["files"] if f["status"] == "changed"}
    assert "src/db_engine.py" in paths
    assert {c["codemod"] for f in data["files"] for c in f.get("changes", [])} == {"engine"}
    (example / "pyproject.toml").write_text('[tool.pgunify]\nselec = ["engine"]\n')
    bad = migrate(str(example))
    assert bad.exit_code == 2 and "unknown key [tool.pgunify] 'selec'" in bad.output


def test_parallel_output_is_identical(example, monkeypatch):
    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    one = migrate(str(example), "--format", "json", "--jobs", "1", "--exclude", "tests/").stdout
    two = migrate(str(example), "--format", "json", "--jobs", "2", "--exclude", "tests/").stdout
    assert one == two


def test_write_keeps_mode_encoding_and_line_endings(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    legacy = ("# -*- coding: latin-1 -*-\r\n"
              "import os\r\n"
              "# caf\xe9\r\n"
              "ASYNC_DATABASE_URL = os.getenv('ASYNC_DATABASE_URL', 'postgresql+asyncpg://localhost/db')\r\n"
              "DATABASE_URL = os.getenv('DATABASE_URL', 'postgresql://localhost/db')\r\n"
              "print(ASYNC_DATABASE_URL, DATABASE_URL)\r\n").encode("latin-1")
    path = app_dir / "settings.py"
    path.write_bytes(legacy)
    path.chmod(0o750)
    result = migrate(str(app_dir), "--write")
    assert result.exit_code == 0, result.output
    assert "not a git repository" in result.output and "is the only copy of the old files" in result.output
    new = path.read_bytes()
    assert new != legacy
    assert b"caf\xe9" in new  # still latin-1
    assert new.count(b"\r\n") == new.count(b"\n")  # every line still ends in CRLF
    assert stat.S_IMODE(path.stat().st_mode) == 0o750
    assert b"database_url().render_as_string(hide_password=False)" in new


def test_pools_on_different_databases_keep_their_queries(tmp_path):
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "db.py").write_text(
        "import os\nimport asyncpg\n\n\n"
        "async def pools():\n"
        "    main = await asyncpg.create_pool(os.environ['DATABASE_URL'])\n"
        "    analytics = await asyncpg.create_pool(os.environ['ANALYTICS_DATABASE_URL'])\n"
        "    return main, analytics\n\n\n"
        "async def count(pool: asyncpg.Pool):\n"
        "    return await pool.fetchval('SELECT count(*) FROM events WHERE kind = $1', 'x')\n"
    )
    data = json.loads(migrate(str(app_dir), "--format", "json").stdout)
    assert "repositories" not in data["codemods"]
    assert any("different URLs" in note for note in data["notes"])
    changed = {f["path"] for f in data["files"] if f["status"] == "changed"}
    assert "db.py" not in changed  # the pools and their queries stay on asyncpg together


def test_a_file_changed_during_the_run_stops_the_write(example, monkeypatch):
    from pgunify.rewrite import writing

    original = writing.apply_changes

    def edit_then_apply(root, changed):
        target = root / "src/database/connection.py"
        target.write_text(target.read_text() + "\n# edited meanwhile\n")
        return original(root, changed)

    monkeypatch.setattr(writing, "apply_changes", edit_then_apply)
    import pgunify.cli  # the command imports apply_changes when it runs

    result = migrate(str(example), "--write", "--allow-dirty")
    assert result.exit_code == 3  # the write could not complete: the tool failed, not "changes pending"
    assert "changed on disk while pgunify was running" in " ".join(result.output.split())
    assert not (example / "src/database/engine.py").exists()  # nothing written: no half migration
    assert not (example / ".pgunify").exists()


def test_the_printed_diff_applies_to_files_with_tabs_and_windows_line_ends(tmp_path):
    """Piped into a file, the diff is the exact text: tabs and \r\n kept, so it still applies."""
    tree = copy_example("pepgmp", tmp_path)
    repository = tree / "src/repositories/alert_repository.py"
    source = repository.read_text()
    assert "\t" not in source and "\r" not in source
    # the same module indented with tabs and ending its lines the Windows way
    repository.write_bytes(source.replace("    ", "\t").replace("\n", "\r\n").encode())
    git(tree, "add", "-A")
    git(tree, "commit", "-q", "-m", "tabs and CRLF")
    result = subprocess.run([sys.executable, "-m", "pgunify", "migrate", str(tree), "--diff"], capture_output=True)
    assert result.returncode == 1, result.stderr  # changes pending
    patch = tmp_path / "printed.diff"
    patch.write_bytes(result.stdout)
    assert b"\r\n" in result.stdout and b"+\t" in result.stdout
    assert b"alert_repository.py" in result.stdout
    # (the module with the database URL's password is masked in a printed diff: left out here)
    subprocess.run(["git", "apply", "--check", "--include=src/repositories/alert_repository.py", str(patch)],
                   cwd=tree, check=True)
