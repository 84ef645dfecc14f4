"""A migrate run at the terminal: the diff, then a summary that fits on one screen."""

from __future__ import annotations

import signal
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pgunify.report.diff import colour, redacted, unified_diff
from pgunify.report.migrate_data import summary
from pgunify.rewrite.outcome import Changed, Failed, RunResult, Skipped


def print_diff(result: RunResult, console: Console) -> int:
    """Print the diff with passwords masked; return how many lines were masked.

    At a terminal the diff is coloured. Anywhere else (a pipe, a file, `> migrate.diff`) its
    text goes out exactly as it is: rich would expand tabs to spaces and turn `\r\n` into `\n`,
    and such a diff no longer applies to a file indented with tabs or with Windows line ends
    (and laying out a large diff through rich took longer than the rest of a cached run)."""
    masked = 0
    plain = not console.is_terminal or console.color_system is None
    for outcome in result.of(Changed):
        text, count = redacted(unified_diff(outcome))
        masked += count
        if plain:
            console.file.write(text)
        else:
            console.print(colour(text), end="", soft_wrap=True, highlight=False)
    if plain:
        console.file.flush()
    return masked


def print_interrupted(report, root: Path, console: Console) -> None:
    """Which files an interrupted write finished, which it left old, and how to go back."""
    name = signal.Signals(report.interrupted).name
    total = len(report.written) + len(report.not_written)
    console.print(f"[red]interrupted[/red] by {name}: {len(report.written)} of {total} files written, "
                  f"{len(report.not_written)} not written; each file is wholly old or wholly new.")
    for rel in report.written:
        console.print(f"[green]written[/green]     {escape(rel)}")
    for rel, reason in report.not_written:
        console.print(f"[yellow]not written[/yellow] {escape(rel)}: {escape(reason)}")
    if report.baseline is not None:
        where = report.baseline.relative_to(root) if report.baseline.is_relative_to(root) else report.baseline
        console.print(f"The old bytes of every written file are in {escape(str(where))}/files ({escape(str(where))}/"
                      "manifest.json marks the files pgunify created). To go back, copy them over the tree and delete the "
                      "created files (in a git work tree: git checkout -- . and remove the new files), then run "
                      "`pgunify migrate --write` again.")


def print_summary(result: RunResult, console: Console, wrote: bool) -> None:
    s = summary(result)
    verb = "changed" if wrote else "would change"
    table = Table(show_header=True, title="Changes by codemod and risk", title_justify="left")
    table.add_column("codemod")
    for risk in ("safe", "review", "manual"):
        table.add_column(risk, justify="right")
    extra = sorted({c.codemod for o in result.of(Changed) for c in o.changes} - set(result.codemods))
    for name in [*result.codemods, *extra]:
        counts = {"safe": 0, "review": 0, "manual": 0}
        for outcome in result.of(Changed):
            for change in outcome.changes:
                if change.codemod == name:
                    counts[change.risk.value] += 1
        table.add_row(name, *(str(counts[r]) for r in ("safe", "review", "manual")))
    console.print(table)
    for outcome in result.of(Skipped):
        console.print(f"[yellow]skipped[/yellow] {escape(outcome.path)}: {escape(outcome.reason)}")
    for outcome in result.of(Failed):
        console.print(f"[red]failed[/red]  {escape(outcome.path)}: {escape(outcome.error.splitlines()[0])}")
    for finding in result.closure:
        label = "[red]closure[/red]" if finding.blocking else "[yellow]asyncpg[/yellow]"
        console.print(f"{label} {escape(str(finding))}")
    for path, item in result.manual_sites:
        where = f"{path}:{item.line}" if item.line else path
        console.print(f"[red]manual[/red]  {escape(where)}: {escape(item.reason)}")
    for note in result.notes:
        console.print(f"[yellow]note[/yellow]    {escape(note)}")
    blocking = sum(1 for f in result.closure if f.blocking)
    console.print(f"closure check: {blocking} violation(s)" + (
        "; the application or its tests would break where listed, so nothing is written" if blocking else
        ": nothing of asyncpg's API is left on an object that became SQLAlchemy"))
    for item in result.manual:
        hint = f" ({item.suggestion})" if item.suggestion else ""
        console.print(f"[red]manual[/red]  {escape(item.where)}: {escape(item.reason)}{escape(hint)}")
    if result.manual:
        console.print(f"[red]stopped[/red]: {len(result.manual)} site(s) need a person first; nothing was written.")
    console.print(
        f"[bold]{s['files_changed']}[/bold] files {verb} ({s['files_created']} new), {s['files_unchanged']} unchanged, "
        f"{s['files_skipped']} skipped, {s['files_failed']} failed; {s['changes']} changes "
        f"({s['changes_by_risk']['safe']} safe, {s['changes_by_risk']['review']} review), "
        f"{s['left_alone']} sites left alone (see --report); {s['statements_proven']} SQL statements proven unchanged."
    )
