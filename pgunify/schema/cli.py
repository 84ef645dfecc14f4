"""`pgunify schema PATH` and `pgunify schema check PATH --dsn URL`.

Click groups cannot take a positional argument next to subcommands, so the group runs
`build` whenever its first argument is not one of its commands: both spellings work, and
`pgunify schema build PATH` is the same as `pgunify schema PATH`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from typer.core import TyperGroup

from pgunify.report.console import make_console

DEFAULT_COMMAND = "build"


class DefaultCommandGroup(TyperGroup):
    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Hand the whole schema (SQL files, DDL in code, ORM models) to one Alembic history.\n\n"
         "`pgunify schema PATH` builds it; `pgunify schema check PATH --dsn URL` reports drift.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,  # a crash must not print local variables: URLs hold passwords
)


@app.command(DEFAULT_COMMAND)
def build(
    path: Path = typer.Argument(..., exists=True, file_okay=False, resolve_path=True,
                                help="Root of the application (after `pgunify migrate`)."),
    server: Optional[str] = typer.Option(None, "--server", envvar="UNIFY_DATABASE_URL", show_envvar=True,
                                         help="PostgreSQL server for the scratch databases "
                                         "(default: what docs/postgres.md finds)."),
) -> None:
    """Build the unified metadata module, the Alembic environment and the baseline revision, then
    prove the baseline: the legacy start-up schema and `alembic upgrade` compared object by object.

    Exit codes: 0 done and proven, 1 conflicting table definitions, a failed step or a difference
    the proof found (listed), 2 usage error.
    """
    from pgunify.config import ConfigError
    from pgunify.postgres import ProvisioningError
    from pgunify.schema.build import run_schema
    from pgunify.schema.report import print_result

    from pgunify.progress import Activity

    err = make_console(stderr=True)
    try:
        with Activity(err, "schema") as activity:
            activity.say("reading the schema sources")
            result = run_schema(path, server)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    except ProvisioningError as exc:
        err.print(f"[red]error:[/red] no PostgreSQL server for the scratch databases: {escape(str(exc))}")
        raise typer.Exit(2)
    print_result(result, make_console(soft_wrap=True))
    if result.failed:
        raise typer.Exit(1)


@app.command()
def check(
    path: Path = typer.Argument(..., exists=True, file_okay=False, resolve_path=True, help="Root of the application."),
    dsn: str = typer.Option(..., "--dsn", envvar="UNIFY_DATABASE_URL", show_envvar=True,
                            help="URL of the database to compare with the metadata (better in the "
                                 "environment than on a command line, where it lands in shell history)."),
) -> None:
    """Compare a live database with the unified metadata and list every difference.

    Exit codes: 0 no drift, 1 drift, 2 usage error, 3 the comparison could not run.
    """
    from pgunify.config import ConfigError
    from pgunify.dsn import looks_like_database_url, redact
    from pgunify.schema.build import layout
    from pgunify.schema.drift import check as run_check

    err = make_console(stderr=True)
    out = make_console()
    if not looks_like_database_url(dsn):
        err.print("[red]error:[/red] --dsn must be a database URL such as postgresql://user@host/db")
        raise typer.Exit(2)
    try:
        where, _ = layout(path)
    except ConfigError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2)
    if not (where.root / where.tables_path).is_file():
        err.print(f"[red]error:[/red] {where.tables_path} does not exist; run `pgunify schema {path}` first.")
        raise typer.Exit(2)
    from pgunify.progress import Activity

    with Activity(err, "comparing") as activity:
        activity.say(f"{redact(dsn)} with {where.tables_module}")
        report = run_check(where.import_root, where.tables_module, dsn, where.url_var)
    target = escape(redact(dsn))
    if report.error:
        err.print(f"[red]error:[/red] comparing {target} with {where.tables_module} failed: {escape(report.error)}")
        raise typer.Exit(3)  # the comparison did not run: no verdict on drift
    if not report.differences:
        out.print(f"no drift: {target} matches {where.tables_module}")
        return
    out.print(f"[bold]{len(report.differences)} difference(s)[/bold] between {target} and {where.tables_module}:")
    for difference in report.differences:
        out.print(f"  - {escape(difference)}")
    out.print("Fix: write a revision (`alembic revision --autogenerate -m ...`) for changes that belong in the "
              "schema, or bring the database back to the metadata; a database that predates the baseline is "
              "stamped with `alembic stamp head` once it matches.")
    raise typer.Exit(1)
