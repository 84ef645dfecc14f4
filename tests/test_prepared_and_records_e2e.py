"""A legacy application that reads its prepared statements' columns and checks its rows with
isinstance(row, asyncpg.Record). Migrated through the CLI, it prints exactly what it printed
on asyncpg, on a real server: the statements stay asyncpg's on the engine's connections, the
checks accept both records."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from pgunify.cli import app
from tests.example_tree import run_main, write_program

LEGACY = {
    "notes.py": """
        import asyncpg


        class Notes:
            def __init__(self, pool: asyncpg.Pool):
                self.pool = pool

            @classmethod
            async def open(cls, url: str) -> "Notes":
                return cls(await asyncpg.create_pool(url, min_size=1, max_size=2))

            async def columns(self):
                async with self.pool.acquire() as conn:
                    stmt = await conn.prepare("SELECT g AS id, 'n' || g AS name FROM generate_series(1, 3) g "
                                              "WHERE g = ANY($1::int[])")
                    names = [r["name"] for r in await stmt.fetch([1, 3])]
                    return names, [a.name for a in stmt.get_attributes()], [p.name for p in stmt.get_parameters()]

            async def first(self):
                row = await self.pool.fetchrow("SELECT 7 AS a, 'x' AS b")
                return isinstance(row, asyncpg.Record), dict(row)

            async def rows(self):
                async with self.pool.acquire() as conn:
                    rows = await conn.fetch("SELECT g FROM generate_series(1, 2) g")
                return [isinstance(r, asyncpg.Record) for r in rows], [r["g"] for r in rows]
    """,
    "main.py": """
        import asyncio
        import os

        from notes import Notes


        async def main():
            notes = await Notes.open(os.environ["DATABASE_URL"])
            print("columns", await notes.columns())
            print("first", await notes.first())
            print("rows", await notes.rows())


        asyncio.run(main())
    """,
}


def _write(root: Path) -> Path:
    return write_program(root, LEGACY)


def _run(root: Path, database_url: str) -> str:
    return run_main(root, database_url)


def test_prepared_statement_api_and_record_checks_behave_as_before(tmp_path, database_url):
    legacy = _write(tmp_path / "legacy")
    migrated = _write(tmp_path / "migrated")
    result = CliRunner().invoke(app, ["migrate", str(migrated), "--write", "--no-import-check"])
    assert result.exit_code == 0, result.output
    expected = _run(legacy, database_url)
    assert expected.splitlines() == [
        "columns (['n1', 'n3'], ['id', 'name'], ['int4[]'])",
        "first (True, {'a': 7, 'b': 'x'})",
        "rows ([True, True], [1, 2])",
    ]
    assert _run(migrated, database_url) == expected

    notes = "".join((migrated / "notes.py").read_text().split())  # as laid out to the line length
    assert "raw=awaitdriver_connection(conn)" in notes and "awaitraw.prepare(" in notes
    assert "isinstance(row,(asyncpg.Record,Record))" in notes and "isinstance(r,(asyncpg.Record,Record))" in notes
    assert "fromraw_sqlimportRecord," in notes

    # a second run finds nothing more to do
    again = CliRunner().invoke(app, ["migrate", str(migrated), "--no-import-check"])
    assert again.exit_code == 0, again.output
    assert "0 changes" in again.output or "nothing to change" in again.output.lower(), again.output
