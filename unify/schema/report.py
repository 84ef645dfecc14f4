"""The outcome of `unify schema` for people."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from unify.schema.model import SchemaResult


def print_result(result: SchemaResult, console: Console) -> None:
    for conflict in result.conflicts:
        console.print(f"[red]conflict[/red] {escape(conflict.describe())}")
    if result.conflicts:
        console.print("Nothing written: make the two definitions agree (or drop one), then run again.")
    for problem in result.problems:
        level, _, text = problem.partition(": ")
        colour = "red" if level == "error" else "yellow"
        console.print(f"[{colour}]{level}[/{colour}] {escape(text)}")
    if result.conflicts or not (result.raw_tables or result.orm_tables):
        return
    console.print(f"[bold]Unified metadata[/bold] {result.tables_module} ({result.tables_path})")
    console.print(f"  raw-SQL tables (Core): {', '.join(result.raw_tables) or 'none'}")
    console.print(f"  ORM tables (imported from the models): {', '.join(result.orm_tables) or 'none'}")
    if result.shared_tables:
        console.print(f"  defined in SQL and ORM with the same shape, kept once (ORM): {', '.join(result.shared_tables)}")
    if result.raw_objects:
        console.print("[bold]Carried as raw SQL[/bold] (op.execute in the baseline; MetaData cannot express them):")
        for item in result.raw_objects:
            console.print(f"  - {escape(item.describe())}")
    for rel in result.written:
        console.print(f"[green]written[/green] {escape(rel)}")
    for rel, why in result.kept:
        console.print(f"[yellow]kept[/yellow] {escape(rel)}: {escape(why)}")
    for note in result.notes:
        console.print(f"note: {escape(note)}")
    if result.baseline:
        console.print("Next: `alembic upgrade head` on a new database, or `alembic stamp head` on one that has the "
                      "schema already (see MIGRATIONS.md); then `unify migrate` removes schema creation from start-up.")
