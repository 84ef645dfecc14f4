"""The per-file cache: hits for unchanged input, misses for any change that matters."""

from __future__ import annotations

from pathlib import Path

from pgunify import cache
from pgunify.facts.inventory import analyse_python_file


def test_unchanged_file_is_served_from_the_cache_and_changes_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "repo.py"
    source.write_text("import asyncpg\n\nasync def f(pool: asyncpg.Pool):\n    return await pool.fetchval('SELECT 1')\n")
    first = analyse_python_file(source, "repo.py")
    entries = list((tmp_path / "cache" / "facts").rglob("*"))
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
    path = next(p for p in Path(tmp_path, "facts").rglob(k))
    path.write_bytes(b"\x80not a pickle")
    assert cache.is_miss(cache.get("facts", k))


def test_disabled_cache_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("UNIFY_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    cache.put("facts", cache.key("facts", "a"), 1)
    assert not any(tmp_path.iterdir())
