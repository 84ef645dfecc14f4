"""Proof helpers for `pgunify schema`: the legacy schema, Alembic runs, pg_dump and reflection."""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

from pgunify.postgres import find_bindir
from pgunify.schema.build import build_legacy_database, layout, legacy_sources
from pgunify.schema.catalog import read_catalog


def legacy_schema(root: Path, url: str) -> None:
    """Create in `url` what the legacy application creates at start-up (its DDL, then create_all)."""
    where, inventory = layout(root)
    problems = build_legacy_database(url, where, legacy_sources(where, inventory))
    assert problems == [], problems


def alembic(root: Path, url_var: str, url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, url_var: url, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), *args],
                          cwd=root, env=env, capture_output=True, text=True)


def pg_dump_binary() -> Path:
    """pg_dump from the same place pgunify.postgres finds the server programs."""
    bindir, looked = find_bindir(os.environ.get("UNIFY_PG_BINDIR"))
    assert bindir is not None and (bindir / "pg_dump").is_file(), f"no pg_dump; looked at {looked}"
    return bindir / "pg_dump"


_NOISE = re.compile(r"^(--.*|SET .*|SELECT pg_catalog\.set_config.*|\\(un)?restrict .*|)$")


def schema_dump(url: str) -> list[str]:
    """`pg_dump --schema-only` without comments, settings and the alembic_version table."""
    completed = subprocess.run(
        [str(pg_dump_binary()), "--schema-only", "--no-owner", "--no-privileges", "--exclude-table=alembic_version",
         "--dbname", url], capture_output=True, text=True, check=True)
    return [line for line in completed.stdout.splitlines() if not _NOISE.match(line)]


def dump_difference(expected_url: str, actual_url: str) -> str:
    """A unified diff of the two schemas ('' when they are the same)."""
    return "\n".join(difflib.unified_diff(schema_dump(expected_url), schema_dump(actual_url),
                                          "legacy start-up schema", "alembic upgrade head", lineterm=""))


def reflected(url: str) -> dict:
    """Every table as the inspector sees it, in a form that compares by value."""
    catalog = read_catalog(url)
    shapes = {}
    for name, shape in catalog.tables.items():
        columns = [{**c, "type": repr(c["type"])} for c in shape.columns]
        shapes[name] = {"columns": columns, "pk": shape.pk, "fks": sorted(map(repr, shape.foreign_keys)),
                        "uniques": sorted(map(repr, shape.uniques)), "checks": sorted(map(repr, shape.checks)),
                        "indexes": sorted(map(repr, shape.indexes)), "comment": shape.comment}
    return {"tables": shapes, "raw": sorted((o.kind, o.name, o.create) for o in catalog.raw_objects)}


def leftovers(url: str) -> list[str]:
    """Everything in the public schema (and extensions) besides alembic_version."""
    dump = schema_dump(url)
    return [line for line in dump if line.startswith(("CREATE", "ALTER"))]


def normalise_revision(text: str) -> str:
    text = re.sub(r"\b[0-9a-f]{12}\b", "<rev>", text)
    return re.sub(r"Create Date: .*", "Create Date: <date>", text)
