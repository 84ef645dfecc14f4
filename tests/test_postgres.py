"""Provisioning against real servers: every source this machine can offer is
started for real, and the ones it cannot offer must say why."""

from __future__ import annotations

import asyncio
import filecmp
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from pgunify.postgres import (
    DEFAULT_DOCKER_IMAGE,
    SOURCES,
    ProvisioningError,
    Server,
    provision,
    scratch_database,
)

pytestmark = pytest.mark.postgres

SECRET = "Sup3r-Secret-pw"
COPY_PREFIX = "pgunify-pginstall-"  # folders holding copies of programs the server's account can reach


# --------------------------------------------------------------------------- #
# Helpers (deliberately independent of pgunify.postgres)
# --------------------------------------------------------------------------- #


def run(coro):
    return asyncio.run(coro)


async def fetchval(dsn: str, sql: str, *args):
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def execute(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def adatabase_names(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        return {row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")}
    finally:
        await conn.close()


def database_names(dsn: str) -> set[str]:
    return run(adatabase_names(dsn))


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def process_running(pid: int) -> bool:
    stat_file = Path(f"/proc/{pid}/stat")
    try:
        state = stat_file.read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has already exited


def wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while process_running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        return subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No provisioning settings leak in from the environment."""
    for name in ("UNIFY_DATABASE_URL", "UNIFY_PG_SOURCE", "UNIFY_PG_IMAGE", "UNIFY_PG_BINDIR", "PGPASSWORD"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def assert_started_cluster_is_gone(server: Server) -> None:
    assert server.data_dir is not None and server.pid is not None
    assert not Path(server.data_dir).exists(), "data directory left behind"
    assert not Path(server.data_dir).parent.exists(), "temporary directory left behind"
    assert wait_gone(server.pid), f"postmaster {server.pid} still running"
    url = make_url(server.dsn)
    assert not accepts_tcp(url.host, url.port)


# --------------------------------------------------------------------------- #
# Explicit URL
# --------------------------------------------------------------------------- #


def test_explicit_dsn_is_used_first(pg_server: Server, clean_env) -> None:
    with provision(dsn=pg_server.dsn) as server:
        assert server.source == "dsn"
        assert server.version and server.version_num and server.version_num >= 100000
        assert run(fetchval(server.dsn, "SELECT 41 + 1")) == 42
        assert [(a.source, a.ok) for a in server.attempts] == [("dsn", True)]
        assert server.describe_attempts().startswith("dsn: used")


def test_dsn_from_environment_accepts_sqlalchemy_style_url(pg_server: Server, clean_env) -> None:
    sqlalchemy_style = make_url(pg_server.dsn).set(drivername="postgresql+asyncpg")
    clean_env.setenv("UNIFY_DATABASE_URL", sqlalchemy_style.render_as_string(hide_password=False))
    with provision() as server:
        assert server.source == "dsn"
        assert server.dsn.startswith("postgresql://")
        assert run(fetchval(server.dsn, "SELECT current_user")) == make_url(pg_server.dsn).username


def test_unreachable_dsn_is_a_clear_error_without_the_password(clean_env) -> None:
    port = closed_port()
    dsn = f"postgresql://app:{SECRET}@127.0.0.1:{port}/postgres"
    with pytest.raises(ProvisioningError) as caught:
        with provision(dsn=dsn):
            pytest.fail("an unreachable server must not be provisioned")

    error = caught.value
    message = str(error)
    # An explicit URL is authoritative: no silent fallback to another server.
    assert [a.source for a in error.attempts] == ["dsn"]
    assert f"127.0.0.1:{port}" in message
    assert "connection refused" in message
    assert "postgresql://app:***@127.0.0.1" in message
    assert "UNIFY_DATABASE_URL" in message
    assert "pip install pgserver" in message  # the other options are still named
    rendered = "".join(traceback.format_exception(error)) + repr(error)
    rendered += "".join(a.reason for a in error.attempts)
    assert SECRET not in rendered


def test_non_postgres_url_is_rejected_without_echoing_it(clean_env) -> None:
    with pytest.raises(ProvisioningError) as caught:
        with provision(dsn=f"mysql://app:{SECRET}@db.example/app"):
            pass
    assert "not a PostgreSQL URL" in str(caught.value)
    assert SECRET not in str(caught.value)


def test_server_repr_and_describe_hide_the_password() -> None:
    server = Server(dsn=f"postgresql://app:{SECRET}@db.example:5432/postgres", source="dsn")
    for text in (repr(server), str(server), f"{server}", server.describe(), server.safe_dsn):
        assert SECRET not in text
        assert "app:***@db.example" in text
    assert server.dsn.count(SECRET) == 1  # the real URL is still there for connecting


# --------------------------------------------------------------------------- #
# A server on 127.0.0.1
# --------------------------------------------------------------------------- #


def test_local_server_on_default_port(clean_env) -> None:
    if accepts_tcp("127.0.0.1", 5432):
        with provision(sources=["local-server"]) as server:
            assert server.source == "local-server"
            assert make_url(server.dsn).port == 5432
            assert run(fetchval(server.dsn, "SELECT 1")) == 1
    else:
        with pytest.raises(ProvisioningError) as caught:
            with provision(sources=["local-server"]):
                pass
        assert "127.0.0.1:5432" in caught.value.attempts[0].reason


def test_local_server_is_probed_after_missing_dsn(clean_env) -> None:
    # A cluster of our own stands in for "a server already running locally";
    # its per-run password reaches the probe the way a user's would: PGPASSWORD.
    with provision(sources=["binaries"]) as cluster:
        port = make_url(cluster.dsn).port
        clean_env.setenv("PGPASSWORD", make_url(cluster.dsn).password)
        with provision(local_port=port) as server:
            assert server.source == "local-server"
            assert server.version == cluster.version
            assert make_url(server.dsn).port == port
            first, second = server.attempts
            assert (first.source, first.ok) == ("dsn", False)
            assert "no URL given" in first.reason
            assert (second.source, second.ok) == ("local-server", True)
        # The local-server source starts nothing, so it stops nothing.
        assert run(fetchval(cluster.dsn, "SELECT 1")) == 1


# --------------------------------------------------------------------------- #
# Throwaway clusters
# --------------------------------------------------------------------------- #


def test_binaries_cluster_runs_and_is_removed(clean_env, tmp_path: Path) -> None:
    # Something a killed earlier run left behind: its owner process is gone.
    finished = subprocess.Popen(["true"])
    finished.wait()
    stale = Path(tempfile.gettempdir()) / f"pgunify-pg-stale-{os.getpid()}"
    stale.mkdir()
    (stale / "pgunify-cluster.json").write_text(
        json.dumps({"owner_pid": finished.pid, "host": socket.gethostname(), "bindir": None, "run_as": None})
    )

    with provision(sources=["binaries"]) as server:
        assert server.source == "binaries"
        data = Path(server.data_dir)
        assert (data / "PG_VERSION").read_text().strip() == str(server.major_version)
        assert process_running(server.pid)
        if os.geteuid() == 0:  # PostgreSQL refuses root; the cluster runs unprivileged
            assert data.stat().st_uid != 0
            assert Path(f"/proc/{server.pid}").stat().st_uid != 0
        assert run(fetchval(server.dsn, "SELECT current_setting('fsync')")) == "off"
        # Other local users cannot log in over TCP: the password is per run and hidden.
        password = make_url(server.dsn).password
        assert password and password not in repr(server) + server.describe()
        passwordless = f"postgresql://postgres@127.0.0.1:{make_url(server.dsn).port}/postgres"
        with pytest.raises(asyncpg.InvalidPasswordError):
            run(fetchval(passwordless, "SELECT 1"))
        assert not stale.exists(), "stale cluster directory was not swept"

    assert_started_cluster_is_gone(server)


def test_cluster_is_removed_when_the_block_raises(clean_env) -> None:
    clean_env.setenv("UNIFY_PG_SOURCE", "binaries")
    seen: list[Server] = []
    with pytest.raises(RuntimeError, match="boom"):
        with provision() as server:
            seen.append(server)
            assert server.source == "binaries"
            raise RuntimeError("boom")
    assert_started_cluster_is_gone(seen[0])


def test_cluster_of_a_killed_process_is_swept_by_the_next_start(clean_env) -> None:
    # A process that dies by SIGKILL cannot clean up; the next start must.
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import time\n"
            "from pgunify.postgres import provision\n"
            "with provision(sources=['binaries']) as s:\n"
            "    print(s.data_dir, s.pid, flush=True)\n"
            "    time.sleep(300)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        data_dir, pid = child.stdout.readline().split()
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
    orphan = Server(dsn="postgresql://postgres@127.0.0.1:1/postgres", source="binaries", data_dir=data_dir, pid=int(pid))
    assert process_running(orphan.pid), "the orphaned server should outlive its owner"
    assert Path(data_dir).exists()

    with provision(sources=["embedded"]):
        pass  # any throwaway-cluster start sweeps

    assert not Path(data_dir).parent.exists()
    assert wait_gone(orphan.pid)


def test_embedded_server_from_pgserver(clean_env) -> None:
    import importlib.util

    package_dir = Path(importlib.util.find_spec("pgserver").origin).parent
    shipped = package_dir / "pginstall" / "bin" / "postgres"
    with provision(sources=["embedded"]) as server:
        assert server.source == "embedded"
        assert server.major_version >= 16
        executable = os.path.realpath(f"/proc/{server.pid}/exe")
        # The wheel's own program, run in place or (for root, when the server's account
        # cannot enter the folder the package sits in) from a copy of the wheel's tree.
        assert filecmp.cmp(executable, shipped, shallow=False), executable
        if not executable.startswith(str(package_dir)):
            assert os.geteuid() == 0, executable
            assert f"/{COPY_PREFIX}" in executable, executable
        with scratch_database(server) as url:
            assert run(fetchval(url, "SELECT current_database()")) == make_url(url).database
    assert_started_cluster_is_gone(server)
    if not executable.startswith(str(package_dir)):
        assert not Path(executable).exists(), "the copy of the programs was left behind"


# --------------------------------------------------------------------------- #
# Programs in a folder the server's account cannot enter
# --------------------------------------------------------------------------- #


def private_install(tmp_path: Path) -> Path:
    """pgserver's install tree laid out in a 0700 folder, the way a project's .venv
    in a private home or temporary directory holds it; returns its bin folder."""
    import importlib.util

    package_dir = Path(importlib.util.find_spec("pgserver").origin).parent
    private = tmp_path / "private"
    site = private / "venv" / "site-packages"
    for part in ("bin", "lib", "share"):
        shutil.copytree(package_dir / "pginstall" / part, site / "pgserver" / "pginstall" / part)
    libs = package_dir.parent / "pgserver.libs"  # initdb finds libpq there, relative to itself
    if libs.is_dir():
        shutil.copytree(libs, site / "pgserver.libs")
    private.chmod(0o700)
    return site / "pgserver" / "pginstall" / "bin"


def modes_under(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path): (path.lstat().st_mode, path.lstat().st_uid)
        for path in [folder, *folder.rglob("*")]
    }


def copies_of_programs() -> set[Path]:
    roots = {Path(tempfile.gettempdir()), Path("/tmp")}
    return {path for root in roots for path in root.glob(f"{COPY_PREFIX}*")}


def test_programs_in_a_private_folder_run_for_root_from_a_copy(clean_env, tmp_path: Path) -> None:
    bindir = private_install(tmp_path)
    private = tmp_path / "private"
    before = modes_under(private)
    copies_before = copies_of_programs()

    with provision(sources=["binaries"], bindir=bindir) as first:
        executable = Path(os.path.realpath(f"/proc/{first.pid}/exe"))
        assert filecmp.cmp(executable, bindir / "postgres", shallow=False)
        assert run(fetchval(first.dsn, "SELECT 1")) == 1
        if os.geteuid() != 0:
            # Nobody else runs the server: the programs run where they are.
            assert executable == bindir / "postgres"
        else:
            assert Path(f"/proc/{first.pid}").stat().st_uid != 0
            assert private not in executable.parents, executable
            (copy,) = copies_of_programs() - copies_before
            assert copy in executable.parents
            # The server's account may read and run the copy, but not change it.
            for folder in [copy, *(p for p in copy.rglob("*") if p.is_dir() and not p.is_symlink())]:
                info = folder.stat()
                assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o755), folder
            assert not any(p.stat().st_mode & 0o022 for p in copy.rglob("*") if p.is_file())

            # A second cluster at the same time shares the copy; the copy outlives the
            # first one's stop while the second still runs from it.
            with provision(sources=["binaries"], bindir=bindir) as second:
                assert Path(os.path.realpath(f"/proc/{second.pid}/exe")) == executable
                assert copies_of_programs() - copies_before == {copy}
            assert_started_cluster_is_gone(second)
            assert executable.exists()
            assert run(fetchval(first.dsn, "SELECT 2")) == 2

    assert_started_cluster_is_gone(first)
    assert copies_of_programs() - copies_before == set(), "the copy of the programs was left behind"
    # The user's own files kept their permissions: the private folder is still private.
    assert modes_under(private) == before
    assert stat.S_IMODE(private.stat().st_mode) == 0o700


def test_a_copy_of_programs_nobody_holds_is_removed_by_the_next_start(clean_env) -> None:
    import fcntl

    root = Path(tempfile.gettempdir())
    orphan = root / f"{COPY_PREFIX}orphan{os.getpid()}"
    held = root / f"{COPY_PREFIX}held{os.getpid()}"
    for folder in (orphan, held):
        (folder / "bin").mkdir(parents=True)
        (folder / "bin" / "postgres").write_text("left behind")
        folder.chmod(0o755)
    # A running process holds this one (a shared lock on the folder), so it stays.
    holder = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(holder, fcntl.LOCK_SH)
        with provision(sources=["binaries"]):
            pass
        assert not orphan.exists(), "a copy of the programs nobody holds was not removed"
        assert (held / "bin" / "postgres").read_text() == "left behind"
    finally:
        os.close(holder)
        shutil.rmtree(held, ignore_errors=True)
        shutil.rmtree(orphan, ignore_errors=True)


# --------------------------------------------------------------------------- #
# Docker
# --------------------------------------------------------------------------- #


def test_docker_container_or_clear_reason(clean_env) -> None:
    clean_env.setenv("UNIFY_PG_IMAGE", "postgres:15-alpine")  # users pick their production version
    if docker_engine_answers():
        with provision(sources=["docker"]) as server:
            assert server.source == "docker"
            assert server.major_version == 15
            assert run(fetchval(server.dsn, "SELECT 1")) == 1
    else:
        with pytest.raises(ProvisioningError) as caught:
            with provision(sources=["docker"]):
                pass
        (attempt,) = caught.value.attempts
        assert attempt.source == "docker" and not attempt.ok
        assert "no Docker engine answers" in attempt.reason
        message = str(caught.value)
        assert "pip install 'pgunify[docker]'" in message
        assert "postgres:15-alpine" in message


# --------------------------------------------------------------------------- #
# Nothing works
# --------------------------------------------------------------------------- #


def test_error_names_every_option_when_nothing_works(clean_env, tmp_path: Path) -> None:
    port = closed_port()
    with pytest.raises(ProvisioningError) as caught:
        with provision(sources=["dsn", "local-server", "binaries"], local_port=port, bindir=tmp_path):
            pass
    error = caught.value
    assert [(a.source, a.ok) for a in error.attempts] == [
        ("dsn", False),
        ("local-server", False),
        ("binaries", False),
    ]
    reasons = {a.source: a.reason for a in error.attempts}
    assert "no URL given" in reasons["dsn"]
    assert f"127.0.0.1:{port}" in reasons["local-server"]
    assert str(tmp_path) in reasons["binaries"]

    message = str(error)
    for name in SOURCES:
        assert f"- {name} (" in message
    assert "Not tried" in message and "docker, embedded" in message
    for hint in (
        "UNIFY_DATABASE_URL",
        f"127.0.0.1:{port}",
        "pip install 'pgunify[docker]'",
        "apt install postgresql",
        "pip install pgserver",
        DEFAULT_DOCKER_IMAGE,
    ):
        assert hint in message, hint


def test_where_pgserver_has_no_wheel_the_message_says_what_to_install_instead() -> None:
    from packaging.markers import Marker
    from packaging.requirements import Requirement

    from pgunify.postgres import pgserver_wheel_problem

    cases = [
        # (system, machine, python, libc, wheel?, the environment markers pip evaluates)
        ("Linux", "x86_64", (3, 11), "glibc", True, ("linux", "x86_64")),
        ("Darwin", "arm64", (3, 12), "", True, ("darwin", "arm64")),
        ("Windows", "AMD64", (3, 10), "", True, ("win32", "AMD64")),
        ("Linux", "aarch64", (3, 11), "glibc", False, ("linux", "aarch64")),
        ("Linux", "x86_64", (3, 13), "glibc", False, ("linux", "x86_64")),
        ("Windows", "ARM64", (3, 11), "", False, ("win32", "ARM64")),
    ]
    project = Path(__file__).resolve().parents[1] / "pyproject.toml"
    import tomllib

    dependencies = tomllib.loads(project.read_text())["project"]["dependencies"]
    (pgserver,) = [Requirement(text) for text in dependencies if text.startswith("pgserver")]
    for system, machine, python, libc, has_wheel, (sys_platform, platform_machine) in cases:
        problem = pgserver_wheel_problem(system=system, machine=machine, python=python, libc=libc)
        assert (problem is None) == has_wheel, (system, machine, python, problem)
        if problem:
            assert "no wheel" in problem and "pgserver" in problem
        environment = {
            "sys_platform": sys_platform,
            "platform_machine": platform_machine,
            "python_version": f"{python[0]}.{python[1]}",
        }
        # pgunify depends on pgserver exactly where a wheel exists, so installing it never fails
        assert Marker(str(pgserver.marker)).evaluate(environment) == has_wheel, environment

    # musl (Alpine) has the same markers as glibc Linux but no wheel: the message says so
    musl = pgserver_wheel_problem(system="Linux", machine="x86_64", python=(3, 11), libc="")
    assert musl and "musl" in musl


def test_unknown_source_is_rejected(clean_env) -> None:
    with pytest.raises(ValueError, match="choose from"):
        with provision(sources=["carrier-pigeon"]):
            pass
    clean_env.setenv("UNIFY_PG_SOURCE", "nope")
    with pytest.raises(ValueError, match="nope"):
        with provision():
            pass


# --------------------------------------------------------------------------- #
# Scratch databases
# --------------------------------------------------------------------------- #


def test_scratch_database_is_created_and_dropped(pg_server: Server) -> None:
    before = database_names(pg_server.dsn)
    with scratch_database(pg_server, prefix="unify_probe") as url:
        name = make_url(url).database
        assert name.startswith("unify_probe_") and name not in before
        assert name in database_names(pg_server.dsn)
        assert run(fetchval(url, "SELECT current_database()")) == name
        admin, scratch = make_url(pg_server.dsn), make_url(url)
        assert (scratch.username, scratch.password, scratch.host, scratch.port, dict(scratch.query)) == (
            admin.username,
            admin.password,
            admin.host,
            admin.port,
            dict(admin.query),
        )
    assert name not in database_names(pg_server.dsn)


def test_scratch_database_is_dropped_when_the_block_raises(pg_server: Server) -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(RuntimeError, match="boom"):
            with scratch_database(pg_server) as url:
                name = make_url(url).database
                # A connection left open must not keep the database alive.
                conn = loop.run_until_complete(asyncpg.connect(url, timeout=10))
                raise RuntimeError("boom")
        assert name not in database_names(pg_server.dsn)
        conn.terminate()
    finally:
        loop.close()


def test_scratch_database_from_template(pg_server: Server) -> None:
    with scratch_database(pg_server, prefix="unify_tpl") as template_url:
        run(execute(template_url, "CREATE TABLE seeded (id int); INSERT INTO seeded VALUES (7)"))
        template = make_url(template_url).database
        with scratch_database(pg_server, template=template) as url:
            assert run(fetchval(url, "SELECT id FROM seeded")) == 7


async def test_scratch_database_inside_a_running_event_loop(pg_server: Server) -> None:
    with scratch_database(pg_server) as url:
        conn = await asyncpg.connect(url, timeout=10)
        try:
            assert await conn.fetchval("SELECT current_database()") == make_url(url).database
        finally:
            await conn.close()
    assert make_url(url).database not in await adatabase_names(pg_server.dsn)


def test_scratch_database_prefix_is_validated(pg_server: Server) -> None:
    with pytest.raises(ValueError, match="prefix"):
        with scratch_database(pg_server, prefix='bad"; DROP'):
            pass


def test_fixtures_hand_out_fresh_databases(
    database_url: str, session_database_url: str, pg_server: Server
) -> None:
    name = run(fetchval(database_url, "SELECT current_database()"))
    assert name.startswith("unify_test_")
    assert run(fetchval(database_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")) == 0
    assert make_url(session_database_url).database.startswith("unify_session_")
    assert {name, make_url(session_database_url).database} <= database_names(pg_server.dsn)
