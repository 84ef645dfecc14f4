"""`pgunify schema check`: differences between a live database and the unified metadata.

Alembic's compare_metadata does the comparison, in a subprocess (the metadata module imports
the application). The DSN travels in the environment, never on a command line, and every
message that leaves the child is redacted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pgunify.dsn import redact_text

_DSN_VARIABLE = "UNIFY_SCHEMA_CHECK_DSN"


@dataclass(frozen=True)
class DriftReport:
    differences: tuple[str, ...]
    error: str | None = None


def check(import_root: Path, tables_module: str, dsn: str, url_var: str, timeout: float = 120.0) -> DriftReport:
    env = {**os.environ, _DSN_VARIABLE: dsn, url_var: dsn, "PYTHONDONTWRITEBYTECODE": "1"}
    completed = subprocess.run([sys.executable, "-m", "pgunify.schema.drift", tables_module], cwd=import_root, env=env,
                               capture_output=True, text=True, timeout=timeout)
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-6:])
        return DriftReport((), redact_text(tail or "the comparison did not run"))
    data = json.loads(lines[-1])
    if data.get("error"):
        return DriftReport((), redact_text(data["error"]))
    return DriftReport(tuple(redact_text(d) for d in data["differences"]))


# --- the child ---------------------------------------------------------------------------


def _name(obj) -> str:
    return getattr(obj, "name", None) or str(obj)


def describe(diff) -> str:
    """One actionable line for one entry of compare_metadata()."""
    if isinstance(diff, list):  # column modifications come grouped
        return "; ".join(describe(d) for d in diff)
    kind = diff[0]
    if kind == "add_table":
        return f"table {diff[1].name}: in the metadata, missing from the database"
    if kind == "remove_table":
        return f"table {diff[1].name}: in the database, not in the metadata"
    if kind == "add_column":
        return f"column {diff[2]}.{diff[3].name}: in the metadata, missing from the database"
    if kind == "remove_column":
        return f"column {diff[2]}.{diff[3].name}: in the database, not in the metadata"
    if kind in ("modify_type", "modify_nullable", "modify_default", "modify_comment"):
        _, _, table, column, _, db_value, meta_value = diff
        what = kind.removeprefix("modify_").replace("default", "server default")
        return f"column {table}.{column}: {what} is {_plain(db_value)} in the database, {_plain(meta_value)} in the metadata"
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        where = "in the metadata, missing from the database" if kind == "add_index" else "in the database, not in the metadata"
        return f"index {index.name} on {index.table.name}: {where}"
    if kind in ("add_constraint", "remove_constraint", "add_fk", "remove_fk"):
        constraint = diff[1]
        where = "in the metadata, missing from the database" if kind.startswith("add") else "in the database, not in the metadata"
        label = "foreign key" if kind.endswith("fk") else type(constraint).__name__
        return f"{label} {_name(constraint)} on {constraint.table.name}: {where}"
    if kind in ("add_table_comment", "remove_table_comment"):
        return f"table {diff[1].name}: comment differs"
    return " ".join(str(part) for part in diff)


def _plain(value) -> str:
    if value is None:
        return "none"
    text = getattr(value, "arg", value)
    text = getattr(text, "text", text)
    try:
        from sqlalchemy.dialects import postgresql

        if hasattr(value, "compile") and not hasattr(value, "arg"):
            return str(value.compile(dialect=postgresql.dialect()))
    except Exception:  # noqa: BLE001 - fall back to the plain text
        pass
    return str(text)


def _compare(tables_module: str) -> dict:
    import asyncio
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    sys.path.insert(0, os.getcwd())
    module = importlib.import_module(tables_module)
    metadata = getattr(module, "all_metadata", None) or module.metadata
    url = make_url(os.environ[_DSN_VARIABLE]).set(drivername="postgresql+asyncpg")

    async def run() -> list:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                def compare(sync_conn):
                    context = MigrationContext.configure(sync_conn, opts={"compare_type": True,
                                                                          "compare_server_default": True})
                    return compare_metadata(context, metadata)
                return await conn.run_sync(compare)
        finally:
            await engine.dispose()

    return {"differences": [describe(d) for d in asyncio.run(run())]}


def main() -> None:
    try:
        result = _compare(sys.argv[1])
    except Exception as exc:  # noqa: BLE001 - the parent reports it
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write("\n" + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
