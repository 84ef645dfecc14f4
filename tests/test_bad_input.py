"""`pgunify scan` and `pgunify migrate` on bad input: every bad file gets its own message in the
console summary, the JSON and the Markdown report, and the rest of the run goes on.

Permission tests hold for root as well: pgunify honours permission bits as the user's intent.
"""

from __future__ import annotations

import json
import sys
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scan_helpers import write_tree
from pgunify.cli import app

runner = CliRunner()

REPOSITORY = """\
import asyncpg


class AlertRepository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def get(self, alert_id):
        async with self.pool.acquire() as conn:
            return await conn.fetchrow("SELECT * FROM alerts WHERE id = $1", alert_id)
"""

# the application's own pool: the repositories move with it
POOL = """\
import os

import asyncpg


async def open_pool():
    return await asyncpg.create_pool(os.environ["DATABASE_URL"])
"""

# path -> the words its message must hold
EXPECTED = {
    "bad/syntax.py": "syntax error at line 2, column 7",
    "bad/py2.py": "Missing parentheses in call to 'print'",
    "bad/binary.py": "binary content (NUL bytes)",
    "bad/undecodable.py": "cannot decode source",
    "bad/huge.py": "too large to analyse (5.3 MiB, the limit is 2.0 MiB",
    "bad/link.py": "symlink (-> ../good/plain.py); not followed",
    "bad/loop_a.py": "symlink loop (-> loop_b.py)",
    "bad/dangling.py": "broken symlink (-> gone.py, which does not exist)",
    "bad/up": "symlink to a directory that contains it (-> ..), a loop",
}
# files that are unusual but fine: read, analysed and migrated
GOOD = ("good/plain.py", "good/latin1.py", "good/bom.py", "good/crlf.py", "good/tabs.py")


def _bad_tree(root: Path) -> Path:
    huge = REPOSITORY + "".join(f"PADDING_{i} = 'execute fetch {i:>60}'\n" for i in range(60_000))
    assert len(huge) > 5 * 1024 * 1024
    write_tree(root, {
        "good/db.py": POOL,
        "good/plain.py": REPOSITORY,
        "good/latin1.py": ("# -*- coding: latin-1 -*-\n# café crème\n" + REPOSITORY).encode("latin-1"),
        "good/bom.py": b"\xef\xbb\xbf" + REPOSITORY.encode(),
        "good/crlf.py": REPOSITORY.replace("\n", "\r\n").encode(),
        "good/tabs.py": REPOSITORY.replace("    ", "\t").encode(),
        "bad/syntax.py": "import asyncpg\ndef f(:\n    pass\n",
        "bad/py2.py": "import asyncpg\nprint 'hello'\n",
        "bad/binary.py": b"import asyncpg\x00\x01\x02\xff",
        "bad/undecodable.py": b"import asyncpg\nX = '\xff\xfe'\n",
        "bad/huge.py": huge.encode(),
    })
    os.symlink("../good/plain.py", root / "bad/link.py")
    os.symlink("loop_b.py", root / "bad/loop_a.py")
    os.symlink("loop_a.py", root / "bad/loop_b.py")
    os.symlink("gone.py", root / "bad/dangling.py")
    os.symlink("..", root / "bad/up")
    return root


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory) -> Path:
    return _bad_tree(tmp_path_factory.mktemp("bad") / "app")


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_scan_json_names_every_bad_file_and_scans_the_rest(bad_tree):
    result = runner.invoke(app, ["scan", str(bad_tree), "--format", "json", "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    problems = {p["path"]: p["error"] for p in data["problems"]}
    for path, words in EXPECTED.items():
        assert words in problems.get(path, ""), (path, problems.get(path))
    assert set(problems) == set(EXPECTED) | {"bad/loop_b.py"}
    # every unusual but valid file is analysed: one call each
    assert sorted(c["location"]["path"] for c in data["calls"]) == sorted(GOOD)
    assert data["summary"]["files_skipped"] == len(problems)
    skipped_findings = {f["location"]["path"] for f in data["findings"] if f["rule"] == "file-skipped"}
    assert skipped_findings == set(problems)


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_scan_console_and_markdown_name_every_bad_file(bad_tree, fmt):
    result = runner.invoke(app, ["scan", str(bad_tree), "--format", fmt, "--fail-on", "never"],
                           env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    text = _flat(result.stdout)
    for path, words in EXPECTED.items():
        assert path in text and _flat(words) in text, path


def test_migrate_reports_every_bad_file_in_console_json_and_markdown(bad_tree, tmp_path):
    data = json.loads(runner.invoke(app, ["migrate", str(bad_tree), "--format", "json"]).stdout)
    by_path = {f["path"]: f for f in data["files"]}
    for path, words in EXPECTED.items():
        assert by_path[path]["status"] == "skipped" and words in by_path[path]["reason"], path
    for path in GOOD:
        assert by_path[path]["status"] == "changed", path
    assert any(n.startswith("not a git repository") and "this run writes nothing" in n for n in data["notes"])

    report = tmp_path / "review.md"
    console = runner.invoke(app, ["migrate", str(bad_tree), "--report", str(report)], env={"COLUMNS": "400"})
    assert console.exit_code == 1  # changes pending
    summary, markdown = _flat(console.stderr), _flat(report.read_text())
    assert "## Not migrated" in report.read_text() and "not a git repository" in markdown
    for path, words in EXPECTED.items():
        assert f"skipped {path}: " in summary and _flat(words) in summary, path
        assert f"| {path} | skipped | " in markdown and _flat(words) in markdown, path


def _encoding_cases(root: Path) -> dict[str, bytes]:
    files = {name: (root / name).read_bytes() for name in GOOD}
    return files


def test_write_keeps_encoding_bom_line_endings_tabs_and_mode(tmp_path):
    root = _bad_tree(tmp_path / "app")
    (root / "good/crlf.py").chmod(0o640)
    before = _encoding_cases(root)
    result = runner.invoke(app, ["migrate", str(root), "--write"])
    assert result.exit_code == 0, result.output
    after = _encoding_cases(root)
    assert all(after[name] != before[name] for name in GOOD)
    latin = after["good/latin1.py"]
    assert latin.startswith(b"# -*- coding: latin-1 -*-\n# caf\xe9 cr\xe8me\n")
    latin.decode("latin-1")
    with pytest.raises(UnicodeDecodeError):
        latin.decode("utf-8")
    assert after["good/bom.py"].startswith(b"\xef\xbb\xbf") and after["good/bom.py"].count(b"\xef\xbb\xbf") == 1
    crlf = after["good/crlf.py"]
    assert crlf.count(b"\n") > 5 and crlf.count(b"\r\n") == crlf.count(b"\n")
    assert stat.S_IMODE((root / "good/crlf.py").stat().st_mode) == 0o640
    tabs = after["good/tabs.py"].decode()
    assert "\n\t\tasync with" in tabs and "\n    " not in tabs
    for name in GOOD:  # the same code, whatever the bytes around it
        compile(after[name], name, "exec")
    # the bad files are untouched, the symlinks still symlinks
    assert (root / "bad/link.py").is_symlink() and os.readlink(root / "bad/link.py") == "../good/plain.py"
    assert (root / "bad/syntax.py").read_text() == "import asyncpg\ndef f(:\n    pass\n"
    assert not list(root.rglob("*.pgunify-tmp"))


@pytest.fixture
def small_tree(tmp_path) -> Path:
    root = tmp_path / "app"
    # packages: two folders of bare modules would give the generated modules no single place
    write_tree(root, {"repo/__init__.py": "", "repo/db.py": POOL, "repo/alerts.py": REPOSITORY,
                      "repo/users.py": REPOSITORY.replace("alerts", "users"),
                      "locked/__init__.py": "", "locked/events.py": REPOSITORY.replace("alerts", "events")})
    return root


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("locked, words", [
    ("locked/events.py", "locked/events.py: read-only file (mode 0444); nothing was written"),
    ("locked", "locked/events.py: directory locked is read-only (mode 0555)"),
])
def test_read_only_file_or_directory_stops_the_whole_write(small_tree, tmp_path, locked, words):
    target = small_tree / locked
    target.chmod(0o444 if target.is_file() else 0o555)
    before = _snapshot(small_tree)
    try:
        report = tmp_path / "report.md"
        result = runner.invoke(app, ["migrate", str(small_tree), "--write", "--report", str(report)],
                               env={"COLUMNS": "400"})
        assert result.exit_code == 3, result.output  # the write did not complete: the tool failed
        assert f"not written {words}" in _flat(result.stderr)
        assert f"not written {words}" in _flat(report.read_text())
        assert _snapshot(small_tree) == before  # nothing written, not even the baseline
        assert not (small_tree / ".pgunify").exists()
        as_json = runner.invoke(app, ["migrate", str(small_tree), "--write", "--format", "json"])
        assert any(f"not written {words}" in _flat(n) for n in json.loads(as_json.stdout)["notes"])
    finally:
        target.chmod(0o644 if target.is_file() else 0o755)
    done = runner.invoke(app, ["migrate", str(small_tree), "--write"])
    assert done.exit_code == 0, done.output
    assert b"self.pool.connect()" in (small_tree / "locked/events.py").read_bytes()


def test_huge_file_limit_can_be_raised(small_tree, monkeypatch):
    (small_tree / "repo/alerts.py").write_text(REPOSITORY + "# " + "x" * 3000 + "\n")
    monkeypatch.setenv("UNIFY_MAX_FILE_BYTES", "2000")
    data = json.loads(runner.invoke(app, ["migrate", str(small_tree), "--format", "json"]).stdout)
    (alerts,) = [f for f in data["files"] if f["path"] == "repo/alerts.py"]
    assert alerts["status"] == "skipped" and "the limit is 0.0 MiB" in alerts["reason"]
    monkeypatch.setenv("UNIFY_MAX_FILE_BYTES", "100000")
    data = json.loads(runner.invoke(app, ["migrate", str(small_tree), "--format", "json"]).stdout)
    (alerts,) = [f for f in data["files"] if f["path"] == "repo/alerts.py"]
    assert alerts["status"] == "changed"


def test_symlinked_file_is_never_written_through(small_tree):
    outside = small_tree.parent / "outside.py"
    outside.write_text(REPOSITORY)
    os.symlink(outside, small_tree / "repo/linked.py")
    result = runner.invoke(app, ["migrate", str(small_tree), "--write"], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    assert "skipped repo/linked.py: symlink (->" in _flat(result.stderr)
    assert outside.read_text() == REPOSITORY and (small_tree / "repo/linked.py").is_symlink()


def test_unlistable_directory_is_reported(small_tree, monkeypatch):
    import pgunify.files as files

    real_scandir = os.scandir

    def refusing(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(files.os, "scandir", refusing)
    data = json.loads(runner.invoke(app, ["scan", str(small_tree), "--format", "json"]).stdout)
    assert {p["path"]: p["error"] for p in data["problems"]} == {"locked": "cannot list directory: Permission denied"}
    assert {c["location"]["path"] for c in data["calls"]} == {"repo/alerts.py", "repo/users.py"}


def test_a_file_newer_than_the_running_python_is_failed_with_that_reason(tmp_path):
    """libcst reads syntax this interpreter's compiler does not (PEP 695 generics on 3.11): the
    rewritten file cannot be byte-compiled here, and the message says why, not that the rewrite broke it."""
    root = tmp_path / "app"
    write_tree(root, {"repo/__init__.py": "", "repo/db.py": POOL,
                      "repo/alerts.py": REPOSITORY + "\n\nclass Box[T]:\n    item: T\n"})
    data = json.loads(runner.invoke(app, ["migrate", str(root), "--format", "json"]).stdout)
    outcome = {f["path"]: f for f in data["files"]}["repo/alerts.py"]
    if sys.version_info >= (3, 12):  # this interpreter reads the syntax: the file is simply migrated
        assert outcome["status"] == "changed"
    else:
        assert outcome["status"] == "failed"
        assert "cannot compile this file even before the migration" in outcome["error"]
