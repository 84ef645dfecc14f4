"""Which files a run looks at: inside a git work tree, the files git itself lists (tracked and
untracked but not ignored); elsewhere a walk that honours .gitignore files. Default and user
excludes apply to both."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

import pathspec

ALWAYS_EXCLUDED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".pgunify", "site-packages", ".eggs"}
)

DEPLOYMENT_NAMES = ("docker-compose", "compose")

# Parsing with full metadata costs about 30 s per MB; larger sources are generated code, not repositories.
DEFAULT_MAX_SOURCE_BYTES = 2 * 1024 * 1024


@dataclass
class FileSet:
    root: Path
    python: list[Path] = field(default_factory=list)
    sql: list[Path] = field(default_factory=list)
    deployment: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # (path, why it was not read)


def max_source_bytes() -> int:
    try:
        return int(os.environ.get("UNIFY_MAX_FILE_BYTES", "")) or DEFAULT_MAX_SOURCE_BYTES
    except ValueError:
        return DEFAULT_MAX_SOURCE_BYTES


def read_source(path: Path) -> bytes | str:
    """The bytes of a source file, or why they cannot be analysed (unreadable, too large)."""
    try:
        size = path.stat().st_size
        limit = max_source_bytes()
        if size > limit:
            return (f"too large to analyse ({size / 1048576:.1f} MiB, the limit is {limit / 1048576:.1f} MiB; "
                    "set UNIFY_MAX_FILE_BYTES to raise it)")
        return path.read_bytes()
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"


def _symlink_reason(path: Path) -> str:
    """Why a symlink is not followed, saying where it points."""
    try:
        target = os.readlink(path)
    except OSError:
        target = "?"
    try:
        resolved = path.resolve(strict=True)
    except RuntimeError:
        return f"symlink loop (-> {target}); not followed"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"symlink loop (-> {target}); not followed"
        return f"broken symlink (-> {target}, which does not exist); not followed"
    if resolved.is_dir():
        if path.parent.resolve().is_relative_to(resolved):
            return f"symlink to a directory that contains it (-> {target}), a loop; not followed"
        return f"symlink to a directory (-> {target}); not followed, scan its target on its own if it matters"
    return f"symlink (-> {target}); not followed, the file is read where it lives and never written through a link"


def _relevant_name(path: Path) -> bool:
    return path.suffix.lower() in (".py", ".sql") or is_deployment_file(path)


def _gitignore_spec(directory: Path) -> pathspec.GitIgnoreSpec | None:
    ignore = directory / ".gitignore"
    if not ignore.is_file():
        return None
    try:
        lines = ignore.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    return pathspec.GitIgnoreSpec.from_lines(lines)


def _user_spec(patterns: Iterable[str]) -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(list(patterns))


def git_listing(root: Path) -> list[str] | None:
    """Files under root as git lists them (`git ls-files -co --exclude-standard`: tracked, and
    untracked but not ignored by any .gitignore, .git/info/exclude or the global excludes
    file), relative to root; None when root is not inside a git work tree or git is missing."""
    try:
        done = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                              capture_output=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    ignored = subprocess.run(["git", "-C", str(root), "check-ignore", "-q", "--no-index", str(root)],
                             capture_output=True, timeout=60)
    if ignored.returncode == 0:
        return None  # root lies in a directory its repository ignores: git would list nothing of it
    names = {name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name}
    return sorted(names, key=_walk_order)


def _walk_order(rel: str) -> tuple:
    """The order of the directory walk: a directory's files by name, then its subdirectories by name."""
    parts = rel.rstrip("/").split("/")
    return tuple((1, p) for p in parts[:-1]) + ((0, parts[-1]),)


def _git_walk(root: Path, names: list[str], user: pathspec.GitIgnoreSpec,
              skipped: list[tuple[Path, str]] | None) -> Iterator[Path]:
    for rel in names:
        if rel.endswith("/"):
            continue  # an untracked nested repository: git does not look inside, neither does pgunify
        parts = rel.split("/")
        if any(p in ALWAYS_EXCLUDED_DIRS for p in parts[:-1]):
            continue
        if any(user.match_file("/".join(parts[:i]) + "/") for i in range(1, len(parts))) or user.match_file(rel):
            continue
        path = root / rel
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue  # listed by git but deleted from the work tree
        if stat.S_ISREG(mode):
            yield path
        elif stat.S_ISLNK(mode) and skipped is not None and (_relevant_name(path) or os.path.isdir(path)):
            skipped.append((path, _symlink_reason(path)))


def walk(root: Path, exclude: Iterable[str] = (), respect_gitignore: bool = True,
         skipped: list[tuple[Path, str]] | None = None) -> Iterator[Path]:
    """Yield files under root in a stable order, pruning ignored directories early.

    Inside a git work tree (and unless respect_gitignore is off) the list comes from git, so
    negated patterns, nested .gitignore files and .git/info/exclude mean what git makes of
    them. Symlinks and directories that cannot be listed are not yielded; with `skipped`,
    they are appended there with the reason."""
    root = root.resolve()
    user = _user_spec(exclude)
    if respect_gitignore:
        listed = git_listing(root)
        if listed is not None:
            yield from _git_walk(root, listed, user, skipped)
            return
    # stack of (directory, specs that apply: list of (base, spec))
    pending: list[tuple[Path, list[tuple[Path, pathspec.GitIgnoreSpec]]]] = [(root, [])]
    while pending:
        directory, specs = pending.pop()
        if respect_gitignore:
            spec = _gitignore_spec(directory)
            if spec is not None:
                specs = specs + [(directory, spec)]
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            if skipped is not None and directory != root:
                skipped.append((directory, f"cannot list directory: {exc.strerror or exc}"))
            continue
        subdirs = []
        for entry in entries:
            path = Path(entry.path)
            rel = PurePosixPath(path.relative_to(root).as_posix())
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir and entry.name in ALWAYS_EXCLUDED_DIRS:
                continue
            probe = f"{rel}/" if is_dir else str(rel)
            if user.match_file(probe):
                continue
            if any(s.match_file(PurePosixPath(path.relative_to(base).as_posix()).as_posix() + ("/" if is_dir else "")) for base, s in specs):
                continue
            if is_dir:
                subdirs.append((path, specs))
            elif entry.is_file(follow_symlinks=False):  # a symlink is never rewritten through, nor twice
                yield path
            elif skipped is not None and entry.is_symlink() and (_relevant_name(path) or os.path.isdir(path)):
                skipped.append((path, _symlink_reason(path)))
        pending.extend(reversed(subdirs))


def is_deployment_file(path: Path) -> bool:
    name = path.name.lower()
    if name.startswith(DEPLOYMENT_NAMES) and name.endswith((".yml", ".yaml")):
        return True
    if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
        return not name.endswith((".example", ".sample", ".template", ".dist"))
    if name == "dockerfile" or name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return True
    # other YAML files are candidates; the deployment reader keeps Kubernetes manifests
    return name.endswith((".yml", ".yaml"))


def collect(root: Path, exclude: Iterable[str] = (), respect_gitignore: bool = True) -> FileSet:
    root = root.resolve()
    found = FileSet(root=root)
    if root.is_file():
        found.root = root.parent
        found.python.append(root)
        return found
    for path in walk(root, exclude, respect_gitignore, skipped=found.skipped):
        suffix = path.suffix.lower()
        if suffix == ".py":
            found.python.append(path)
        elif suffix == ".sql":
            found.sql.append(path)
        elif is_deployment_file(path):
            found.deployment.append(path)
    return found


def relative(root: Path, path: Path) -> str:
    try:  # the last component is not resolved: a symlink is named as itself, never as its target
        return (path.parent.resolve() / path.name).relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


class ShardError(ValueError):
    pass


def parse_shard(text: str) -> tuple[int, int]:
    """`K/N` (1 <= K <= N) as (K, N); anything else is a ShardError that says what is wrong."""
    index, slash, count = text.strip().partition("/")
    if not slash or not index.strip().isdigit() or not count.strip().isdigit():
        raise ShardError(f"--shard takes K/N with whole numbers, e.g. 2/3; got {text!r}")
    k, n = int(index), int(count)
    if n < 1:
        raise ShardError(f"--shard {text}: the number of shards must be at least 1")
    if not 1 <= k <= n:
        raise ShardError(f"--shard {text}: K counts from 1 to N ({n}); got {k}")
    return k, n


def shard_of(rel: str, count: int) -> int:
    """The shard (1..count) a file belongs to: a hash of its path relative to the root, so
    every runner agrees whatever order or machine it walks the tree in."""
    import hashlib

    digest = hashlib.sha256(rel.replace("\\", "/").encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


# directories (and file names) of code that uses the application rather than being it
_AUXILIARY_DIRS = frozenset({"tests", "test", "testing", "benchmarks", "benchmark", "bench", "scripts", "script",
                             "examples", "example", "docs", "tools", "migrations", "alembic"})


def auxiliary(rel: str) -> bool:
    """Whether a file (relative path) is a test, script, benchmark or tool of the application
    rather than the application itself."""
    parts = PurePosixPath(rel).parts
    name = parts[-1] if parts else ""
    return (any(p.lower() in _AUXILIARY_DIRS for p in parts[:-1]) or name == "conftest.py"
            or name.startswith("test_") or name.endswith("_test.py"))
