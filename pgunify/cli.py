"""The `pgunify` command line: parse options, call one function, render. Exit codes live here."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from pgunify import __version__
from pgunify.report.console import make_console

# Exit codes shared by every command (docs/exit-codes.md).
EXIT_OK = 0
EXIT_FOUND = 1  # findings, changes pending, differences or drift: the tool worked and has something to say
EXIT_USAGE = 2  # the command line or the configuration cannot be used
EXIT_FAILED = 3  # the tool itself failed: a file it could not process, a step that broke, a crash


app = typer.Typer(
    name="pgunify",
    help=(
        "Move raw-SQL asyncpg repositories onto one shared SQLAlchemy Core async engine, "
        "keep every query intact, hand the schema to Alembic, and prove nothing changed.\n\n"
        "Start with `pgunify scan PATH`."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,  # a crash must not print local variables: URLs hold passwords
)


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    markdown = "markdown"
    sarif = "sarif"
    github = "github"


class FailOn(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"
    never = "never"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pgunify {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
) -> None:
    pass


@app.command()
def scan(
    path: Path = typer.Argument(..., exists=True, resolve_path=True, help="Directory (or one file) of the application to scan."),
    output_format: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f", help="table for people, json (docs/scan.md), markdown for a pull request, sarif (2.1.0) for code scanning, github for GitHub Actions annotations."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Write the report to this file instead of standard output."),
    fail_on: FailOn = typer.Option(FailOn.error, "--fail-on", help="Exit 1 when a finding reaches this severity."),
    exclude: List[str] = typer.Option([], "--exclude", "-e", help="Gitignore-style pattern of paths to skip (repeatable)."),
    no_gitignore: bool = typer.Option(False, "--no-gitignore", help="Also scan files that .gitignore excludes."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0, help="Analyse files in this many processes (0: one per core)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show info findings and every environment variable read."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N: analyse only share K of N of the Python files (with --format json, `pgunify report merge` joins the shares)."),
) -> None:
    """Inventory every database access point and configuration hazard.

    Lists pools and engines, acquire sites, every asyncpg call (SQL, placeholders, casts,
    how the result is used), environment variables that configure the database with
    their defaults, deployment files, and schema sources. A file that does not parse is
    reported and skipped. Exit codes: 0 clean, 1 a finding reached --fail-on, 2 usage error,
    3 the tool failed.
    """
    from pgunify.facts.inventory import scan as run_scan

    from pgunify.config import ConfigError, load_settings

    err = Console(stderr=True)
    try:  # [tool.pgunify] as migrate reads it: exclude, respect-gitignore and jobs apply, unknown keys are errors
        settings = load_settings(path).with_overrides(exclude=exclude, jobs=jobs or None,
                                                      respect_gitignore=False if no_gitignore else None)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape_markup(str(exc))}")
        raise typer.Exit(2)
    share = _shard(shard, err)
    per_file: list = []
    from pgunify.progress import Activity

    with Activity(err, "scanning") as activity:
        activity.say(str(path))
        inventory = run_scan(path, exclude=settings.exclude, respect_gitignore=settings.respect_gitignore,
                             jobs=settings.workers, shard=share, per_file=per_file)
    if output_format is OutputFormat.json:
        from pgunify.report.scan_data import to_data

        data = to_data(inventory)
        if share is not None:
            from pgunify.files import collect
            from pgunify.report.merge import scan_shard_payload, scan_stamp

            total = len(collect(path, settings.exclude, settings.respect_gitignore).python)
            data.update(shard=scan_stamp(path if path.is_dir() else path.parent, settings, share),
                        shard_facts=scan_shard_payload(inventory, per_file, total))
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        _emit(text, output)
    elif output_format is OutputFormat.markdown:
        from pgunify.report.scan_markdown import render_markdown

        _emit(render_markdown(inventory), output)
    elif output_format is OutputFormat.sarif:
        from pgunify.report.scan_ci import to_sarif

        _emit(json.dumps(to_sarif(inventory), indent=2, ensure_ascii=False) + "\n", output)
    elif output_format is OutputFormat.github:
        from pgunify.report.scan_ci import render_github

        _emit(render_github(inventory), output)
    else:
        from pgunify.report.scan_console import render_console

        if output is not None:
            with output.open("w", encoding="utf-8") as handle:
                render_console(inventory, Console(file=handle, width=160, no_color=True), verbose)
        else:
            render_console(inventory, make_console(), verbose)
    if fail_on is not FailOn.never:
        threshold = {"info": 0, "warning": 1, "error": 2}[fail_on.value]
        if any(f.severity.rank >= threshold for f in inventory.findings):
            raise typer.Exit(1)


class MigrateFormat(str, Enum):
    text = "text"
    json = "json"


class ReportOrder(str, Enum):
    file = "file"
    risk = "risk"


def _names(values: List[str]) -> tuple[str, ...]:
    """--select a --select b and --select a,b both work."""
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def _print_codemods(console: Console) -> None:
    from rich.table import Table

    from pgunify import codemods

    table = Table(title="Codemods, in the order they run", title_justify="left")
    for col in ("name", "risk", "summary", "docs"):
        table.add_column(col, overflow="fold")
    for codemod in codemods.REGISTRY:
        info = codemod.info
        name = f"{info.name} (opt-in)" if info.opt_in else info.name
        table.add_row(name, info.risk.value, info.summary, info.docs)
    console.print(table)


@app.command()
def migrate(
    path: Optional[Path] = typer.Argument(None, exists=True, resolve_path=True, help="Root of the application to migrate."),
    write: bool = typer.Option(False, "--write", help="Apply the changes (default: dry run that prints the diff)."),
    allow_dirty: bool = typer.Option(False, "--allow-dirty", help="With --write: go on although the git work tree has uncommitted changes."),
    select: List[str] = typer.Option([], "--select", "-s", help="Run only these codemods (repeatable or comma-separated)."),
    extend_select: List[str] = typer.Option([], "--extend-select", help="Also run these opt-in codemods (repeatable or comma-separated)."),
    ignore: List[str] = typer.Option([], "--ignore", help="Do not run these codemods."),
    list_codemods: bool = typer.Option(False, "--list", help="List the codemods with their summary and risk, then exit."),
    exclude: List[str] = typer.Option([], "--exclude", "-e", help="Gitignore-style pattern of paths to skip (repeatable)."),
    no_gitignore: bool = typer.Option(False, "--no-gitignore", help="Also migrate files that .gitignore excludes."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Transform files in this many processes (default: one per core; output order stays the same)."),
    report: Optional[Path] = typer.Option(None, "--report", help="Write a Markdown review report (or JSON with --format json) to this file."),
    output_format: MigrateFormat = typer.Option(MigrateFormat.text, "--format", "-f", help="text: diff and summary; json: the run as data (docs/migrate.md)."),
    diff: Optional[bool] = typer.Option(None, "--diff/--no-diff", help="Print the unified diff, database passwords shown as *** (default: on for a dry run, off with --write)."),
    patch: Optional[Path] = typer.Option(None, "--patch", help="Write the exact unified diff, passwords as in the source, to this file (mode 0600) for `git apply`."),
    shard: Optional[str] = typer.Option(None, "--shard", help="K/N: transform and report only share K of N of the files (for N CI runners; `pgunify report merge` joins their JSON reports)."),
    report_order: ReportOrder = typer.Option(ReportOrder.file, "--report-order", help="Changes in the Markdown report per file in line order (file), or review changes first, then safe ones (risk)."),
    python: Optional[Path] = typer.Option(None, "--python", exists=True, dir_okay=False, help="The interpreter of the project's own environment, for the import check (default: .venv/bin/python or venv/bin/python in the project)."),
    import_check: bool = typer.Option(True, "--import-check/--no-import-check", help="Import every migrated module before and after, in a fresh interpreter of the project's environment (docs/closure.md)."),
) -> None:
    """Run the codemods: a reviewable diff by default, the changes themselves with --write.

    Exit codes: 0 nothing to change, 1 changes pending (or a site has to be settled by hand
    first: then nothing is written), 2 usage error (unknown codemod, bad configuration, dirty
    work tree without --allow-dirty), 3 the tool failed (a file could not be processed or
    written).
    """
    from pgunify import codemods
    from pgunify.config import ConfigError, load_settings

    console = make_console()
    err = make_console(stderr=True)
    if list_codemods:
        _print_codemods(console)
        raise typer.Exit(0)
    if path is None:
        err.print("[red]error:[/red] give the path of the application to migrate (or --list).")
        raise typer.Exit(2)
    try:
        settings = load_settings(path).with_overrides(
            select=_names(select), extend_select=_names(extend_select), ignore=_names(ignore), exclude=exclude,
            jobs=jobs, respect_gitignore=False if no_gitignore else None)
        chosen = codemods.select(settings.select, settings.ignore, settings.extend_select)
    except (ConfigError, codemods.UnknownCodemod) as exc:
        err.print(f"[red]error:[/red] {escape_markup(str(exc))}")
        raise typer.Exit(2)
    if not chosen:
        err.print("[red]error:[/red] --select/--ignore leave no codemod to run.")
        raise typer.Exit(2)
    share = _shard(shard, err)

    from pgunify.rewrite.runner import run
    from pgunify.rewrite.writing import apply_changes, git_state

    root = path if path.is_dir() else path.parent
    in_git, dirty = git_state(root)
    if write and in_git and dirty and not allow_dirty:
        shown = ", ".join(dirty[:5]) + (" ..." if len(dirty) > 5 else "")
        err.print(f"[red]error:[/red] the git work tree has uncommitted changes ({shown}); commit or stash them so the "
                  "migration is a diff of its own, or pass --allow-dirty.")
        raise typer.Exit(2)

    names = tuple(c.info.name for c in chosen)
    from pgunify.progress import Activity

    with Activity(err, "migrating") as activity:
        result, _plan = run(path, names, settings, jobs=settings.workers, progress=activity.count, shard=share,
                            python=python, import_check=import_check)
    if not in_git and write:
        result.notes.append("not a git repository: no uncommitted-changes check; the baseline snapshot under "
                            ".pgunify/baseline/ is the only copy of the old files")
    elif not in_git:
        result.notes.append("not a git repository: this run writes nothing; with --write, the baseline snapshot under "
                            ".pgunify/baseline/ will be the only copy of the old files")

    from pgunify.report.migrate_console import print_diff, print_summary
    from pgunify.rewrite.outcome import Changed, Failed

    changed = result.of(Changed)
    show_diff = diff if diff is not None else not write
    if output_format is MigrateFormat.text and show_diff:
        masked = print_diff(result, console)
        if masked and patch is None:
            err.print(f"[yellow]note[/yellow]    {masked} diff line(s) hold a database password, shown as ***: this diff "
                      "does not apply as printed; --patch FILE writes the exact patch for `git apply`.")
    if patch is not None:
        from pgunify.report.diff import exact_patch, write_private

        write_private(patch, exact_patch(changed))
    wrote = False
    outcome = None
    blocking = result.blocking
    if write and changed and blocking:
        result.notes.append(f"nothing written: {len(blocking)} problem(s) would leave the application broken "
                            "(listed below); fix or --exclude them and run again")
    elif write and changed:
        with Activity(err, "writing") as activity:
            activity.say(f"{len(changed)} files")
            outcome = apply_changes(Path(result.root), changed)
        wrote = True
        if outcome.interrupted is not None:
            from pgunify.report.migrate_console import print_interrupted

            print_interrupted(outcome, Path(result.root), err)
        # in the notes, so the summary and both report formats say which files were not written and why
        result.notes.extend(f"not written {rel}: {reason}" for rel, reason in outcome.not_written)
        if outcome.baseline is not None:
            result.notes.append(f"baseline of the old files: {outcome.baseline.relative_to(Path(result.root))}")
    if output_format is MigrateFormat.json:
        from pgunify.report.migrate_data import to_data

        sys.stdout.write(json.dumps(_stamped(to_data(result, include_diff=show_diff), path, settings, _plan, names, share, show_diff), indent=2) + "\n")
    if report is not None:
        if output_format is MigrateFormat.json:
            from pgunify.report.migrate_data import to_data

            report.write_text(json.dumps(_stamped(to_data(result), path, settings, _plan, names, share, True), indent=2) + "\n", encoding="utf-8")
        else:
            from pgunify.report.migrate_markdown import render_markdown

            report.write_text(render_markdown(result, report_order.value), encoding="utf-8")
    if output_format is MigrateFormat.text:
        print_summary(result, err, wrote)
    if outcome is not None and outcome.interrupted is not None:
        raise typer.Exit(128 + outcome.interrupted)  # the shell's convention for a run ended by a signal
    if result.of(Failed) or (wrote and outcome.not_written):
        raise typer.Exit(EXIT_FAILED)  # a file the codemods could not process, or a write that did not complete
    if blocking or (changed and not write):
        raise typer.Exit(EXIT_FOUND)


def _shard(text: Optional[str], err: Console) -> Optional[tuple[int, int]]:
    from pgunify.files import ShardError, parse_shard

    if text is None:
        return None
    try:
        return parse_shard(text)
    except ShardError as exc:
        err.print(f"[red]error:[/red] {escape_markup(str(exc))}")
        raise typer.Exit(2)


def _stamped(data: dict, path: Path, settings, plan, names, share, include_diff: bool) -> dict:
    """A shard's JSON report says which share of which tree and options it is, for the merge."""
    if share is None:
        return data
    from pgunify.report.merge import shard_stamp
    from pgunify.rewrite.runner import plan_fingerprint

    root = path if path.is_dir() else path.parent
    return {**data, "shard": shard_stamp(root, settings, plan_fingerprint(plan), names, share, include_diff)}


def escape_markup(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _emit(text: str, output: Optional[Path]) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


from pgunify.schema.cli import app as schema_app  # noqa: E402

app.add_typer(schema_app, name="schema")
app.add_typer(__import__("pgunify.report.merge_cli", fromlist=["app"]).app, name="report")

from pgunify.verify.cli import verify as _verify  # noqa: E402

app.command(name="verify")(_verify)


def main() -> None:
    """The installed `pgunify` command. An unexpected error ends with one line, passwords masked,
    and exit code 3; UNIFY_DEBUG=1 shows the traceback instead (without local variables)."""
    import os

    try:
        app()
    except (SystemExit, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("UNIFY_DEBUG", "").strip() not in ("", "0"):
            raise
        from pgunify.dsn import redact_text

        sys.stderr.write(f"pgunify: internal error: {redact_text(f'{type(exc).__name__}: {exc}')}\n"
                         "Run again with UNIFY_DEBUG=1 for the traceback.\n")
        raise SystemExit(EXIT_FAILED) from None
