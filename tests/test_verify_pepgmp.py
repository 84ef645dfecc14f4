"""`pgunify verify` end to end on a migrated copy of examples/pepgmp, on real PostgreSQL.

One migrated copy is shared by the module; tests that break it work on copies of it. The
broken migrations are small text edits of the kind a hand-written or faulty migration
could make; each must come out as a difference with a readable counterexample.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from example_tree import copy_example
from pgunify.cli import app
from pgunify.postgres import scratch_database

runner = CliRunner()
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    root = copy_example("pepgmp", tmp_path_factory.mktemp("verify"))
    result = runner.invoke(app, ["migrate", str(root), "--write", "--no-diff"])
    assert result.exit_code == 0, result.output
    return root


@pytest.fixture
def mutable(migrated, tmp_path) -> Path:
    """A copy of the migrated tree (baseline included) that a test may break."""
    target = tmp_path / "pepgmp"
    shutil.copytree(migrated, target, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    return target


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def run_databases(admin_url: str) -> set[str]:
    async def names() -> set[str]:
        conn = await asyncpg.connect(plain(admin_url))
        try:
            return {r[0] for r in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'unify_verify_%'")}
        finally:
            await conn.close()

    return asyncio.run(names())


def verify(*args: str):
    return runner.invoke(app, ["verify", *args])


def edit(root: Path, rel: str, old: str, new: str, count: int = 1) -> None:
    path = root / rel
    text = path.read_text()
    assert text.count(old) >= count, f"{rel}: mutation anchor not found: {old!r}"
    path.write_text(text.replace(old, new))


def test_correct_migration_has_no_difference(migrated, database_url, pg_server, tmp_path):
    before = run_databases(pg_server.dsn)
    report = tmp_path / "verify.json"
    emitted = tmp_path / "emitted"
    result = verify(str(migrated), "--dsn", database_url, "-n", "4", "--format", "json", "--report", str(report),
                    "--emit-tests", str(emitted))
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["summary"]["differences"] == 0
    assert data["summary"]["classes"] == 6  # three repositories and three DAOs
    assert data["summary"]["methods"] >= 70
    assert data["summary"]["scenarios"] == 4  # examples/pepgmp/verify/flows.toml travelled with the copy
    assert data["summary"]["cases"] > 250 and data["summary"]["cases_per_second"] > 0
    # most generated calls got past validation, so the comparison covers real results and writes
    calls = data["calls"]
    assert sum(c["calls"] - c["raised"] for c in calls.values()) > sum(c["raised"] for c in calls.values())
    assert run_databases(pg_server.dsn) == before  # the template and both clones are gone

    # the emitted tests run with plain pytest, pgunify unimportable, and hold on the migrated code
    with scratch_database(pg_server, prefix="unify_test") as scratch:
        code = ("import sys; sys.modules['pgunify'] = None; import pytest; "
                "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', sys.argv[1]]))")
        kept = subprocess.run([sys.executable, "-c", code, str(emitted)], cwd=emitted, capture_output=True, text=True,
                              env=dict(os.environ, VERIFY_CASES_DATABASE_URL=scratch), timeout=600)
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-2000:]
    passed = re.search(r"(\d+) passed", kept.stdout)
    assert passed and int(passed.group(1)) > 100 and "failed" not in kept.stdout, kept.stdout[-2000:]
    assert "import pgunify" not in (emitted / "test_unify_verify_cases.py").read_text().replace("import unify_verify", "")


MUTATIONS = {
    # name: (file, old text, new text, method whose difference must be reported, text the diff must show)
    "lost commit": (  # the engine without autocommit, and no commit before the connection closes
        "src/repositories/camera_repository.py",
        "        async with self._pool.connect() as conn:\n"
        "            result = command_status(\n"
        "                await conn.execute(\n"
        "                    _UPDATE_CAMERA_STATUS_STATEMENT",
        "        async with __import__(\"src.database.engine\", fromlist=[\"engine\"]).engine.connect() as conn:\n"
        "            result = command_status(\n"
        "                await conn.execute(\n"
        "                    _UPDATE_CAMERA_STATUS_STATEMENT",
        "PostgreSQLCameraRepository.update_status", "table cameras"),
    "json changes type": (
        "src/repositories/camera_repository.py", "        return json.loads(config)\n", "        return config\n",
        "PostgreSQLCameraRepository.merge_config", "result"),
    "rows iterate keys": (
        "src/database/raw_sql.py", "        return iter(self._values)\n", "        return iter(self._names)\n",
        "PostgreSQLCameraRepository.count_by_status", "result"),
    "parameters swapped": (
        "src/repositories/camera_repository.py", '{"p1": status, "p2": limit, "p3": offset}',
        '{"p1": status, "p2": offset, "p3": limit}', "PostgreSQLCameraRepository.list_cameras", "result"),
    "exception class": (
        "src/repositories/camera_repository.py", "except asyncpg.UniqueViolationError as exc:",
        'except __import__("sqlalchemy").exc.IntegrityError as exc:',
        "PostgreSQLCameraRepository.create", "UniqueViolationError"),
    "not atomic": (
        "src/repositories/detection_repository.py",
        "                async with transaction(conn):\n                    deleted = command_status(",
        "                if True:\n                    deleted = command_status(",
        "PostgreSQLDetectionRecordRepository.replace_frames", "table detection_records"),
}


def test_broken_migrations_are_each_reported_with_a_counterexample(mutable, database_url):
    for rel, old, new, _, _ in MUTATIONS.values():
        edit(mutable, rel, old, new)
    methods = [m[3] for m in MUTATIONS.values()]
    args = [str(mutable), "--dsn", database_url, "-n", "40", "--scenarios", str(mutable / "verify"), "--no-generated"]
    scenario_run = verify(*args)
    assert scenario_run.exit_code == 1, scenario_run.output  # the flows trip over the same breakage
    # 80 calls a method: the atomicity break shows only on a call that fails half-way, which
    # 40 generated calls did not always include
    result = verify(str(mutable), "--dsn", database_url, "-n", "80", "--format", "json",
                    "--no-scenarios", *[a for m in methods for a in ("-k", m)])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    found = {d["target"]: d for d in data["differences"]}
    for name, (_, _, _, method, shown) in MUTATIONS.items():
        assert method in found, f"{name}: no difference reported for {method}; got {sorted(found)}"
        difference = found[method]
        assert difference["call"].startswith(method + "("), difference
        assert any(shown in line for line in difference["diff"]) or shown in difference["new"], (name, difference)
    assert "Camera" in found["PostgreSQLCameraRepository.create"]["call"]
    assert "CameraAlreadyExistsError" in found["PostgreSQLCameraRepository.create"]["old"]
    merge = found["PostgreSQLCameraRepository.merge_config"]
    assert merge["old"].startswith("{") and merge["new"].startswith("'{")  # a dict before, a JSON string after
    text = verify(str(mutable), "--dsn", database_url, "-n", "40", "-k", "PostgreSQLCameraRepository.count_by_status",
                  "--no-scenarios")
    assert text.exit_code == 1
    assert "call: PostgreSQLCameraRepository.count_by_status()" in text.stdout
    assert "old:" in text.stdout and "new:" in text.stdout and "diff:" in text.stdout


def test_accepted_difference_is_listed_not_failed(mutable, database_url):
    rel, old, new, method, _ = MUTATIONS["json changes type"]
    edit(mutable, rel, old, new)
    with (mutable / "pyproject.toml").open("a") as handle:
        handle.write('\n[tool.pgunify.verify]\naccept = [{ target = "PostgreSQLCameraRepository.merge_config", '
                     'kind = "result", reason = "callers parse the JSON themselves" }]\n')
    result = verify(str(mutable), "--dsn", database_url, "-n", "20", "-k", method, "--format", "json",
                    "--no-scenarios")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["differences"] == []
    assert [a["accepted_because"] for a in data["accepted"]] == ["callers parse the JSON themselves"]


def test_a_crash_of_the_code_under_test_is_a_difference_and_leaves_no_database(mutable, database_url, pg_server):
    edit(mutable, "src/repositories/camera_repository.py",
         "    async def count(self, status: Optional[str] = None) -> int:\n",
         "    async def count(self, status: Optional[str] = None) -> int:\n        import os; os._exit(3)\n")
    before = run_databases(pg_server.dsn)
    result = verify(str(mutable), "--dsn", database_url, "-n", "3", "--format", "json", "-k",
                    "PostgreSQLCameraRepository.count", "--no-scenarios")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert [d["target"] for d in data["differences"]] == ["PostgreSQLCameraRepository.count"]
    assert "process died" in data["differences"][0]["new"] and "code 3" in data["differences"][0]["new"]
    assert data["calls"]["PostgreSQLCameraRepository.count_by_status"]["calls"] >= 1  # the run went on
    assert run_databases(pg_server.dsn) == before


def test_ctrl_c_drops_every_database_the_run_created(migrated, database_url, pg_server):
    before = run_databases(pg_server.dsn)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "pgunify", "verify", str(migrated), "--dsn", database_url, "-n", "200"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            seen |= run_databases(pg_server.dsn) - before
            if any(name.startswith("unify_verify_new_") for name in seen):
                break
            time.sleep(0.2)
        assert any(name.startswith("unify_verify_new_") for name in seen), proc.communicate(timeout=60)
        time.sleep(1.0)  # inside the cases now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err.decode()
    assert b"interrupted" in err
    assert run_databases(pg_server.dsn) == before


def test_a_non_empty_dsn_database_is_refused_without_the_scratch_flag(migrated, database_url):
    async def add_table() -> None:
        conn = await asyncpg.connect(plain(database_url))
        try:
            await conn.execute("CREATE TABLE precious (id int)")
        finally:
            await conn.close()

    asyncio.run(add_table())
    result = verify(str(migrated), "--dsn", database_url, "-n", "1")
    assert result.exit_code == 2
    assert "not empty" in result.output and "--dsn-is-scratch" in result.output
    password = make_url(database_url).password
    assert not password or str(password) not in result.output
