"""`pgunify schema` on migrated copies of the example applications, proven on real PostgreSQL:
the baseline recreates exactly the legacy start-up schema, shows no drift, and goes away again."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from example_tree import copy_example, git, run_example_tests
from schema_support import alembic, dump_difference, leftovers, legacy_schema, normalise_revision, reflected
from pgunify.cli import app
from pgunify.postgres import scratch_database

runner = CliRunner()
GOLDEN = Path(__file__).parent / "golden"
URL_VARS = {"pepgmp": "DATABASE_URL", "fleetlog": "FLEET_DB_DSN", "guildbot": "GUILDBOT_DSN"}


@pytest.fixture(scope="module", params=["pepgmp", "fleetlog", "guildbot"])
def built(request, tmp_path_factory, pg_server):
    """A migrated copy of the example with `pgunify schema` run on it."""
    name = request.param
    root = copy_example(name, tmp_path_factory.mktemp(name))
    assert runner.invoke(app, ["migrate", str(root), "--write", "--no-diff"]).exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-qm", "migrated")
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert result.exit_code == 0, result.output
    assert "proven alembic upgrade" in result.output and "object for object" in result.output, result.output
    return name, root, result.output


def test_schema_writes_the_module_the_environment_and_a_baseline(built):
    name, root, output = built
    revisions = list((root / "migrations/versions").glob("*.py"))
    assert len(revisions) == 1
    for rel in ("alembic.ini", "migrations/env.py", "migrations/script.py.mako", "MIGRATIONS.md"):
        assert (root / rel).is_file(), rel
    assert "Carried as raw SQL" in output or name in ("fleetlog", "guildbot")
    if name == "guildbot":  # a declarative_base() and a registry() on one MetaData
        assert "ORM tables (imported from the models): guild_config, mod_actions" in " ".join(output.split())
    env = (root / "migrations/env.py").read_text()
    assert "import engine" in env and "target_metadata = metadata" in env


def test_upgrade_head_on_an_empty_database_is_the_legacy_schema(built, pg_server):
    name, root, _ = built
    with scratch_database(pg_server, prefix="schema_legacy") as legacy_url, \
            scratch_database(pg_server, prefix="schema_alembic") as alembic_url:
        legacy_schema(root, legacy_url)
        upgrade = alembic(root, URL_VARS[name], alembic_url, "upgrade", "head")
        assert upgrade.returncode == 0, upgrade.stderr
        difference = dump_difference(legacy_url, alembic_url)
        assert difference == "", f"pg_dump --schema-only differs:\n{difference}"
        assert reflected(alembic_url) == reflected(legacy_url)

        check = alembic(root, URL_VARS[name], alembic_url, "check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "No new upgrade operations detected" in check.stdout + check.stderr

        down = alembic(root, URL_VARS[name], alembic_url, "downgrade", "base")
        assert down.returncode == 0, down.stderr
        assert leftovers(alembic_url) == []


def test_pepgmp_baseline_matches_the_golden_file(built):
    name, root, _ = built
    if name != "pepgmp":
        return
    revision = next((root / "migrations/versions").glob("*.py")).read_text()
    golden = GOLDEN / "pepgmp_baseline.py"
    if os.environ.get("UNIFY_UPDATE_GOLDEN") == "1":
        golden.write_text(normalise_revision(revision))
    assert normalise_revision(revision) == golden.read_text()
    tables = (root / "src/database/schema_tables.py").read_text()
    golden_tables = GOLDEN / "pepgmp_schema_tables.py"
    if os.environ.get("UNIFY_UPDATE_GOLDEN") == "1":
        golden_tables.write_text(tables)
    assert tables == golden_tables.read_text()


def test_after_schema_startup_the_example_passes_its_own_tests(built):
    """The documented order: migrate, schema, migrate again; the example's tests then get
    their schema from `alembic upgrade head` (see its conftest), not from start-up code."""
    name, root, _ = built
    git(root, "add", "-A")
    git(root, "commit", "-qm", "schema")
    result = runner.invoke(app, ["migrate", str(root), "--write", "--no-diff", "--format", "json"])
    assert result.exit_code == 0, result.output
    if name == "pepgmp":
        assert "create_all" not in (root / "src/database/connection.py").read_text()
        assert "init_schema" not in (root / "src/main.py").read_text()
    if name == "guildbot":
        assert "create_all" not in (root / "guildbot/models.py").read_text()
    tests = run_example_tests(root)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "skipped" not in tests.stdout
