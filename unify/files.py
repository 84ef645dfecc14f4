"""Which files a run looks at: a walk that honours .gitignore, default and user excludes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator

import pathspec

ALWAYS_EXCLUDED_DIRS = frozenset(
    {".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", "node_modules", "__pycache__", ".mypy_cache",
     ".pytest_cache", ".ruff_cache", ".unify", "site-packages", ".eggs"}
)

DEPLOYMENT_NAMES = ("docker-compose", "compose")


@dataclass
class FileSet:
    root: Path
    python: list[Path] = field(default_factory=list)
    sql: list[Path] = field(default_factory=list)
    deployment: list[Path] = field(default_factory=list)


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


def walk(root: Path, exclude: Iterable[str] = (), respect_gitignore: bool = True) -> Iterator[Path]:
    """Yield files under root in a stable order, pruning ignored directories early."""
    root = root.resolve()
    user = _user_spec(exclude)
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
        except OSError:
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
    for path in walk(root, exclude, respect_gitignore):
        suffix = path.suffix.lower()
        if suffix == ".py":
            found.python.append(path)
        elif suffix == ".sql":
            found.sql.append(path)
        elif is_deployment_file(path):
            found.deployment.append(path)
    return found


def relative(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
