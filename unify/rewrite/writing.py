"""Putting changes on disk: git safety check, baseline snapshot, atomic replacement.

The baseline (under .unify/baseline/) keeps the exact bytes of every file before it was
changed, so `unify verify` can run the old code beside the new and a user can always go back.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from unify import __version__
from unify.rewrite.outcome import Changed

BASELINE_DIR = ".unify/baseline"


class DirtyWorkTree(RuntimeError):
    pass


def git_state(root: Path) -> tuple[bool, list[str]]:
    """(is inside a git work tree, paths under root with uncommitted changes)."""
    try:
        inside = subprocess.run(["git", "-C", str(root), "rev-parse", "--is-inside-work-tree"],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False, []
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        return False, []
    status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no", "--", "."],
                            capture_output=True, text=True, timeout=60)
    return True, [line[3:] for line in status.stdout.splitlines() if line.strip()]


def atomic_write(path: Path, data: bytes) -> None:
    """Replace path with data in one step, keeping its permission bits."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".unify-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        else:
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@dataclass
class WriteReport:
    baseline: Path | None
    written: list[str] = field(default_factory=list)
    not_written: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)


def save_baseline(root: Path, changed: list[Changed]) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
    base = root / BASELINE_DIR / stamp
    files = base / "files"
    manifest = {"tool": "unify", "version": __version__, "created": stamp, "files": []}
    for outcome in changed:
        entry = {"path": outcome.path, "created_by_unify": outcome.old is None,
                 "sha256_before": hashlib.sha256(outcome.old).hexdigest() if outcome.old is not None else None,
                 "sha256_after": hashlib.sha256(outcome.new).hexdigest()}
        if outcome.old is not None:
            atomic_write(files / outcome.path, outcome.old)
        manifest["files"].append(entry)
    atomic_write(base / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    atomic_write(root / ".unify" / ".gitignore", b"*\n")
    atomic_write(root / BASELINE_DIR / "LATEST", (stamp + "\n").encode())
    return base


def apply_changes(root: Path, changed: list[Changed]) -> WriteReport:
    """Write every change, each file wholly old or wholly new; report what was and was not written.

    A file that changed on disk since it was read is not written; if any did, nothing is
    written, so the tree never holds half a migration."""
    stale = []
    for outcome in changed:
        path = root / outcome.path
        current = path.read_bytes() if path.exists() else None
        if current != outcome.old:
            stale.append((outcome.path, "changed on disk while unify was running; nothing was written, run again"))
    if stale:
        return WriteReport(baseline=None, not_written=stale)
    report = WriteReport(baseline=save_baseline(root, changed) if changed else None)
    for outcome in changed:
        path = root / outcome.path
        try:
            atomic_write(path, outcome.new)
        except OSError as exc:
            report.not_written.append((outcome.path, f"cannot write: {exc.strerror or exc}"))
            continue
        report.written.append(outcome.path)
    return report
