"""Inside a git work tree the files come from git itself, so git's ignore rules hold exactly:
negated patterns in a child .gitignore, .git/info/exclude, tracked and untracked files."""

from __future__ import annotations

from example_tree import git
from scan_helpers import write_tree
from pgunify.files import collect, walk

DB = "import asyncpg\n"


def tree(root):
    write_tree(root, {
        ".gitignore": "build_*.py\n",
        "app/.gitignore": "!build_keep.py\n",
        "app/build_keep.py": DB,  # re-included by the child .gitignore
        "app/build_other.py": DB,  # still ignored by the root one
        "app/models.py": DB,
        "local_tools/probe.py": DB,  # ignored by .git/info/exclude only
        "untracked.py": DB,  # neither tracked nor ignored: listed
        "docs/schema.sql": "CREATE TABLE t (id int);\n",
    })
    git(root, "init", "-q")
    (root / ".git/info/exclude").write_text("local_tools/\n")
    git(root, "add", "app/models.py", ".gitignore", "app/.gitignore")
    git(root, "commit", "-qm", "start")
    return root


def names(root, **options) -> list[str]:
    found = collect(root, **options)
    return [p.relative_to(root).as_posix() for p in found.python + found.sql]


def test_git_decides_what_is_ignored(tmp_path):
    root = tree(tmp_path / "repo")
    assert names(root) == ["untracked.py", "app/build_keep.py", "app/models.py", "docs/schema.sql"]


def test_without_gitignore_every_file_is_listed(tmp_path):
    root = tree(tmp_path / "repo")
    assert sorted(names(root, respect_gitignore=False)) == sorted([
        "untracked.py", "app/build_keep.py", "app/build_other.py", "app/models.py", "local_tools/probe.py",
        "docs/schema.sql"])


def test_user_excludes_apply_to_git_listing(tmp_path):
    root = tree(tmp_path / "repo")
    assert names(root, exclude=["app/"]) == ["untracked.py", "docs/schema.sql"]
    assert names(root, exclude=["*.sql", "/untracked.py"]) == ["app/build_keep.py", "app/models.py"]


def test_a_subdirectory_of_a_work_tree_lists_relative_to_itself(tmp_path):
    root = tree(tmp_path / "repo")
    assert [p.relative_to(root / "app").as_posix() for p in walk(root / "app")] == [
        ".gitignore", "build_keep.py", "models.py"]


def test_outside_git_the_gitignore_files_are_read(tmp_path):
    root = write_tree(tmp_path / "plain", {".gitignore": "build_*.py\n", "build_x.py": DB, "app.py": DB})
    assert names(root) == ["app.py"]
