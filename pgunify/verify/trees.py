"""The legacy tree to run beside the migrated one: a temporary copy of PATH with the
baseline originals put back (files `pgunify migrate` created removed), or a git revision."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pgunify.rewrite.writing import BASELINE_DIR

_SKIP = shutil.ignore_patterns(".git", ".pgunify", "__pycache__", ".pytest_cache", ".venv", "node_modules", ".mypy_cache")


class BaselineError(ValueError):
    """No usable baseline: the message says what is missing and what to do."""


@dataclass(frozen=True)
class LegacyTree:
    path: Path
    source: str  # "baseline <stamp>" or "git <rev>"
    restored: tuple[str, ...]  # files put back from the baseline
    removed: tuple[str, ...]  # files the migration created
    drifted: tuple[str, ...] = ()  # migrated files edited since the migration (still compared)


def _latest_baseline(root: Path) -> Path:
    base = root / BASELINE_DIR
    latest = base / "LATEST"
    if not latest.is_file():
        raise BaselineError(f"no baseline under {base}: run `pgunify migrate --write` first, or pass --baseline REV "
                            "with the git revision of the legacy code")
    stamp = latest.read_text(encoding="utf-8").strip()
    folder = base / stamp
    if not stamp or not (folder / "manifest.json").is_file():
        raise BaselineError(f"{latest} names {stamp!r}, which has no manifest.json")
    return folder


def _baselines(root: Path) -> list[tuple[Path, list[dict]]]:
    """Every snapshot under .pgunify/baseline/, oldest first, with its manifest entries."""
    latest = _latest_baseline(root)
    folders = sorted(p for p in latest.parent.iterdir() if (p / "manifest.json").is_file())
    found = []
    for folder in folders:
        try:
            entries = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["files"]
            for entry in entries:
                rel = entry["path"]
                if Path(rel).is_absolute() or ".." in Path(rel).parts:
                    raise BaselineError(f"{folder / 'manifest.json'} names a path outside the tree: {rel!r}")
        except (ValueError, KeyError, TypeError) as exc:
            raise BaselineError(f"{folder / 'manifest.json'} is not a pgunify baseline manifest: {exc}") from exc
        found.append((folder, entries))
    return found


def from_baseline(root: Path, destination: Path) -> LegacyTree:
    """The tree before the first `pgunify migrate --write`: each file as the oldest snapshot
    that holds it (a later run, e.g. `--select schema-startup`, snapshots migrated code)."""
    snapshots = _baselines(root)
    first: dict[str, tuple[Path, dict]] = {}
    last_after: dict[str, str | None] = {}
    for folder, entries in snapshots:
        for entry in entries:
            first.setdefault(entry["path"], (folder, entry))
            last_after[entry["path"]] = entry.get("sha256_after")
    target = destination / "old"
    shutil.copytree(root, target, ignore=_SKIP, symlinks=True)
    restored, removed, drifted = [], [], []
    for rel, (folder, entry) in sorted(first.items()):
        current = root / rel
        after = last_after.get(rel)
        if after and current.is_file() and hashlib.sha256(current.read_bytes()).hexdigest() != after:
            drifted.append(rel)
        if entry.get("created_by_unify"):
            (target / rel).unlink(missing_ok=True)
            removed.append(rel)
            continue
        original = folder / "files" / rel
        if not original.is_file():
            raise BaselineError(f"baseline {folder.name} lacks its copy of {rel}")
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target / rel)
        restored.append(rel)
    names = ", ".join(folder.name for folder, _ in snapshots)
    return LegacyTree(target, f"baseline {names}", tuple(restored), tuple(removed), tuple(drifted))


def from_git(root: Path, revision: str, destination: Path) -> LegacyTree:
    """`git archive` of the revision, limited to PATH's part of the repository."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, timeout=120)

    top = git("rev-parse", "--show-prefix")
    if top.returncode != 0:
        raise BaselineError(f"{root} is not inside a git work tree, so --baseline {revision} cannot be read")
    prefix = top.stdout.decode().strip()
    check = git("rev-parse", "--verify", "--quiet", f"{revision}^{{commit}}")
    if check.returncode != 0:
        raise BaselineError(f"--baseline {revision}: no such git revision in {root}")
    archive = git("archive", "--format=tar", revision, *([prefix] if prefix else []))
    if archive.returncode != 0:
        raise BaselineError(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
    target = destination / "old"
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            if not (member.isfile() or member.isdir()):
                continue
            name = member.name[len(prefix):] if prefix and member.name.startswith(prefix) else member.name
            if not name or name.startswith("/") or ".." in Path(name).parts:
                continue
            member.name = name
            tar.extract(member, target, filter="data")
    return LegacyTree(target, f"git {revision}", (), ())
