"""A homegrown migrations table (`schema_migrations` and its kin): taken over or retired.

Before Alembic, many applications keep their own record of the SQL files they have applied.
Once Alembic owns the schema, `alembic_version` does that job. The table is then either

- **taken over**: code of the application still reads or writes it (usually the old runner
  at start-up). It stays an ordinary table of the baseline, and the baseline also writes the
  rows the legacy start-up wrote, so that a runner still in place finds every file applied
  and does nothing; or
- **retired**: nothing in the application's code touches it any more. It is left out of the
  metadata and the baseline, and the proof leaves it out too, saying so.

`[tool.pgunify.schema] migrations-table = "take-over" | "retire"` decides for every such table.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import asyncpg

from pgunify.schema.catalog import TableShape, plain_url
from pgunify.schema.model import RawObject

NAMES = frozenset({
    "schema_migrations", "schema_migration", "schema_version", "schema_versions", "schema_history",
    "migrations", "migration", "_migrations", "migration_history", "migrations_history", "applied_migrations",
    "db_version", "db_migrations", "database_version", "database_migrations",
})


@dataclass(frozen=True)
class MigrationTable:
    name: str
    decision: str  # "take-over" | "retire"
    reason: str
    seed: RawObject | None = None  # the rows the baseline writes when it takes the table over

    def describe(self) -> str:
        verb = "taken over" if self.decision == "take-over" else "retired"
        return f"homegrown migrations table {self.name}: {verb} ({self.reason})"


def decide(tables: list[str], sql_calls: list[tuple[str, str]], configured: str | None) -> list[tuple[str, str, str]]:
    """(table, decision, reason) for every table that records applied migrations by its name."""
    found = []
    for name in tables:
        if name.lower() not in NAMES:
            continue
        pattern = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)", re.IGNORECASE)
        users = [where for where, sql in sql_calls if pattern.search(sql) and not _creates(sql, name)]
        if configured:
            reason = "[tool.pgunify.schema] migrations-table"
            found.append((name, configured, reason))
        elif users:
            shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
            found.append((name, "take-over", f"the application's code still uses it: {shown}; the baseline "
                                             "writes the rows the legacy start-up wrote"))
        else:
            found.append((name, "retire", "no code of the application reads or writes it; alembic_version "
                                          "records the schema's version now"))
    return found


def _creates(sql: str, name: str) -> bool:
    return bool(re.match(rf"\s*CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?\"?{re.escape(name)}\b", sql, re.IGNORECASE))


def seed(url: str, shape: TableShape) -> RawObject | None:
    """An INSERT of the rows the legacy start-up wrote, in the columns without a server
    default (the version or file name; timestamps and ids are the server's to fill)."""
    columns = [c["name"] for c in shape.columns if c.get("default") is None and not c.get("identity")]
    if not columns:
        return None
    quoted = ", ".join(_ident(c) for c in columns)
    row_literal = " || ', ' || ".join(f"quote_nullable({_ident(c)}::text) || '::' || pg_typeof({_ident(c)})::text"
                                     for c in columns)

    async def run() -> list[str]:
        conn = await asyncpg.connect(plain_url(url))
        try:
            rows = await conn.fetch(f"SELECT {row_literal} FROM {_ident(shape.name)} ORDER BY {quoted}")
            return [r[0] for r in rows]
        finally:
            await conn.close()

    values = asyncio.run(run())
    if not values:
        return None
    body = ",\n".join(f"    ({v})" for v in values)
    return RawObject("rows", f"{shape.name} ({len(values)} rows)",
                     f"INSERT INTO {_ident(shape.name)} ({quoted}) VALUES\n{body}", f"DELETE FROM {_ident(shape.name)}")


def _ident(name: str) -> str:
    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'
