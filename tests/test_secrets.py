"""A database password never leaves pgunify: not in any output, report, log line or error.

Every command that reads or discovers a URL is run on a tree that holds the same password
in every place a URL can hide (Python defaults, literal pool URLs, query strings, libpq
keyword strings, .env, compose, Kubernetes, Dockerfile), and every byte it produces is
searched for it. The only exception is the file `--patch FILE` writes on request.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from example_tree import git
from scan_helpers import write_tree
from pgunify.cli import app
from pgunify.dsn import redact, redact_text
from pgunify.postgres import ProvisioningError, provision

runner = CliRunner()

SECRET = "Pw4Secr3tZ"
# the forms a password takes in a URL or DSN; none may survive redaction
FORMS = {
    "userinfo": f"postgresql://app:{SECRET}@db.internal:5432/app",
    "driver": f"postgresql+asyncpg://app:{SECRET}@localhost/app",
    "at sign in the password": f"postgresql://app:{SECRET}@x@db/app",
    "percent-encoded": f"postgresql://app:{SECRET}%40x@db/app",
    "query parameter": f"postgresql://db/app?user=app&password={SECRET}",
    "libpq keywords": f"host=db user=app password={SECRET} dbname=app",
    "libpq quoted": f"host=db user=app password='{SECRET} x' dbname=app",
    "empty user": f"postgres://:{SECRET}@db/app",
    "keyword argument": f'asyncpg.create_pool(dsn, password="{SECRET}")',
}


@pytest.mark.parametrize("form", FORMS)
def test_redaction_hides_every_form(form):
    value = FORMS[form]
    assert SECRET not in redact(value)
    assert SECRET not in redact_text(f"could not connect to {value}: refused")
    assert "***" in redact_text(f"({value})")


def test_redaction_keeps_what_is_not_a_password():
    assert redact("postgresql://app@db/app") == "postgresql://app@db/app"
    assert redact_text("connect(password=password, user=user)") == "connect(password=password, user=user)"
    assert redact_text("postgresql://app:***@db/app") == "postgresql://app:***@db/app"


SETTINGS = f"""
import os

import asyncpg
from sqlalchemy.ext.asyncio import create_async_engine

DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://app:{SECRET}@localhost:5432/app")
ASYNC_DATABASE_URL = os.environ.get("ASYNC_DATABASE_URL", "postgresql+asyncpg://app:{SECRET}@localhost/app")
REPLICA = os.getenv("REPLICA_DSN", "host=replica user=app password={SECRET} dbname=app")
engine = create_async_engine(ASYNC_DATABASE_URL, pool_pre_ping=True)


async def make_pool():
    return await asyncpg.create_pool(dsn=DATABASE_URL, password="{SECRET}")


class Repository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def names(self):
        async with self.pool.acquire() as conn:
            return await conn.fetch("SELECT name FROM cameras WHERE owner = $1", "postgresql://x:{SECRET}@y/z")
"""

# a second database: scanned, but left out of migrate runs (two pools block the pool move)
ADMIN = f"""
import asyncpg


async def admin_pool():
    return await asyncpg.create_pool("postgresql://admin:{SECRET}@db.internal/admin?sslmode=require", min_size=1)
"""

DEPLOYMENT = {
    "docker-compose.yml": f"""
        services:
          api:
            environment:
              - DATABASE_URL=postgresql://app:{SECRET}@database:5432/app
          worker:
            environment:
              ASYNC_DATABASE_URL: postgresql+asyncpg://app:{SECRET}@database/app
        """,
    ".env": (f"DATABASE_URL='postgresql://app:{SECRET}@database/app'\nREPLICA_DSN=postgresql://db/app?password={SECRET}\n"
             f"POSTGRES_PASSWORD={SECRET}\n"),
    "deploy/k8s/config.yaml": f"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: app}}
        data:
          DATABASE_URL: postgresql://app:{SECRET}@postgres.default.svc/app
        """,
    "deploy/k8s/api.yaml": f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: api}}
        spec:
          template:
            spec:
              containers:
                - name: api
                  env:
                    - name: DATABASE_URL
                      value: postgresql://app:{SECRET}@postgres/app
        """,
    "Dockerfile": f"FROM python:3.11\nENV DATABASE_URL=postgresql://app:{SECRET}@db/app\nENV REPLICA_DSN postgresql://app:{SECRET}@replica/app\n",
}


MIGRATE = ("--exclude", "tools/")


@pytest.fixture
def secret_tree(tmp_path):
    root = tmp_path / "app"
    write_tree(root, {"app/settings.py": SETTINGS, "tools/admin.py": ADMIN, **DEPLOYMENT})
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "legacy")
    return root


def _everything_under(path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(path.rglob("*"))
                     if p.is_file() and ".git" not in p.parts and ".pgunify" not in p.parts)


@pytest.mark.parametrize("fmt", ["table", "json", "markdown"])
def test_scan_shows_no_password_from_any_source(secret_tree, tmp_path, fmt):
    result = runner.invoke(app, ["scan", str(secret_tree), "--format", fmt, "--verbose", "--fail-on", "never"],
                           env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and "***" in result.output
    out = tmp_path / "out" / f"scan.{fmt}"
    out.parent.mkdir()
    runner.invoke(app, ["scan", str(secret_tree), "--format", fmt, "--output", str(out), "--fail-on", "never"])
    assert SECRET not in out.read_text() and "***" in out.read_text()


def test_scan_json_found_every_source_and_masked_each(secret_tree):
    data = json.loads(runner.invoke(app, ["scan", str(secret_tree), "--format", "json"]).stdout)
    kinds = {s["file_kind"] for s in data["deployment_settings"]}
    assert kinds == {"compose", "dotenv", "kubernetes", "dockerfile"}
    urls = [s["value"] for s in data["deployment_settings"] if s["value"]]
    urls += [e["default"] for e in data["env_reads"] if e["default"]]
    urls += [f["url"] for f in data["factories"] if f["url"]]
    assert len(urls) >= 10 and all("***" in u for u in urls if "://" in u or "password" in u), urls
    assert SECRET not in json.dumps(data)


def test_migrate_dry_run_masks_the_diff_and_points_to_the_exact_patch(secret_tree, tmp_path):
    result = runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE], env={"COLUMNS": "400"})
    assert result.exit_code == 1, result.output
    assert SECRET not in result.stdout and SECRET not in result.stderr
    removed = [line for line in result.stdout.splitlines() if line.startswith("-") and "***@" in line]
    assert removed, result.stdout  # the removed default URLs are in the diff, masked
    assert "hold a database password, shown as ***" in " ".join(result.stderr.split())
    assert "--patch FILE" in result.stderr

    patch = tmp_path / "exact.diff"
    quiet = runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE, "--patch", str(patch)], env={"COLUMNS": "400"})
    assert SECRET not in quiet.output and "--patch FILE" not in quiet.stderr
    assert SECRET in patch.read_text()  # exact, as asked for
    assert stat.S_IMODE(patch.stat().st_mode) == 0o600
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=secret_tree, check=True)


def test_migrate_json_reports_and_write_show_no_password(secret_tree, tmp_path):
    as_json = runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE, "--format", "json", "--report", str(tmp_path / "r.json")])
    assert SECRET not in as_json.output and '"diff"' in as_json.stdout
    assert SECRET not in (tmp_path / "r.json").read_text()
    runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE, "--report", str(tmp_path / "r.md")])
    assert SECRET not in (tmp_path / "r.md").read_text()
    written = runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE, "--write", "--diff", "--report", str(tmp_path / "w.md")],
                            env={"COLUMNS": "400"})
    assert written.exit_code == 0, written.output
    assert SECRET not in written.output and SECRET not in (tmp_path / "w.md").read_text()
    # pgunify never copies a password into the files it creates
    created = json.loads((secret_tree / ".pgunify/baseline" / (secret_tree / ".pgunify/baseline/LATEST").read_text().strip()
                          / "manifest.json").read_text())
    for entry in created["files"]:
        if entry["created_by_unify"]:
            assert SECRET not in (secret_tree / entry["path"]).read_text()
    after = runner.invoke(app, ["scan", str(secret_tree), "--format", "json", "--verbose"])
    assert SECRET not in after.output


def test_a_failing_codemod_shows_no_password(secret_tree, monkeypatch, tmp_path):
    from pgunify.codemods.repositories import RepositoryCodemod

    def boom(self, tree):
        raise RuntimeError(f"cannot reach postgresql://app:{SECRET}@db/app (host=db password={SECRET} user=app)")

    monkeypatch.setattr(RepositoryCodemod, "transform_module_impl", boom)
    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    text = runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE, "--report", str(tmp_path / "r.md")], env={"COLUMNS": "400"})
    as_json = runner.invoke(app, ["migrate", str(secret_tree), *MIGRATE, "--format", "json"])
    failed = [f for f in json.loads(as_json.stdout)["files"] if f["status"] == "failed"]
    assert failed and "cannot reach postgresql://app:***@db/app" in failed[0]["error"]
    assert "failed" in text.stderr
    assert text.exit_code == 3 and as_json.exit_code == 3  # a file the tool could not process
    for output in (text.output, as_json.output, (tmp_path / "r.md").read_text()):
        assert SECRET not in output


@pytest.mark.parametrize("where", [
    "127.0.0.1:1",  # nothing listens there
    "no-such-host.invalid:5432",  # does not resolve
])
def test_provisioning_errors_hide_the_password(where, monkeypatch, caplog):
    dsn = f"postgresql://app:{SECRET}@{where}/app"
    monkeypatch.setenv("UNIFY_DATABASE_URL", dsn)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProvisioningError) as raised:
        with provision(connect_timeout=3):
            pass
    error = raised.value
    texts = [str(error), repr(error), *(a.describe() for a in error.attempts), caplog.text]
    assert where.split(":")[0] in str(error) and "***" in str(error)
    for text in texts:
        assert SECRET not in text


def test_provisioning_error_of_a_live_server_hides_the_password(pg_server, caplog):
    from sqlalchemy.engine import make_url

    url = make_url(pg_server.dsn).set(password=SECRET, database="unify_no_such_database_for_secrets")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProvisioningError) as raised:
        with provision(url.render_as_string(hide_password=False), sources=["dsn"], connect_timeout=5):
            pass
    assert "unify_no_such_database_for_secrets" in str(raised.value)
    for text in (str(raised.value), repr(raised.value), caplog.text):
        assert SECRET not in text


def test_cli_subprocess_output_and_exit_hide_the_password(secret_tree, tmp_path):
    """The installed entry point, as a user runs it: stdout, stderr and a traceback-free exit."""
    env = {**os.environ, "UNIFY_DATABASE_URL": f"postgresql://app:{SECRET}@127.0.0.1:1/app", "COLUMNS": "200"}
    for args in (["scan", str(secret_tree), "-v"], ["migrate", str(secret_tree), *MIGRATE],
                 ["migrate", str(secret_tree), *MIGRATE, "--format", "json"]):
        done = subprocess.run([sys.executable, "-m", "pgunify", *args], capture_output=True, text=True, env=env,
                              timeout=300)
        assert done.returncode in (0, 1), done.stderr
        assert SECRET not in done.stdout and SECRET not in done.stderr
        assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def migrated_example(tmp_path_factory):
    from example_tree import copy_example

    tree = copy_example("pepgmp", tmp_path_factory.mktemp("secrets-example"))
    assert runner.invoke(app, ["migrate", str(tree), "--write"]).exit_code == 0
    return tree


@pytest.mark.parametrize("command", [["verify"], ["schema", "check"]], ids=["verify", "schema-check"])
@pytest.mark.parametrize("where", ["127.0.0.1:1/app", "127.0.0.1:5432/unify_no_such_database_for_secrets"],
                         ids=["refused", "no-database"])
def test_dsn_options_never_show_the_password(migrated_example, command, where):
    """`--dsn` of the commands that connect: whatever goes wrong, the password stays hidden."""
    dsn = f"postgresql://postgres:{SECRET}@{where}"
    done = subprocess.run([sys.executable, "-m", "pgunify", *command, str(migrated_example), "--dsn", dsn],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "COLUMNS": "200"})
    assert done.returncode != 0
    assert SECRET not in done.stdout and SECRET not in done.stderr


def _command_lines() -> dict[int, str]:
    """The command line of every process this user can see (ps shows the same to everyone)."""
    lines = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    lines[int(entry)] = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
            except OSError:
                pass  # gone meanwhile, or not ours to read
    return lines


@pytest.fixture
def password_role(pg_server):
    """A login role whose password is SECRET, dropped afterwards (a superuser: the sides reset their
    databases with session_replication_role, which needs one)."""
    import asyncio
    import uuid

    import asyncpg
    from sqlalchemy.engine import make_url

    role = f"unify_secret_{uuid.uuid4().hex[:8]}"
    admin = make_url(pg_server.dsn).set(drivername="postgresql").render_as_string(hide_password=False)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE ROLE {role} LOGIN SUPERUSER PASSWORD '{SECRET}'"))
    yield role
    asyncio.run(run(f"DROP ROLE IF EXISTS {role}"))


def test_verify_puts_the_password_on_no_command_line(migrated_example, database_url, password_role):
    """While `pgunify verify` runs (the parent and both sides' processes), no process's command
    line holds the password: the URL comes in through UNIFY_DATABASE_URL and travels on to the
    sides in their environment."""
    import time

    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(username=password_role, password=SECRET).render_as_string(hide_password=False)
    env = {**os.environ, "UNIFY_DATABASE_URL": url, "COLUMNS": "200"}
    proc = subprocess.Popen([sys.executable, "-m", "pgunify", "verify", str(migrated_example), "-n", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 600
    while proc.poll() is None and time.monotonic() < deadline:
        seen.update((pid, line) for pid, line in _command_lines().items() if line)  # a zombie's line is empty
        time.sleep(0.01)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()[-3000:]
    workers = [line for line in seen.values() if "pgunify.verify.worker" in line]
    assert len(workers) >= 2, "the scan of the process table never saw the sides' processes"
    assert "verify" in seen.get(proc.pid, ""), seen.get(proc.pid)  # the parent itself was seen too
    assert not [line for line in seen.values() if SECRET in line]
    assert SECRET not in out.decode() and SECRET not in err.decode()


def test_every_command_takes_its_url_from_the_environment_and_hides_locals():
    """`--dsn`-style options read UNIFY_DATABASE_URL, and no Typer app prints local variables
    (URLs among them) when it crashes."""
    import typer.main

    from pgunify.cli import app as root_app

    apps = [root_app, *(group.typer_instance for group in root_app.registered_groups)]
    assert len(apps) >= 3
    for each in apps:
        assert each.pretty_exceptions_show_locals is False

    def options(command, path=()):
        for param in command.params:
            yield path + (command.name,), param
        for sub in getattr(command, "commands", {}).values():
            yield from options(sub, path + (command.name,))

    url_options = [(where, p) for where, p in options(typer.main.get_command(root_app))
                   if {"--dsn", "--server"} & set(getattr(p, "opts", ()))]
    assert len(url_options) == 3, url_options  # verify --dsn, schema build --server, schema check --dsn
    for where, param in url_options:
        assert param.envvar == "UNIFY_DATABASE_URL", where


def test_a_crash_ends_with_one_masked_line_and_exit_code_3(secret_tree):
    """An unexpected error in the installed command: no traceback, no local variables, the
    password masked, and the exit code of a tool failure."""
    crash = (
        "import sys, pgunify.facts.inventory as inv, pgunify.cli as cli\n"
        "def boom(*args, **kwargs):\n"
        f"    url = 'postgresql://app:{SECRET}@db/app'\n"
        "    raise RuntimeError('cannot reach ' + url)\n"
        "inv.scan = boom\n"
        "sys.argv = ['pgunify', 'scan', sys.argv[1]]\n"
        "cli.main()\n")
    done = subprocess.run([sys.executable, "-c", crash, str(secret_tree)], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if k != "UNIFY_DEBUG"})
    assert done.returncode == 3, done.stderr
    assert "internal error: RuntimeError: cannot reach postgresql://app:***@db/app" in done.stderr
    assert "Traceback" not in done.stderr and "╭" not in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_diff_is_masked_wherever_a_pattern_could_match_and_left_whole_elsewhere():
    from pgunify.report.diff import redacted

    plain = "@@ -1 +1 @@\n-x = 1\n+x = 2\n"
    assert redacted(plain) == (plain, 0)
    # the patterns ignore case as Unicode does: a long s is an s
    text, masked = redacted("+db = connect(paſſword=\"hunter2\")\n+url = \"postgresql://app:s3cret@db/app\"\n")
    assert masked == 2 and "hunter2" not in text and "s3cret" not in text
