"""The outcome of `pgunify schema` for people."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

from pgunify.schema.model import SchemaResult


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
    for table in result.migration_tables:
        console.print(escape(table.describe()))
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
    if result.proof is not None:
        print_proof(result.proof, console)
    if result.baseline and not result.failed:
        console.print("Next: `alembic upgrade head` on a new database, or `alembic stamp head` on one that has the "
                      "schema already (see MIGRATIONS.md); then `pgunify migrate` removes schema creation from start-up.")


def _counted(compared: dict[str, int]) -> str:
    return ", ".join(f"{n} {kind}{'' if n == 1 else ('es' if kind.endswith('x') else 's')}"
                     for kind, n in compared.items())


def print_proof(proof, console: Console) -> None:
    for item in proof.left_out:
        console.print(f"note: left out of the proof: {escape(item)}")
    if proof.error:
        console.print(f"[red]not proven[/red] {escape(proof.error)}")
        return
    target = f"alembic upgrade {proof.revision}"
    if proof.passed:
        console.print(f"[green]proven[/green] {target} on an empty database builds the schema the legacy start-up "
                      f"builds, object for object ({_counted(proof.compared)})")
        return
    if proof.differences:
        console.print(f"[red]proof failed[/red] {len(proof.differences)} difference(s) between the legacy start-up "
                      f"schema and {target}:")
        for difference in proof.differences:
            console.print(f"  - {escape(difference.describe())}")
        console.print("Each is part of the legacy schema the baseline does not build (or the other way round): find "
                      "where the application declares it (see docs/schema.md), then delete the baseline revision "
                      "and run `pgunify schema` again.")
    if proof.metadata_drift:
        console.print(f"[red]proof failed[/red] the unified metadata differs from the database {target} builds "
                      f"({len(proof.metadata_drift)} difference(s)):")
        for line in sorted(proof.metadata_drift):
            console.print(f"  - {escape(line)}")
        console.print("The metadata no longer matches the baseline: put the declarations back, or record the change "
                      "in a new revision (`alembic revision --autogenerate -m ...`).")
