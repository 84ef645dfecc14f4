"""The per-file cache: hits for unchanged input, misses for any change that matters; where
it lives, what it prunes, and that it never unpickles what another user could have written."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pgunify import __version__, cache
from pgunify.facts.inventory import analyse_python_file


def _generation(base: Path) -> Path:
    return base / f"{__version__}-{cache.code_fingerprint()}"


def test_unchanged_file_is_served_from_the_cache_and_changes_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "repo.py"
    source.write_text("import asyncpg\n\nasync def f(pool: asyncpg.Pool):\n    return await pool.fetchval('SELECT 1')\n")
    first = analyse_python_file(source, "repo.py")
    entries = list((_generation(tmp_path / "cache") / "facts").rglob("*"))
    assert any(p.is_file() for p in entries)
    assert analyse_python_file(source, "repo.py") == first
    source.write_text(source.read_text().replace("SELECT 1", "SELECT 2"))
    changed = analyse_python_file(source, "repo.py")
    assert changed.calls[0].sql == "SELECT 2"
    # the same bytes under another path are a different entry (locations name the path)
    assert analyse_python_file(source, "other.py").calls[0].location.path == "other.py"


def test_damaged_entries_are_misses(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(tmp_path))
    k = cache.key("facts", "x.py", b"data")
    cache.put("facts", k, {"value": 1})
    assert cache.get("facts", k) == {"value": 1}
    path = next(p for p in _generation(tmp_path).rglob(k))
    path.write_bytes(b"\x80not a pickle")
    assert cache.is_miss(cache.get("facts", k))


def test_disabled_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    cache.put("facts", cache.key("facts", "a"), 1)
    assert not any(tmp_path.iterdir())


def test_the_default_location_is_the_platforms_user_cache_folder(tmp_path, monkeypatch):
    import platformdirs

    monkeypatch.delenv("UNIFY_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    expected = Path(platformdirs.user_cache_dir("pgunify", appauthor=False))
    assert cache.cache_dir() == expected
    cache.put("facts", cache.key("facts", "b"), 2)
    if os.name == "posix" and "linux" in os.sys.platform:
        assert expected == tmp_path / "xdg" / "pgunify"
        assert (_generation(expected) / "facts").is_dir()
        assert expected.stat().st_mode & 0o077 == 0  # created private


def test_the_first_write_prunes_older_versions_and_stale_checkouts_only(tmp_path, monkeypatch):
    base = tmp_path / "cache"
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(base))
    week = cache.STALE_AFTER
    folders = {
        "0.0.1-0123456789abcdef": "pruned",  # an older version
        "facts": "pruned",  # the unversioned layout of earlier versions
        f"{__version__}-00000000000000aa": "pruned",  # this version, another checkout, unused for long
        f"{__version__}-00000000000000bb": "kept",  # this version, another checkout, in use
        "999.0-0123456789abcdef": "kept",  # a newer version, installed elsewhere
        "notes": "kept",  # not ours
    }
    for name in folders:
        (base / name / "facts").mkdir(parents=True)
        (base / name / "facts" / "entry").write_bytes(b"x")
    old = time.time() - week - 60
    os.utime(base / f"{__version__}-00000000000000aa", (old, old))
    cache.put("facts", cache.key("facts", "c"), 3)
    for name, fate in folders.items():
        assert (base / name).exists() == (fate == "kept"), name
    assert cache.get("facts", cache.key("facts", "c")) == 3


def test_nothing_is_read_or_written_where_other_users_can_write(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(shared))
    k = cache.key("facts", "d")
    cache.put("facts", k, {"value": 4})
    assert cache.get("facts", k) == {"value": 4}
    entry = next(_generation(shared).rglob(k))

    # an entry another user could have replaced is a miss, not a pickle to load
    entry.chmod(0o666)
    assert cache.is_miss(cache.get("facts", k))
    entry.chmod(0o600)
    assert cache.get("facts", k) == {"value": 4}

    # a base folder writable by others (without the sticky bit) turns the cache off
    other = tmp_path / "open"
    other.mkdir()
    other.chmod(0o777)
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(other / "cache"))
    assert cache.cache_dir() is None
    cache.put("facts", k, {"value": 5})
    assert not any(other.iterdir())

    # the same folder with the sticky bit (as /tmp) is fine: others cannot rename what is ours
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(sticky / "cache"))
    assert cache.cache_dir() == sticky / "cache"


def test_a_tree_seen_whole_takes_the_model_and_the_closure_check_from_the_cache(tmp_path, monkeypatch):
    import shutil

    from pgunify import codemods
    from pgunify.config import load_settings
    from pgunify.rewrite import closure, runner

    monkeypatch.setenv("UNIFY_CACHE_DIR", str(tmp_path / "cache"))
    tree = tmp_path / "app"
    shutil.copytree(Path(__file__).resolve().parents[1] / "examples" / "pepgmp", tree,
                    ignore=shutil.ignore_patterns(".venv", "__pycache__", ".pgunify"))
    names = tuple(c.info.name for c in codemods.select())
    built = []
    build = closure.Program.build
    monkeypatch.setattr(closure.Program, "build", lambda *a, **k: built.append(1) or build(*a, **k))

    def migrate():
        built.clear()
        result, plan = runner.run(tree, names, load_settings(tree), import_check=False)
        return result, plan, len(built)

    cold, cold_plan, cold_builds = migrate()
    warm, warm_plan, warm_builds = migrate()
    assert (cold_builds, warm_builds) == (2, 0)  # the model of the tree before, and of the tree after
    assert warm_plan == cold_plan and warm_plan.receivers
    assert [(o.path, getattr(o, "new", None)) for o in warm.outcomes] == \
        [(o.path, getattr(o, "new", None)) for o in cold.outcomes]
    assert warm.closure == cold.closure
    # one file's text differs: both models are built again
    repo = next(p for p in sorted(tree.rglob("*.py")) if "fetch" in p.read_text())
    repo.write_text(repo.read_text() + "\n# a comment\n")
    assert migrate()[2] == 2
