"""Putting changes on disk: git safety check, baseline snapshot, atomic replacement.

The baseline (under .pgunify/baseline/) keeps the exact bytes of every file before it was
changed, so `pgunify verify` can run the old code beside the new and a user can always go back.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from pgunify import __version__
from pgunify.rewrite.outcome import Changed

BASELINE_DIR = ".pgunify/baseline"


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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".pgunify-tmp", dir=path.parent)
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
    interrupted: int | None = None  # the signal that stopped the write, if one did


def _write_problem(root: Path, outcome: Changed) -> str | None:
    """Why this file cannot be replaced as it is now, or None.

    Permission bits are honoured even for root: a read-only file or directory is the
    user saying "do not touch", and the migration must not half-apply around it."""
    path = root / outcome.path
    if path.is_symlink():
        return "is a symlink now; pgunify never writes through a link, nothing was written"
    try:
        current = path.read_bytes() if path.exists() else None
    except OSError as exc:
        return f"cannot read it back: {exc.strerror or exc}; nothing was written"
    if current != outcome.old:
        return "changed on disk while pgunify was running; nothing was written, run again"
    if current is not None and not path.stat().st_mode & 0o222:
        return (f"read-only file (mode {stat.S_IMODE(path.stat().st_mode):04o}); nothing was written: make it "
                "writable (chmod u+w) and run again, or --exclude it")
    directory = path.parent
    while not directory.exists():
        directory = directory.parent
    mode = directory.stat().st_mode
    if not mode & 0o222 or not os.access(directory, os.W_OK | os.X_OK):
        where = directory.relative_to(root).as_posix() if directory.is_relative_to(root) else str(directory)
        return (f"directory {where or '.'} is read-only (mode {stat.S_IMODE(mode):04o}), so the file cannot be "
                "replaced in one step; nothing was written: make it writable and run again")
    return None


def _current_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


class _DeferredSignals:
    """SIGINT and SIGTERM wait until the file being replaced is whole; the loop then stops."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame) -> None:
        self.received = self.received or signum

    def __enter__(self) -> "_DeferredSignals":
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _pause_point(written: int, deferred: _DeferredSignals) -> None:
    """Fault injection for tests of an interrupted write: UNIFY_WRITE_PAUSE="N:MARKER" makes
    the run create MARKER after N files are written and wait there (up to 60 s) for a signal
    or for MARKER to be deleted."""
    setting = os.environ.get("UNIFY_WRITE_PAUSE")
    if not setting:
        return
    count, _, marker = setting.partition(":")
    if not count.isdigit() or int(count) != written:
        return
    Path(marker).write_text(f"{os.getpid()}\n")
    deadline = time.monotonic() + 60
    while deferred.received is None and os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.01)


def save_baseline(root: Path, changed: list[Changed]) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + f"-{os.getpid()}"
    base = root / BASELINE_DIR / stamp
    files = base / "files"
    manifest = {"tool": "pgunify", "version": __version__, "created": stamp, "files": []}
    for outcome in changed:
        entry = {"path": outcome.path, "created_by_unify": outcome.old is None,
                 "sha256_before": hashlib.sha256(outcome.old).hexdigest() if outcome.old is not None else None,
                 "sha256_after": hashlib.sha256(outcome.new).hexdigest()}
        if outcome.old is not None:
            atomic_write(files / outcome.path, outcome.old)
        manifest["files"].append(entry)
    atomic_write(base / "manifest.json", (json.dumps(manifest, indent=2) + "\n").encode())
    atomic_write(root / ".pgunify" / ".gitignore", b"*\n")
    atomic_write(root / BASELINE_DIR / "LATEST", (stamp + "\n").encode())
    return base


def apply_changes(root: Path, changed: list[Changed]) -> WriteReport:
    """Write every change, each file wholly old or wholly new; report what was and was not written.

    Every file is checked before the first is written (changed since it was read, read-only
    file or directory, now a symlink); if any fails, nothing is written, so the tree never
    holds half a migration. SIGINT or SIGTERM during the write lets the file in hand finish,
    then stops: `interrupted` names the signal and `not_written` the files still old."""
    problems = [(o.path, reason) for o in changed if (reason := _write_problem(root, o)) is not None]
    if problems:
        return WriteReport(baseline=None, not_written=problems)
    with _DeferredSignals() as deferred:
        try:
            baseline = save_baseline(root, changed) if changed else None
        except OSError as exc:  # no copy of the old files, no write
            reason = f"the baseline could not be saved under {BASELINE_DIR} ({exc.strerror or exc}); nothing was written"
            return WriteReport(baseline=None, not_written=[(o.path, reason) for o in changed])
        report = WriteReport(baseline=baseline)
        for index, outcome in enumerate(changed):
            _pause_point(index, deferred)
            if deferred.received is not None:
                report.interrupted = deferred.received
                reason = f"interrupted by {signal.Signals(deferred.received).name} before it was written"
                report.not_written.extend((o.path, reason) for o in changed[index:])
                break
            path = root / outcome.path
            if _current_bytes(path) != outcome.old:  # edited after the check above: the edit wins
                report.not_written.append((outcome.path, "changed on disk during the write; left as it was edited"))
                continue
            try:
                atomic_write(path, outcome.new)
            except OSError as exc:
                report.not_written.append((outcome.path, f"cannot write: {exc.strerror or exc}"))
                continue
            report.written.append(outcome.path)
        else:
            if deferred.received is not None:  # arrived while the last file was written: all are done
                report.interrupted = deferred.received
    return report
