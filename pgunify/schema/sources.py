"""The schema sources a scan found, turned into what the schema build needs.

Test code creates and drops tables of its own, so nothing under a tests directory (or in a
test module) counts as a schema source.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pgunify.facts.model import Inventory
from pgunify.schema.model import DdlScript


def is_test_path(rel: str) -> bool:
    path = PurePosixPath(rel)
    return any(part in ("tests", "test") for part in path.parts[:-1]) or path.name.startswith("test_") \
        or path.name == "conftest.py"


def ddl_scripts(root: Path, inventory: Inventory) -> tuple[list[DdlScript], list[str]]:
    """SQL files first (in path order), then DDL executed from Python code, in file order."""
    scripts: list[DdlScript] = []
    problems: list[str] = []
    for source in sorted(inventory.sql_files, key=lambda s: s.location.path):
        rel = source.location.path
        if is_test_path(rel):
            continue
        try:
            scripts.append(DdlScript(rel, (root / rel).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(f"{rel}: cannot read: {exc}")
    seen: set[str] = set()
    ddl_lines = {(f.path, s.location.line) for f in inventory.files for s in f.schema_sources if s.kind == "ddl-in-code"}
    for call in sorted(inventory.all("calls"), key=lambda c: c.location):
        if (call.location.path, call.location.line) not in ddl_lines or call.sql is None:
            continue
        if is_test_path(call.location.path) or call.sql.strip() in seen:
            continue
        seen.add(call.sql.strip())
        scripts.append(DdlScript(str(call.location), call.sql))
    return scripts, problems


def orm_files(inventory: Inventory) -> list[str]:
    """Files that declare ORM models or call metadata.create_all (relative paths)."""
    found = set()
    for facts in inventory.files:
        if is_test_path(facts.path):
            continue
        if facts.orm_tables or any(s.kind == "metadata-create-all" for s in facts.schema_sources):
            found.add(facts.path)
    return sorted(found)


def model_files(inventory: Inventory) -> list[str]:
    return sorted(f.path for f in inventory.files if f.orm_tables and not is_test_path(f.path))
