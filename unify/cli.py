"""The `unify` command line: parse options, call one function, render. Exit codes live here."""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from unify import __version__

app = typer.Typer(
    name="unify",
    help=(
        "Move raw-SQL asyncpg repositories onto one shared SQLAlchemy Core async engine, "
        "keep every query intact, hand the schema to Alembic, and prove nothing changed.\n\n"
        "Start with `unify scan PATH`."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"unify {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    pass


@app.command()
def scan(
    path: Path = typer.Argument(..., exists=True, resolve_path=True, help="Directory (or one file) of the application to scan."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table for people, json (docs/scan-json.md) or markdown for a pull request."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to this file instead of standard output."),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="Exit 1 when a finding reaches this severity."),
    exclude: List[str] = typer.Option([], "--exclude", "-e", help="Gitignore-style pattern of paths to skip (repeatable)."),
    no_gitignore: bool = typer.Option(False, "--no-gitignore", help="Also scan files that .gitignore excludes."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Analyse files in this many processes."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show info findings and every environment variable read."),
) -> None:
    """Inventory every database access point and configuration hazard.

    Lists pools and engines, acquire sites, every asyncpg call (SQL, placeholders, casts,
    how the result is used), environment variables that configure the database with
    their defaults, deployment files, and schema sources. A file that does not parse is
    reported and skipped. Exit codes: 0 clean, 1 a finding reached --fail-on, 2 usage error.
    """
    from unify.facts.inventory import scan as run_scan

    inventory = run_scan(path, exclude=exclude, respect_gitignore=not no_gitignore, jobs=jobs)
    if output_format is OutputFormat.json:
        from unify.report.scan_data import to_data

        text = json.dumps(to_data(inventory), indent=2, ensure_ascii=False) + "\n"
        _emit(text, output)
    elif output_format is OutputFormat.markdown:
        from unify.report.scan_markdown import render_markdown

        _emit(render_markdown(inventory), output)
    else:
        from unify.report.scan_console import render_console

        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                render_console(inventory, Console(file=handle, width=160, no_color=True), verbose)
        else:
            render_console(inventory, Console(), verbose)
    if fail_on is not FailOn.never:
        threshold = {"info": 0, "warning": 1, "error": 2}[fail_on.value]
        if any(f.severity.rank >= threshold for f in inventory.findings):
            raise typer.Exit(1)


def _emit(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def main() -> None:
    app()
