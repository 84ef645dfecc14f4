"""`pgunify report ...`: work on reports already written, such as those of sharded runs."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape

app = typer.Typer(help="Work on JSON reports of earlier runs.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]},
                  pretty_exceptions_show_locals=False)  # a crash must not print local variables


class MergeFormat(str, Enum):
    json = "json"
    markdown = "markdown"


@app.command("merge")
def merge_command(
    reports: List[Path] = typer.Argument(..., help="JSON reports of `pgunify migrate` (or of `pgunify scan`) run with --shard K/N --format json, one per shard."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the merged report here instead of standard output."),
    output_format: MergeFormat = typer.Option(MergeFormat.json, "--format", "-f", help="json: the report the unsharded run gives; markdown: a review summary."),
) -> None:
    """Merge the JSON reports of the N shards of one run into the report of the whole run.

    Exit codes: 0 merged, 2 the reports do not make up one run (a shard missing or twice,
    different trees, options or pgunify versions) or cannot be read.
    """
    from pgunify.report.merge import MergeError, merge_files, render_markdown

    try:
        kind, merged = merge_files(reports)
    except MergeError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    if kind == "scan":
        from pgunify.report.scan_data import to_data
        from pgunify.report.scan_markdown import render_markdown as render_scan

        text = json.dumps(to_data(merged), indent=2, ensure_ascii=False) + "\n" if output_format is MergeFormat.json \
            else render_scan(merged)
    else:
        text = json.dumps(merged, indent=2) + "\n" if output_format is MergeFormat.json else render_markdown(merged)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
