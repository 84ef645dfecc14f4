"""The generated monorepo of the codemod benchmark: deterministic, realistic in its mix, and
every file valid Python that pgunify can migrate."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from codemod_tree import generate  # noqa: E402


def snapshot(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8") for p in sorted(root.rglob("*.py"))}


def test_same_seed_same_tree_other_seed_other_names(tmp_path):
    first = generate(tmp_path / "a", files=80, seed=5)
    again = generate(tmp_path / "b", files=80, seed=5)
    other = generate(tmp_path / "c", files=80, seed=6)
    assert snapshot(tmp_path / "a") == snapshot(tmp_path / "b")
    assert (first.files, first.lines) == (again.files, again.lines)
    assert set(snapshot(tmp_path / "a")) != set(snapshot(tmp_path / "c"))
    assert other.files == first.files == 80


def test_mix_of_modules_is_like_a_real_service(tmp_path):
    stats = generate(tmp_path / "t", files=300, seed=1)
    files = snapshot(tmp_path / "t")
    assert stats.files == len(files) == 300
    assert 0.12 <= stats.asyncpg_files / stats.files <= 0.22
    assert stats.lines / stats.files > 120
    for source in files.values():
        ast.parse(source)
    repositories = [text for path, text in files.items() if "/repositories/" in path and text]
    joined = "\n".join(repositories)
    for form in (".acquire()", ".transaction()", ".prepare(", ".cursor(", ".fetchrow(", ".fetchval(", ".fetch(",
                 ".execute(", ".executemany("):
        assert form in joined, form
    kinds = {path.split("/")[-2] for path in files}
    assert {"repositories", "models", "services", "routers", "utils"} <= kinds
    assert len({path.rsplit("/", 1)[-1] for path in files}) > 0.8 * len(files)  # varied names
