"""`pgunify migrate --write` stopped by a real signal in the middle of writing many files.

The run is a real subprocess; UNIFY_WRITE_PAUSE makes it stop after N files and wait, so
the signal arrives at a known point. Afterwards every file must be wholly old or wholly new,
the run must say which were written, and the baseline must bring the old tree back.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scan_helpers import write_tree

FILES = 24
PAUSE_AFTER = 9

TEMPLATE = """\
import asyncpg


class Repository{n}:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def get(self, key):
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM table_{n} WHERE id = $1", key)
"""


POOL = "import os\n\nimport asyncpg\n\n\nasync def open_pool():\n    return await asyncpg.create_pool(os.environ[\"DATABASE_URL\"])\n"


def _tree(root: Path) -> Path:
    # the application's own pool: the repositories move with it
    return write_tree(root, {"app/db.py": POOL, **{f"app/repo_{n:02d}.py": TEMPLATE.format(n=n) for n in range(FILES)}})


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".pgunify" not in p.parts}


def _unify(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pgunify", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "COLUMNS": "300", **(env or {})})


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """(old bytes, new bytes) of every file, from an uninterrupted run on a copy."""
    base = tmp_path_factory.mktemp("interrupted")
    old = _snapshot(_tree(base / "reference"))
    done = _unify("migrate", str(base / "reference"), "--write")
    assert done.wait(timeout=300) == 0, done.communicate()
    new = _snapshot(base / "reference")
    assert set(new) - set(old) and all(new[p] != old[p] for p in old)  # every file changes, some are created
    return old, new


def _interrupt(root: Path, tmp_path: Path, signum: int) -> tuple[int, str]:
    marker = tmp_path / "paused"
    run = _unify("migrate", str(root), "--write", env={"UNIFY_WRITE_PAUSE": f"{PAUSE_AFTER}:{marker}"})
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "the run never reached the pause point"
        time.sleep(0.02)
    os.kill(run.pid, signum)
    _, stderr = run.communicate(timeout=120)
    return run.returncode, " ".join(stderr.split())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_leaves_each_file_old_or_new_and_says_which(trees, tmp_path, signum):
    old, new = trees
    root = _tree(tmp_path / "app")
    code, stderr = _interrupt(root, tmp_path, signum)
    assert code == 128 + signum, stderr
    name = signal.Signals(signum).name
    total = len(new)
    assert f"interrupted by {name}: {PAUSE_AFTER} of {total} files written, {total - PAUSE_AFTER} not written" in stderr
    now = _snapshot(root)
    written = sorted(p for p in new if now.get(p) == new[p])
    untouched = sorted(p for p in new if now.get(p) == old.get(p))
    assert len(written) == PAUSE_AFTER and len(written) + len(untouched) == total  # nothing in between
    for path in written:
        assert f"written {path}" in stderr
    for path in untouched:
        assert f"not written {path}: interrupted by {name} before it was written" in stderr
    assert not list(root.rglob("*.pgunify-tmp"))
    # the baseline holds every old file: putting it back gives the tree before the run
    latest = (root / ".pgunify/baseline/LATEST").read_text().strip()
    assert f".pgunify/baseline/{latest}/files" in stderr
    base = root / ".pgunify/baseline" / latest
    manifest = json.loads((base / "manifest.json").read_text())
    for entry in manifest["files"]:
        if entry["created_by_unify"]:
            (root / entry["path"]).unlink(missing_ok=True)
        else:
            shutil.copyfile(base / "files" / entry["path"], root / entry["path"])
    assert _snapshot(root) == old


def test_sigkill_leaves_each_file_old_or_new(trees, tmp_path):
    old, new = trees
    root = _tree(tmp_path / "app")
    code, _ = _interrupt(root, tmp_path, signal.SIGKILL)
    assert code == -signal.SIGKILL
    now = _snapshot(root)
    assert sum(now.get(p) == new[p] for p in new) == PAUSE_AFTER
    assert all(now.get(p) in (old.get(p), new[p]) for p in new)


def test_file_edited_during_the_write_keeps_the_edit(trees, tmp_path):
    old, new = trees
    root = _tree(tmp_path / "app")
    marker = tmp_path / "paused"
    run = _unify("migrate", str(root), "--write", "--format", "json",
                 env={"UNIFY_WRITE_PAUSE": f"{PAUSE_AFTER}:{marker}"})
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.02)
    edited = f"app/repo_{FILES - 1:02d}.py"
    (root / edited).write_bytes(old[edited] + b"# edited by hand meanwhile\n")
    marker.unlink()  # let the run go on
    stdout, stderr = run.communicate(timeout=120)
    assert run.returncode == 3, stderr  # a file not written: the write did not complete
    notes = json.loads(stdout)["notes"]
    assert f"not written {edited}: changed on disk during the write; left as it was edited" in notes
    assert (root / edited).read_bytes() == old[edited] + b"# edited by hand meanwhile\n"
    now = _snapshot(root)
    assert all(now[p] == new[p] for p in new if p != edited)
