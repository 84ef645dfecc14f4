"""PostgreSQL provisioning: find or start a server, hand out throwaway databases.

Interface (stable; other modules and the test suites rely on it):

    with provision(dsn=None) as server:          # Server(dsn=..., source=...)
        with scratch_database(server) as url:    # fresh database, dropped afterwards
            ...

`server.dsn` is a libpq-style URL (postgresql://user[:password]@host:port/postgres)
for an administrative database; `url` points at the fresh database.  Print
`server.describe()` or `server.safe_dsn` instead of either: they hide the password.

`provision()` tries these sources, in this order, and uses the first that works:

    dsn           an explicit URL (`--dsn` / UNIFY_DATABASE_URL)
    local-server  a server answering on 127.0.0.1:5432
    docker        a container started with testcontainers (needs a running
                  Docker engine and `pgunify[docker]`; image from UNIFY_PG_IMAGE)
    binaries      a throwaway cluster built with the local initdb/pg_ctl
    embedded      a throwaway cluster built with the binaries shipped in the
                  `pgserver` wheel (a dependency of pgunify where pgserver has wheels)

Whatever a source started is stopped and deleted when the `with` block ends,
also when it ends with an exception.  When nothing works, `ProvisioningError`
explains, for every source, why it was not usable and how to get it.
Passwords never appear in `repr(server)`, log records or error messages.
See docs/postgres.md.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import errno
import glob
import importlib.util
import json
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterable, Iterator, Sequence, TypeVar

import asyncpg
from sqlalchemy.engine import URL, make_url

__all__ = [
    "Attempt",
    "DEFAULT_DOCKER_IMAGE",
    "ProvisioningError",
    "SOURCES",
    "Server",
    "describe_attempts",
    "docker_engine_problem",
    "find_bindir",
    "pgserver_bindir",
    "pgserver_wheel_problem",
    "provision",
    "scratch_database",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Every source, in the order `provision()` tries them.
SOURCES: tuple[str, ...] = ("dsn", "local-server", "docker", "binaries", "embedded")

DEFAULT_DOCKER_IMAGE = "postgres:16-alpine"

ENV_DSN = "UNIFY_DATABASE_URL"
ENV_SOURCE = "UNIFY_PG_SOURCE"
ENV_IMAGE = "UNIFY_PG_IMAGE"
ENV_BINDIR = "UNIFY_PG_BINDIR"

_ALIASES = {
    "url": "dsn",
    "local": "local-server",
    "local_server": "local-server",
    "localserver": "local-server",
    "testcontainers": "docker",
    "container": "docker",
    "cluster": "binaries",
    "pgserver": "embedded",
}

_LABELS = {
    "dsn": "explicit URL",
    "local-server": "local server",
    "docker": "Docker container",
    "binaries": "local binaries",
    "embedded": "embedded server",
}

# Where PostgreSQL server binaries usually live when they are not on PATH.
_BINDIR_GLOBS = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG packages)
    "/usr/local/pgsql/bin",  # built from source
    "/usr/local/lib/postgresql*/bin",
    "/opt/homebrew/opt/postgresql*/bin",  # Homebrew on Apple silicon
    "/usr/local/opt/postgresql*/bin",  # Homebrew on Intel
    "/opt/local/lib/postgresql*/bin",  # MacPorts
    "/Applications/Postgres.app/Contents/Versions/*/bin",
)

_SERVER_PROGRAMS = ("initdb", "pg_ctl", "postgres")

# Unix socket paths are limited to ~107 bytes; leave room for "/.s.PGSQL.65535".
_MAX_SOCKET_DIR = 90

_MARKER = "pgunify-cluster.json"
_TEMP_PREFIX = "pgunify-pg-"


# --------------------------------------------------------------------------- #
# Public types
# --------------------------------------------------------------------------- #


class ProvisioningError(RuntimeError):
    """No usable PostgreSQL server.  The message says what was tried and why
    each option was not usable, and how to get each one; `attempts` holds the
    same information as data."""

    def __init__(self, message: str, attempts: Sequence["Attempt"] = ()) -> None:
        super().__init__(message)
        self.attempts: tuple[Attempt, ...] = tuple(attempts)


@dataclass(frozen=True)
class Attempt:
    """One source `provision()` looked at: used (`ok`) or why not."""

    source: str
    ok: bool
    reason: str
    seconds: float = 0.0

    def describe(self) -> str:
        verdict = "used" if self.ok else "not used"
        return f"{self.source}: {verdict} ({self.seconds:.2f}s) - {self.reason}"


@dataclass(frozen=True, repr=False)
class Server:
    """A PostgreSQL server that pgunify may create databases on.

    `dsn` may contain a password: print `describe()` or `safe_dsn`, not `dsn`.
    """

    dsn: str
    source: str  # "dsn" | "local-server" | "docker" | "binaries" | "embedded"
    version: str | None = field(default=None, compare=False)
    version_num: int | None = field(default=None, compare=False)
    data_dir: str | None = field(default=None, compare=False)
    pid: int | None = field(default=None, compare=False)
    attempts: tuple[Attempt, ...] = field(default=(), compare=False)
    # set on clusters pgunify started itself, so that restart() can stop and start them
    bindir: str | None = field(default=None, compare=False)
    run_as: str | None = field(default=None, compare=False)

    @property
    def safe_dsn(self) -> str:
        return _safe_url(self.dsn)

    @property
    def major_version(self) -> int | None:
        if self.version_num is None:
            return None
        return self.version_num // 10000

    def describe(self) -> str:
        text = f"{self.source}: {self.safe_dsn}"
        if self.version:
            text += f" (PostgreSQL {self.version})"
        return text

    def describe_attempts(self) -> str:
        return describe_attempts(self.attempts)

    def __repr__(self) -> str:
        return (
            f"Server(dsn={self.safe_dsn!r}, source={self.source!r}, "
            f"version={self.version!r})"
        )


def restart(server: Server, mode: str = "fast") -> None:
    """Stop and start a cluster pgunify started, on the same port with the same data.

    For fault tests: every open connection is cut (`fast` rolls back open transactions,
    `immediate` is a crash); only servers with `bindir` (the binaries source) can do it."""
    if not server.bindir or not server.data_dir:
        raise ProvisioningError(f"{server.describe()} was not started by pgunify and cannot be restarted by it")
    data = Path(server.data_dir)
    result = _run(
        [Path(server.bindir) / "pg_ctl", "-D", data, "-l", data.parent / "server.log", "-m", mode, "-w", "-t", "60",
         "restart"],
        _unprivileged_identity(server.run_as),
        cwd=data.parent,
        timeout=90,
    )
    if result.returncode != 0:
        raise ProvisioningError(f"pg_ctl restart of {server.describe()} failed: {_tail(result.stderr or result.stdout)}")


def describe_attempts(attempts: Iterable[Attempt]) -> str:
    """One line per source looked at, e.g. for `pgunify doctor`-style output."""
    return "\n".join(attempt.describe() for attempt in attempts)


# --------------------------------------------------------------------------- #
# provision()
# --------------------------------------------------------------------------- #


class _Unavailable(Exception):
    """This source cannot be used here; try the next one."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Fatal(Exception):
    """Stop looking: the user pointed at something specific that does not work."""

    def __init__(self, reason: str, headline: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.headline = headline


@dataclass(frozen=True)
class _Settings:
    dsn: str | None
    docker_image: str
    local_port: int
    local_user: str
    bindir: str | None
    run_as: str | None
    connect_timeout: float
    startup_timeout: float


@contextlib.contextmanager
def provision(
    dsn: str | None = None,
    *,
    sources: Sequence[str] | str | None = None,
    docker_image: str | None = None,
    local_port: int = 5432,
    local_user: str = "postgres",
    bindir: str | os.PathLike[str] | None = None,
    run_as: str | None = None,
    connect_timeout: float = 5.0,
    startup_timeout: float = 60.0,
) -> Iterator[Server]:
    """Find or start a PostgreSQL server for the duration of the `with` block.

    dsn:           explicit server URL; defaults to $UNIFY_DATABASE_URL.  A URL
                   that is given but does not work is an error: pgunify does not
                   silently use another server instead.
    sources:       names from SOURCES to try, in order (default: all of them,
                   or the comma-separated list in $UNIFY_PG_SOURCE).
    docker_image:  image for the docker source (default $UNIFY_PG_IMAGE or
                   DEFAULT_DOCKER_IMAGE), so the major version can match
                   production.
    local_port:    port probed on 127.0.0.1 by the local-server source.
    local_user:    role used to log in to the local server.
    bindir:        directory holding initdb/pg_ctl/postgres for the binaries
                   source (default $UNIFY_PG_BINDIR, else searched).
    run_as:        unprivileged account that runs started clusters when this
                   process is root (default: postgres, else nobody).
    """
    settings = _Settings(
        dsn=dsn or os.environ.get(ENV_DSN) or None,
        docker_image=docker_image or os.environ.get(ENV_IMAGE) or DEFAULT_DOCKER_IMAGE,
        local_port=int(local_port),
        local_user=local_user,
        bindir=str(bindir) if bindir else (os.environ.get(ENV_BINDIR) or None),
        run_as=run_as,
        connect_timeout=connect_timeout,
        startup_timeout=startup_timeout,
    )
    order = _resolve_sources(sources)
    attempts: list[Attempt] = []

    with contextlib.ExitStack() as stack:
        server: Server | None = None
        for name in order:
            started = time.monotonic()
            log.info("looking for PostgreSQL: %s", name)
            try:
                server = stack.enter_context(_STARTERS[name](settings))
            except _Unavailable as exc:
                attempts.append(Attempt(name, False, exc.reason, time.monotonic() - started))
                log.debug("PostgreSQL source %s not usable: %s", name, exc.reason)
                continue
            except _Fatal as exc:
                attempts.append(Attempt(name, False, exc.reason, time.monotonic() - started))
                raise ProvisioningError(
                    _failure_message(attempts, order, settings, headline=exc.headline), attempts
                ) from None
            except Exception as exc:  # a source that should work failed to start
                reason = f"failed to start: {_explain(exc)}"
                attempts.append(Attempt(name, False, reason, time.monotonic() - started))
                log.debug("PostgreSQL source %s failed", name, exc_info=True)
                continue
            attempts.append(Attempt(name, True, _summary(server), time.monotonic() - started))
            break

        if server is None:
            raise ProvisioningError(_failure_message(attempts, order, settings), attempts)

        server = dataclasses.replace(server, attempts=tuple(attempts))
        log.info("Using PostgreSQL from %s", server.describe())
        yield server


def _summary(server: Server) -> str:
    text = server.safe_dsn
    if server.version:
        text += f" (PostgreSQL {server.version})"
    if server.data_dir:
        text += f", data in {server.data_dir}"
    return text


def _resolve_sources(sources: Sequence[str] | str | None) -> tuple[str, ...]:
    if sources is None:
        from_env = os.environ.get(ENV_SOURCE, "").strip()
        if not from_env or from_env.lower() == "auto":
            return SOURCES
        sources = from_env
    if isinstance(sources, str):
        sources = sources.split(",")
    resolved: list[str] = []
    for raw in sources:
        name = raw.strip().lower()
        if not name:
            continue
        name = _ALIASES.get(name, name)
        if name not in SOURCES:
            raise ValueError(
                f"unknown PostgreSQL source {raw.strip()!r}; choose from {', '.join(SOURCES)}"
            )
        if name not in resolved:
            resolved.append(name)
    if not resolved:
        raise ValueError(f"no PostgreSQL source named; choose from {', '.join(SOURCES)}")
    return tuple(resolved)


def _how_to(name: str, settings: _Settings) -> str:
    if name == "dsn":
        return (
            f"pass --dsn or set {ENV_DSN}=postgresql://USER:PASSWORD@HOST:PORT/postgres "
            "(the role needs CREATEDB)"
        )
    if name == "local-server":
        return (
            f"start a PostgreSQL server on 127.0.0.1:{settings.local_port} that lets role "
            f"'{settings.local_user}' in without a password prompt (trust, or PGPASSWORD / "
            "~/.pgpass), e.g. `sudo apt install postgresql && sudo systemctl start postgresql` "
            "or `brew services start postgresql@16`"
        )
    if name == "docker":
        return (
            "install and start a Docker engine (Docker Engine, Docker Desktop, Colima, ...), "
            f"then `pip install 'pgunify[docker]'`; pick the image with {ENV_IMAGE} "
            f"(now {settings.docker_image})"
        )
    if name == "binaries":
        return (
            "install the PostgreSQL server binaries (`apt install postgresql`, "
            "`dnf install postgresql-server`, `brew install postgresql@16`) so initdb and "
            f"pg_ctl are on PATH or found through `pg_config --bindir`, or set {ENV_BINDIR}"
        )
    if name == "embedded":
        problem = pgserver_wheel_problem()
        if problem:
            return (
                f"{problem}: there is no embedded server on this machine, so one of the other "
                "options is needed"
            )
        return (
            "`pip install pgserver` (pgunify depends on it where it ships a wheel; it carries "
            "PostgreSQL 16's binaries, so no system install and no Docker are needed)"
        )
    raise AssertionError(name)


def _failure_message(
    attempts: Sequence[Attempt],
    order: Sequence[str],
    settings: _Settings,
    *,
    headline: str | None = None,
) -> str:
    lines = [headline or "No PostgreSQL server is available for pgunify."]
    lines.append("")
    lines.append("Tried, in order:")
    for attempt in attempts:
        lines.append(f"  - {attempt.source} ({_LABELS[attempt.source]}): {attempt.reason}")
    skipped = [name for name in SOURCES if name not in order]
    if skipped:
        lines.append(
            f"Not tried ({ENV_SOURCE} / sources= limits the search to {', '.join(order)}): "
            + ", ".join(skipped)
        )
    untried = [name for name in order if name not in {a.source for a in attempts}]
    if untried:
        lines.append("Not reached: " + ", ".join(untried))
    lines.append("")
    lines.append("Any one of these is enough:")
    for name in SOURCES:
        lines.append(f"  - {name} ({_LABELS[name]}): {_how_to(name, settings)}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- #
# Source: explicit URL
# --------------------------------------------------------------------------- #


@contextlib.contextmanager
def _from_dsn(settings: _Settings) -> Iterator[Server]:
    if not settings.dsn:
        raise _Unavailable(f"no URL given (--dsn / {ENV_DSN} not set)")
    try:
        url = _normalize_url(settings.dsn)
    except ValueError as exc:
        raise _Fatal(str(exc), f"The database URL given through --dsn / {ENV_DSN} is not usable.") from None
    dsn = url.render_as_string(hide_password=False)
    try:
        info = _run_async(lambda: _probe(dsn, settings.connect_timeout))
    except Exception as exc:
        reason = _explain(exc, url)
        raise _Fatal(
            reason,
            f"The PostgreSQL server given through --dsn / {ENV_DSN} ({_safe_url(dsn)}) "
            f"cannot be used: {reason}. Fix the URL, or unset it to let pgunify find or "
            "start a server.",
        ) from None
    if not info.can_create_db:
        log.warning(
            "The role in %s may not create databases; scratch_database() will fail on it",
            _safe_url(dsn),
        )
    yield Server(dsn=dsn, source="dsn", version=info.version, version_num=info.version_num)


def _normalize_url(dsn: str) -> URL:
    """Accept postgresql://, postgres:// and SQLAlchemy-style postgresql+driver://."""
    try:
        url = make_url(dsn)
    except Exception:
        # Do not echo the text: it may well contain a password.
        raise ValueError("not a valid URL (expected postgresql://USER:PASSWORD@HOST:PORT/DB)") from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"not a PostgreSQL URL (scheme {url.drivername!r})")
    return url.set(drivername="postgresql")


# --------------------------------------------------------------------------- #
# Source: a server already running on 127.0.0.1
# --------------------------------------------------------------------------- #


@contextlib.contextmanager
def _from_local_server(settings: _Settings) -> Iterator[Server]:
    url = URL.create(
        "postgresql",
        username=settings.local_user,
        host="127.0.0.1",
        port=settings.local_port,
        database="postgres",
    )
    dsn = url.render_as_string(hide_password=False)
    try:
        info = _run_async(lambda: _probe(dsn, settings.connect_timeout))
    except Exception as exc:
        raise _Unavailable(_explain(exc, url)) from None
    if not info.can_create_db:
        raise _Unavailable(
            f"127.0.0.1:{settings.local_port} answers, but role '{settings.local_user}' "
            "may not create databases (needs CREATEDB or superuser)"
        )
    yield Server(dsn=dsn, source="local-server", version=info.version, version_num=info.version_num)


# --------------------------------------------------------------------------- #
# Source: Docker via testcontainers
# --------------------------------------------------------------------------- #


def docker_engine_problem() -> str | None:
    """None when a Docker engine answers, else why not (the CLI alone is not enough)."""
    try:
        import docker  # type: ignore[import-not-found]
    except ImportError:
        docker = None
    if docker is not None:
        try:
            client = docker.from_env(timeout=5)
            try:
                client.ping()
            finally:
                client.close()
            return None
        except Exception as exc:
            return f"no Docker engine answers (docker API: {_first_line(exc)})"
    cli = shutil.which("docker")
    if cli is None:
        return "no Docker engine answers (neither the docker Python package nor the docker CLI is installed)"
    try:
        proc = subprocess.run(
            [cli, "info", "--format", "{{.ServerVersion}}"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no Docker engine answers (`docker info`: {_first_line(exc)})"
    if proc.returncode != 0:
        detail = _first_line(proc.stderr or proc.stdout) or f"exit status {proc.returncode}"
        return f"no Docker engine answers (`docker info`: {detail})"
    return None


@contextlib.contextmanager
def _from_docker(settings: _Settings) -> Iterator[Server]:
    problems = []
    engine_problem = docker_engine_problem()
    if engine_problem:
        problems.append(engine_problem)
    container_cls = None
    try:
        from testcontainers.community.postgres import PostgresContainer as container_cls  # type: ignore
    except ImportError:
        try:
            from testcontainers.postgres import PostgresContainer as container_cls  # type: ignore
        except ImportError:
            problems.append("testcontainers is not installed (`pip install 'pgunify[docker]'`)")
    if problems:
        raise _Unavailable("; ".join(problems))

    password = secrets.token_urlsafe(18)
    container = container_cls(
        settings.docker_image,
        username="postgres",
        password=password,
        dbname="postgres",
        driver=None,
    )
    try:
        container.start()
        host = container.get_container_host_ip()
        port = int(container.get_exposed_port(5432))
        url = URL.create(
            "postgresql",
            username="postgres",
            password=password,
            host=host,
            port=port,
            database="postgres",
        )
        dsn = url.render_as_string(hide_password=False)
        info = _wait_until_ready(dsn, settings.startup_timeout, settings.connect_timeout)
        yield Server(
            dsn=dsn,
            source="docker",
            version=info.version,
            version_num=info.version_num,
        )
    finally:
        try:
            container.stop()
        except Exception:
            log.warning("Could not remove the PostgreSQL container", exc_info=True)


# --------------------------------------------------------------------------- #
# Sources: throwaway clusters (local binaries, pgserver's binaries)
# --------------------------------------------------------------------------- #


def find_bindir(explicit: str | os.PathLike[str] | None = None) -> tuple[Path | None, list[str]]:
    """Locate a directory with initdb, pg_ctl and postgres.

    Returns (directory or None, places looked at).  An explicit directory is the
    only place looked at.
    """
    looked: list[str] = []
    if explicit:
        path = Path(explicit)
        looked.append(str(path))
        return (path if _has_server_programs(path) else None), looked

    candidates: list[Path] = []
    for program in ("pg_ctl", "initdb"):
        found = shutil.which(program)
        if found:
            candidates.append(Path(os.path.realpath(found)).parent)
    looked.append("PATH")

    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=10,
            )
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.TimeoutExpired):
            pass
        looked.append("pg_config --bindir")

    for pattern in _BINDIR_GLOBS:
        matches = sorted(glob.glob(pattern), key=_version_key, reverse=True)
        candidates.extend(Path(match) for match in matches)
        looked.append(pattern)

    for candidate in candidates:
        if _has_server_programs(candidate):
            return candidate, looked
    return None, looked


def _has_server_programs(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) and (path / name).is_file() for name in _SERVER_PROGRAMS)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


@contextlib.contextmanager
def _from_binaries(settings: _Settings) -> Iterator[Server]:
    bindir, looked = find_bindir(settings.bindir)
    if bindir is None:
        if settings.bindir:
            raise _Unavailable(f"{settings.bindir} does not hold initdb, pg_ctl and postgres")
        raise _Unavailable(
            "no initdb/pg_ctl/postgres found (looked on PATH, through pg_config --bindir and in "
            + ", ".join(_BINDIR_GLOBS)
            + ")"
        )
    with _throwaway_cluster(bindir, "binaries", settings) as server:
        yield server


def pgserver_bindir() -> Path | None:
    """The bin directory of the installed pgserver wheel, without importing it
    (importing pgserver has side effects such as lock files)."""
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


# pgserver ships wheels (there is no source package) for these; pgunify depends on it
# there, with the same conditions as environment markers in pyproject.toml.
PGSERVER_PYTHONS = ((3, 9), (3, 12))
PGSERVER_PLATFORMS = ("Linux x86_64 (glibc)", "macOS (Intel, Apple silicon)", "Windows x86_64")


def pgserver_wheel_problem(
    *,
    system: str | None = None,
    machine: str | None = None,
    python: tuple[int, int] | None = None,
    libc: str | None = None,
) -> str | None:
    """None when pgserver ships a wheel for this Python and platform, else which
    part has none (the arguments stand in for this machine's values)."""
    import platform

    system = (system or platform.system()).lower()
    machine = (machine or platform.machine()).lower()
    python = python or sys.version_info[:2]
    low, high = PGSERVER_PYTHONS
    if not low <= python <= high:
        return (
            f"pgserver ships no wheel for Python {python[0]}.{python[1]} "
            f"(only {low[0]}.{low[1]} to {high[0]}.{high[1]})"
        )
    if system == "darwin":
        return None
    if system == "windows" and machine in ("amd64", "x86_64"):
        return None
    if system == "linux" and machine in ("x86_64", "amd64"):
        libc = libc if libc is not None else platform.libc_ver()[0]
        if libc == "glibc":
            return None
        return f"pgserver ships no wheel for Linux with {libc or 'a C library other than glibc'} (musl, Alpine)"
    return f"pgserver ships no wheel for {system} {machine} (only {', '.join(PGSERVER_PLATFORMS)})"


@contextlib.contextmanager
def _from_embedded(settings: _Settings) -> Iterator[Server]:
    bindir = pgserver_bindir()
    if bindir is None:
        problem = pgserver_wheel_problem()
        raise _Unavailable(f"the pgserver package is not installed{f'; {problem}' if problem else ''}")
    if not _has_server_programs(bindir):
        raise _Unavailable(f"pgserver is installed but {bindir} lacks initdb, pg_ctl or postgres")
    with _throwaway_cluster(bindir, "embedded", settings) as server:
        yield server


@dataclass(frozen=True)
class _Identity:
    """The unprivileged account a cluster runs as when this process is root."""

    name: str
    uid: int
    gid: int


def _unprivileged_identity(run_as: str | None) -> _Identity | None:
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    names = [run_as] if run_as else ["postgres", "nobody"]
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid == 0:
            continue
        return _Identity(name=name, uid=entry.pw_uid, gid=entry.pw_gid)
    raise _Unavailable(
        "running as root, where PostgreSQL refuses to start, and no unprivileged account "
        f"to run it as exists (tried {', '.join(names)}); create one (`useradd --system postgres`) "
        "or pass run_as="
    )


def _run(
    cmd: Sequence[str | os.PathLike[str]],
    identity: _Identity | None,
    *,
    cwd: Path | None = None,
    timeout: float = 60.0,
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program, as `identity` when given.

    Output goes through temporary files rather than pipes: `pg_ctl start`
    leaves a server running, which must not hold our pipes open.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    kwargs: dict[str, Any] = {}
    if identity is not None:
        env["HOME"] = str(cwd) if cwd else "/"
        env["USER"] = env["LOGNAME"] = identity.name
        kwargs.update(user=identity.uid, group=identity.gid, extra_groups=[])
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run(
            [str(part) for part in cmd],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=str(cwd) if cwd else None,
            timeout=timeout,
            check=False,
            **kwargs,
        )
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out.read(), err.read())


def _world_traversable(path: Path) -> bool:
    for part in [path, *path.parents]:
        try:
            if not part.stat().st_mode & stat.S_IXOTH:
                return False
        except OSError:
            return False
    return True


def _temp_root(identity: _Identity | None) -> Path:
    """Where clusters (and copies of binaries) go: the temporary directory, or /tmp
    when the server's account cannot reach that one or its path is too long for a socket."""
    root = Path(tempfile.gettempdir())
    if identity is not None and not _world_traversable(root):
        root = Path("/tmp")
    if len(str(root)) + 20 > _MAX_SOCKET_DIR and Path("/tmp").is_dir():
        root = Path("/tmp")
    return root


def _make_base_dir(identity: _Identity | None) -> Path:
    base = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=_temp_root(identity)))
    if identity is not None:
        os.chown(base, identity.uid, identity.gid)
    return base


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _conf_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _write_owned(path: Path, text: str, identity: _Identity | None) -> None:
    path.write_text(text)
    if identity is not None:
        os.chown(path, identity.uid, identity.gid)


@contextlib.contextmanager
def _throwaway_cluster(bindir: Path, source: str, settings: _Settings) -> Iterator[Server]:
    """initdb a cluster in a temporary directory, start it on a free port on
    127.0.0.1, and stop and delete it afterwards."""
    identity = _unprivileged_identity(settings.run_as)
    who = f" as user {identity.name}" if identity else ""
    _sweep_stale_clusters()
    with contextlib.ExitStack() as stack:
        try:
            probe = _run([bindir / "postgres", "--version"], identity, cwd=Path("/"), timeout=30)
        except PermissionError as exc:
            if identity is None:
                raise _Unavailable(f"{bindir}/postgres cannot be run: {exc}") from None
            # The programs sit under a directory the server's account may not enter
            # (a project in a private home or temporary directory, run as root).
            try:
                reachable = stack.enter_context(_reachable_install(bindir, identity))
            except (OSError, RuntimeError) as staging:
                raise _Unavailable(
                    f"{bindir}/postgres cannot be run{who} ({exc.strerror}), and a copy it can "
                    f"reach could not be made: {staging}"
                ) from None
            log.info("%s is not reachable%s; using a copy in %s", bindir, who, reachable)
            bindir = reachable
            try:
                probe = _run([bindir / "postgres", "--version"], identity, cwd=Path("/"), timeout=30)
            except OSError as again:
                raise _Unavailable(f"{bindir}/postgres cannot be run{who}: {again}") from None
        except OSError as exc:
            raise _Unavailable(f"{bindir}/postgres cannot be run{who}: {exc}") from None
        if probe.returncode != 0:
            raise _Unavailable(
                f"{bindir}/postgres --version failed{who}: {_first_line(probe.stderr or probe.stdout)}"
            )
        with _started_cluster(bindir, source, settings, identity, probe.stdout) as server:
            yield server


@contextlib.contextmanager
def _started_cluster(
    bindir: Path, source: str, settings: _Settings, identity: _Identity | None, version_text: str
) -> Iterator[Server]:
    who = f" as user {identity.name}" if identity else ""
    major = _version_key(version_text)[:1]
    host_auth = "scram-sha-256" if not major or major[0] >= 10 else "md5"

    base = _make_base_dir(identity)
    data = base / "data"
    logfile = base / "server.log"
    (base / _MARKER).write_text(
        json.dumps(
            {
                "owner_pid": os.getpid(),
                "host": socket.gethostname(),
                "bindir": str(bindir),
                "run_as": identity.name if identity else None,
            }
        )
    )
    pid: int | None = None
    # TCP logins need this per-run password, so other local users cannot use
    # the superuser; the unix socket sits in a directory only the cluster's
    # owner can enter.
    password = secrets.token_urlsafe(24)
    pwfile = base / "pwfile"
    try:
        _write_owned(pwfile, password + "\n", identity)
        pwfile.chmod(0o600)
        init = _run(
            [
                bindir / "initdb",
                "-D", data,
                "-U", "postgres",
                f"--pwfile={pwfile}",
                f"--auth-host={host_auth}",
                "--auth-local=trust",
                "-E", "UTF8",
                "--no-locale",
                "-N",  # no fsync: the cluster is thrown away
            ],
            identity,
            cwd=base,
            timeout=max(settings.startup_timeout, 120.0),
        )
        pwfile.unlink(missing_ok=True)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed{who}: {_tail(init.stderr or init.stdout)}")
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude 'pgunify.conf'\n")

        port = 0
        for attempt in range(3):
            port = _free_port()
            socket_dir = "" if os.name == "nt" else str(base)
            _write_owned(
                data / "pgunify.conf",
                "\n".join(
                    [
                        "listen_addresses = '127.0.0.1'",
                        f"port = {port}",
                        f"unix_socket_directories = {_conf_quote(socket_dir)}",
                        "fsync = off",
                        "synchronous_commit = off",
                        "full_page_writes = off",
                        "",
                    ]
                ),
                identity,
            )
            log_offset = logfile.stat().st_size if logfile.exists() else 0
            start = _run(
                [
                    bindir / "pg_ctl",
                    "-D", data,
                    "-l", logfile,
                    "-w",
                    "-t", str(max(1, int(settings.startup_timeout))),
                    "start",
                ],
                identity,
                cwd=base,
                timeout=settings.startup_timeout + 15,
            )
            if start.returncode == 0:
                break
            server_log = _read_from(logfile, log_offset)
            if attempt < 2 and ("could not bind" in server_log or "already in use" in server_log):
                continue  # somebody took the port in between; pick another
            raise RuntimeError(
                f"pg_ctl start failed{who}: {_tail(server_log or start.stderr or start.stdout)}"
            )

        pid = _postmaster_pid(data)
        dsn = URL.create(
            "postgresql",
            username="postgres",
            password=password,
            host="127.0.0.1",
            port=port,
            database="postgres",
        ).render_as_string(hide_password=False)
        info = _wait_until_ready(dsn, 30.0, settings.connect_timeout)
        log.info("Started PostgreSQL %s from %s%s in %s", info.version, bindir, who, base)
        yield Server(
            dsn=dsn,
            source=source,
            version=info.version,
            version_num=info.version_num,
            data_dir=str(data),
            pid=pid,
            bindir=str(bindir),
            run_as=identity.name if identity else None,
        )
    finally:
        _stop_cluster(bindir, data, identity, pid)
        shutil.rmtree(base, ignore_errors=True)
        if base.exists():
            log.warning("Could not remove %s", base)


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("r", errors="replace") as handle:
            handle.seek(offset)
            return handle.read()
    except OSError:
        return ""


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def _stop_cluster(bindir: Path, data: Path, identity: _Identity | None, pid: int | None) -> None:
    pid = pid or _postmaster_pid(data)
    if pid is None and not (data / "postmaster.pid").exists():
        return  # never started
    for mode in ("fast", "immediate"):
        try:
            result = _run(
                [bindir / "pg_ctl", "-D", data, "-m", mode, "-w", "-t", "20", "stop"],
                identity,
                cwd=data.parent,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 or (pid is not None and not _process_alive(pid)):
            break
    if pid is not None and _process_alive(pid) and _is_our_postmaster(pid, data):
        log.warning("PostgreSQL (pid %s) ignored pg_ctl stop; killing it", pid)
        with contextlib.suppress(OSError):
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    if pid is not None:
        deadline = time.monotonic() + 10
        while _process_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)


def _process_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except OSError:
        return False
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    state = stat_line.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X")


def _is_our_postmaster(pid: int, data: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return sys.platform != "linux"  # no /proc: trust postmaster.pid
    return str(data) in cmdline


# --------------------------------------------------------------------------- #
# Programs the server's account cannot reach
# --------------------------------------------------------------------------- #

_INSTALL_PREFIX = "pgunify-pginstall-"
# What initdb and the server read besides their programs; headers are not needed.
_INSTALL_PARTS = ("bin", "lib", "share")
_ORIGIN_RE = re.compile(rb"\$(?:ORIGIN|\{ORIGIN\})(/[^\x00:]*)")
_BUILD_GRACE = 600.0  # a copy being built that no lock protects yet is left alone this long


class _NotOurs(Exception):
    """Something this process's user does not own sits where the shared copy goes."""


@contextlib.contextmanager
def _reachable_install(bindir: Path, identity: _Identity) -> Iterator[Path]:
    """Yield a bin directory with the programs of `bindir` that `identity` can run.

    Used when `bindir` lies under a directory the server's account may not enter
    (a project in a private home or temporary directory, run as root).  The install
    tree (bin, lib and share, which PostgreSQL finds relative to its programs, plus
    the library folders the programs name relative to themselves) is hard-linked,
    or copied where a link would not be readable or is impossible, into a folder of
    its own in the temporary directory: owned by this process's user, mode 0755,
    so the server's account can read and run it but not change it.  The original
    tree and its permissions stay as they are.

    Clusters that run at the same time share one copy, each holding a shared lock
    on it; the last to stop removes it.  A copy no process holds any more (its owner
    was killed) is removed by the next cluster start on the machine.
    """
    import fcntl

    prefix = bindir.parent
    parts = _install_parts(prefix)
    anchor = Path(os.path.commonpath([str(prefix), *(str(part) for part in parts)]))
    root = _temp_root(identity)
    published = root / f"{_INSTALL_PREFIX}{_install_key(prefix)}"
    where: Path | None = None
    fd = -1
    for _ in range(20):
        try:
            fd = _lock_install(published, fcntl)
        except _NotOurs:
            where, fd = _build_install(anchor, parts, root, published.name, fcntl)
            break
        if fd >= 0:
            where = published
            break
        candidate, fd = _build_install(anchor, parts, root, published.name, fcntl)
        try:
            os.rename(candidate, published)
        except OSError:  # another process published one first: use that
            os.close(fd)
            shutil.rmtree(candidate, ignore_errors=True)
            continue
        where = published
        break
    if where is None:
        raise RuntimeError(f"no stable copy of {prefix} could be made in {root}")
    try:
        yield where / prefix.relative_to(anchor) / bindir.name
    finally:
        _release_install(where, fd, fcntl)


def _install_parts(prefix: Path) -> list[Path]:
    """The folders to copy: the install tree's parts, and library folders that
    the programs name relative to themselves ($ORIGIN in their run path)."""
    parts = [prefix / name for name in _INSTALL_PARTS if (prefix / name).is_dir()]
    for program in _SERVER_PROGRAMS:
        try:
            content = (prefix / "bin" / program).read_bytes()
        except OSError:
            continue
        for match in _ORIGIN_RE.finditer(content):
            folder = Path(os.path.normpath(prefix / "bin" / match.group(1).decode(errors="replace").lstrip("/")))
            if folder.is_dir() and not any(folder == part or part in folder.parents for part in parts):
                parts.append(folder)
    return parts


def _install_key(prefix: Path) -> str:
    """Names the copy after the tree it copies and that tree's server program, so a
    reinstalled or upgraded tree gets a fresh copy."""
    import hashlib

    st = (prefix / "bin" / "postgres").stat()
    text = "\0".join(
        str(value)
        for value in (os.path.realpath(prefix), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, os.geteuid())
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _lock_install(path: Path, fcntl: Any) -> int:
    """A descriptor with a shared lock on the copy at `path`, or -1 when none is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return -1
    except OSError:  # a symbolic link or a file: not a copy this code made
        raise _NotOurs(str(path)) from None
    try:
        held = os.fstat(fd)
        if held.st_uid != os.geteuid() or held.st_mode & 0o022:
            raise _NotOurs(str(path))
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            now = os.lstat(path)
        except FileNotFoundError:
            now = None
        if now is None or (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            os.close(fd)  # removed while we waited for the lock
            return -1
        return fd
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise


def _build_install(anchor: Path, parts: Sequence[Path], root: Path, name: str, fcntl: Any) -> tuple[Path, int]:
    """Copy `parts` (folders under `anchor`) into a new folder in `root`; return it
    with a descriptor that holds a shared lock on it."""
    target = Path(tempfile.mkdtemp(prefix=f"{name}.build-", dir=root))
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        os.chmod(target, 0o755)
        for part in parts:
            _copy_tree(part, target / part.relative_to(anchor))
    except BaseException:
        os.close(fd)
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target, fd


def _copy_tree(source: Path, target: Path) -> None:
    for folder, subfolders, files in os.walk(source):
        here = Path(folder)
        there = target / here.relative_to(source)
        there.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(there, 0o755)
        for entry in [*subfolders, *files]:
            origin = here / entry
            copy = there / entry
            if origin.is_symlink():
                link = os.readlink(origin)
                if not os.path.isabs(link) and Path(os.path.normpath(here / link)).is_relative_to(source):
                    os.symlink(link, copy)
                elif origin.is_file():
                    _copy_file(Path(os.path.realpath(origin)), copy)
                continue
            if origin.is_file():
                _copy_file(origin, copy)


def _copy_file(origin: Path, copy: Path) -> None:
    """A hard link when everyone may already read (and run) the file, else a copy
    that they may: the original's mode is never changed."""
    mode = origin.stat().st_mode
    needed = 0o004 | (0o001 if mode & stat.S_IXUSR else 0)
    if mode & needed == needed:
        try:
            os.link(origin, copy)
            return
        except OSError:
            pass  # another file system, or links not allowed here
    shutil.copyfile(origin, copy)
    os.chmod(copy, 0o755 if mode & stat.S_IXUSR else 0o644)


def _release_install(path: Path, fd: int, fcntl: Any) -> None:
    """Drop our hold on a copy; remove it when nobody else holds it."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # other clusters still run from it
        os.close(fd)
        return
    _discard_install(path, fd)


def _discard_install(path: Path, fd: int) -> None:
    """Remove the copy at `path`, whose exclusive lock `fd` holds: renamed first, so
    that nobody takes a lock on it from then on, then deleted."""
    try:
        held = os.fstat(fd)
        now = os.lstat(path)
        if (now.st_dev, now.st_ino) != (held.st_dev, held.st_ino):
            return
        gone = path.with_name(f"{path.name}.gone-{secrets.token_hex(4)}")
        os.rename(path, gone)
    except OSError:
        return
    finally:
        os.close(fd)
    shutil.rmtree(gone, ignore_errors=True)


def _sweep_installs(root: Path) -> None:
    """Remove copies of binaries that no running process holds."""
    try:
        import fcntl
    except ImportError:
        return
    for candidate in glob.glob(str(root / f"{_INSTALL_PREFIX}*")):
        path = Path(candidate)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
            continue
        if ".gone-" in path.name:
            shutil.rmtree(path, ignore_errors=True)
            continue
        if ".build-" in path.name and time.time() - info.st_mtime < _BUILD_GRACE:
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        log.info("Removing a copy of PostgreSQL's programs no process uses: %s", path)
        _discard_install(path, fd)


def _sweep_stale_clusters() -> None:
    """Remove clusters left behind by pgunify processes that died without cleaning
    up (SIGKILL, power loss).  Only directories carrying our marker, created on
    this host by a process that no longer exists, are touched."""
    roots = {Path(tempfile.gettempdir()), Path("/tmp")}
    host = socket.gethostname()
    for root in roots:
        for candidate in glob.glob(str(root / f"{_TEMP_PREFIX}*")):
            base = Path(candidate)
            try:
                marker = json.loads((base / _MARKER).read_text())
                owner = int(marker["owner_pid"])
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if marker.get("host") != host or owner == os.getpid() or _process_alive(owner):
                continue
            data = base / "data"
            try:
                identity = _unprivileged_identity(marker.get("run_as"))
            except _Unavailable:
                identity = None
            if (data / "postmaster.pid").exists() and marker.get("bindir"):
                log.info("Stopping PostgreSQL left behind in %s", base)
                _stop_cluster(Path(marker["bindir"]), data, identity, None)
            shutil.rmtree(base, ignore_errors=True)
        _sweep_installs(root)


# --------------------------------------------------------------------------- #
# Talking to a server
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _ServerInfo:
    version: str
    version_num: int
    can_create_db: bool


async def _probe(dsn: str, timeout: float) -> _ServerInfo:
    async def go() -> _ServerInfo:
        conn = await asyncpg.connect(dsn, timeout=timeout)
        try:
            row = await conn.fetchrow(
                "SELECT 1 AS one,"
                " current_setting('server_version') AS version,"
                " current_setting('server_version_num')::int AS version_num,"
                " (SELECT rolsuper OR rolcreatedb FROM pg_roles WHERE rolname = current_user)"
                " AS can_create_db"
            )
        finally:
            await conn.close(timeout=timeout)
        assert row is not None and row["one"] == 1
        return _ServerInfo(
            version=str(row["version"]).split()[0],
            version_num=int(row["version_num"]),
            can_create_db=bool(row["can_create_db"]),
        )

    return await asyncio.wait_for(go(), timeout * 2 + 1)


def _wait_until_ready(dsn: str, budget: float, timeout: float) -> _ServerInfo:
    """Probe until the server accepts queries (a fresh server may still be
    starting up or restarting after its init scripts)."""
    deadline = time.monotonic() + budget
    while True:
        try:
            return _run_async(lambda: _probe(dsn, timeout))
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, also when the calling
    thread already runs an event loop (then in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coroutine(factory))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pgunify-pg") as pool:
        return pool.submit(lambda: asyncio.run(_as_coroutine(factory))).result()


async def _as_coroutine(factory: Callable[[], Awaitable[T]]) -> T:
    return await factory()


def _explain(exc: BaseException, url: URL | None = None) -> str:
    """A one-line, password-free description of a connection failure."""
    where = "the server"
    if url is not None and url.host:
        where = f"{url.host}:{url.port or 5432}"
    elif url is not None and url.query.get("host"):
        where = f"socket directory {url.query['host']}"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        text = f"no answer from {where} in time (timed out)"
    elif isinstance(exc, socket.gaierror):
        text = f"cannot resolve the host of {where} ({exc})"
    elif isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, OSError) and (exc.errno == errno.ECONNREFUSED or "Connect call failed" in str(exc))
    ):
        text = f"nothing accepts connections at {where} (connection refused)"
    elif isinstance(exc, (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError)):
        text = f"{where} answers but refuses the login: {_first_line(exc)}"
    elif isinstance(exc, asyncpg.PostgresError):
        text = f"{where} answers but reports an error: {_first_line(exc)}"
    elif url is not None:
        text = f"cannot connect to {where}: {type(exc).__name__}: {_first_line(exc)}"
    else:
        text = f"{type(exc).__name__}: {_first_line(exc)}"
    return _scrub(text, url)


def _scrub(text: str, url: URL | None) -> str:
    """Mask the URL's password should a driver message ever contain it.

    Inside URLs (":secret@") it is always masked; on its own only when it is
    long enough not to match ordinary words ("x" would garble "exist").
    """
    if url is None or not url.password:
        return text
    password = str(url.password)
    from urllib.parse import quote, quote_plus

    for secret in {password, quote(password, safe=""), quote_plus(password)}:
        text = text.replace(f":{secret}@", ":***@")
        if len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


def _safe_url(dsn: str) -> str:
    try:
        return make_url(dsn).render_as_string(hide_password=True)
    except Exception:
        return "<unparsable URL>"


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0].strip() if text else ""


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(line.strip() for line in kept) or "(no output)"


_STARTERS: dict[str, Callable[[_Settings], contextlib.AbstractContextManager[Server]]] = {
    "dsn": _from_dsn,
    "local-server": _from_local_server,
    "docker": _from_docker,
    "binaries": _from_binaries,
    "embedded": _from_embedded,
}


# --------------------------------------------------------------------------- #
# Scratch databases
# --------------------------------------------------------------------------- #

_PREFIX_RE = re.compile(r"[a-z_][a-z0-9_]{0,39}")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def scratch_database(
    server: Server,
    prefix: str = "unify_scratch",
    *,
    template: str | None = None,
    timeout: float = 30.0,
) -> Iterator[str]:
    """Create a database with a unique name, yield its URL, drop it afterwards.

    The URL keeps the user, password, host and query of `server.dsn`.  The
    database is dropped (terminating any connections still open to it) also
    when the block raises.  Usable from sync code, including sync code called
    while an event loop runs.
    """
    if not _PREFIX_RE.fullmatch(prefix):
        raise ValueError(
            "prefix must be lowercase letters, digits and underscores (at most 40), "
            f"starting with a letter or underscore; got {prefix!r}"
        )
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin_dsn = server.dsn
    _run_async(lambda: _create_database(admin_dsn, name, template, timeout))
    log.debug("Created scratch database %s on %s", name, server.safe_dsn)
    body_failed = True
    try:
        yield make_url(admin_dsn).set(database=name).render_as_string(hide_password=False)
        body_failed = False
    finally:
        try:
            _run_async(lambda: _drop_database(admin_dsn, name, timeout))
            log.debug("Dropped scratch database %s", name)
        except Exception:
            if not body_failed:
                raise
            log.warning("Could not drop scratch database %s", name, exc_info=True)


async def _create_database(dsn: str, name: str, template: str | None, timeout: float) -> None:
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        sql = f"CREATE DATABASE {_quote_ident(name)}"
        if template:
            sql += f" TEMPLATE {_quote_ident(template)}"
        await conn.execute(sql, timeout=timeout)
    finally:
        await conn.close(timeout=timeout)


async def _drop_database(dsn: str, name: str, timeout: float) -> None:
    conn = await asyncpg.connect(dsn, timeout=timeout)
    try:
        if conn.get_server_version().major >= 13:
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)", timeout=timeout)
        else:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                name,
                timeout=timeout,
            )
            await conn.execute(f"DROP DATABASE IF EXISTS {_quote_ident(name)}", timeout=timeout)
    finally:
        await conn.close(timeout=timeout)
