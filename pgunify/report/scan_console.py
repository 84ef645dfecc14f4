"""The scan for people: rich tables at a terminal, one line per site elsewhere (CI logs,
pipes, files), so that every site's location and facts stay on a line `grep` can find.
Findings come last so they stay on screen."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from pgunify.facts.model import Inventory, Severity
from pgunify.report.scan_data import summary

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_SQL_SHOWN = 70  # characters of SQL a table cell shows; lines show all of it


@dataclass
class _Section:
    title: str
    columns: tuple[str, ...]  # the first is where the row is
    rows: list[tuple[str, ...]]


def _sql(call, whole: bool) -> str:
    if call.sql is None:
        return f"({call.sql_origin})"
    flat = " ".join(call.sql.split())
    if whole or len(flat) <= _SQL_SHOWN:
        return flat
    return flat[:_SQL_SHOWN] + "…"


def _sections(inv: Inventory, verbose: bool, whole_sql: bool) -> list[_Section]:
    sections = []
    factories = inv.all("factories")
    if factories:
        sections.append(_Section(
            f"Pools, engines and session factories ({len(factories)})",
            ("where", "api", "assigned to", "url", "options"),
            [(str(f.location), f.api, f.target or "", f.url or "",
              ", ".join(f"{k}={v}" for k, v in f.options.items())) for f in factories]))

    env = [e for e in inv.all("env_reads") if e.database_url or verbose]
    if env:
        deployed = {d.name for d in inv.deployment}
        sections.append(_Section(
            "Database configuration read from the environment",
            ("where", "variable", "default", "set by deployment files"),
            [(str(e.location), e.name, e.default or "",
              "yes" if e.name in deployed else ("no" if inv.deployment_files else "no files")) for e in env]))

    calls = inv.all("calls")
    if calls:
        sections.append(_Section(
            f"asyncpg call sites ({len(calls)})",
            ("where", "function", "receiver", "method", "SQL", "$n", "result use"),
            [(str(c.location), c.function, f"{c.receiver} ({c.receiver_kind})", c.method, _sql(c, whole_sql),
              ",".join(str(n) for n in c.placeholders), ", ".join(c.result_use)) for c in calls]))

    sources = list(inv.sql_files) + inv.all("schema_sources")
    if sources:
        sections.append(_Section("Schema sources", ("where", "kind", "detail"),
                                 [(str(s.location), s.kind, s.detail) for s in sources]))

    if inv.problems:
        sections.append(_Section(f"Files skipped ({len(inv.problems)})", ("file", "reason"),
                                 [(p.path, p.error) for p in inv.problems]))
    return sections


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _print_table(section: _Section, console: Console) -> None:
    table = Table(title=section.title, title_justify="left")
    for column in section.columns:
        table.add_column(column, overflow="fold")
    for row in section.rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def _print_lines(section: _Section, console: Console) -> None:
    console.print(Text(section.title, style="bold"), soft_wrap=True)
    for where, *rest in section.rows:
        fields = [f"{name}: {_one_line(value)}" for name, value in zip(section.columns[1:], rest) if value]
        console.print(Text("  ".join([where, *fields])), soft_wrap=True)


def render_console(inv: Inventory, console: Console, verbose: bool = False, lines: bool | None = None) -> None:
    """Tables at a terminal; `lines` (default: when the output is not a terminal) prints
    one line per site instead, none of them wrapped."""
    if lines is None:
        lines = not console.is_terminal
    s = summary(inv)
    for number, section in enumerate(_sections(inv, verbose, whole_sql=lines)):
        if lines:
            if number:
                console.print()
            _print_lines(section, console)
        else:
            _print_table(section, console)

    shown = [f for f in inv.findings if verbose or f.severity is not Severity.INFO]
    hidden = len(inv.findings) - len(shown)
    if shown:
        console.print()
        console.print("[bold]Findings[/bold]")
        for f in shown:
            style = _STYLE[f.severity]
            message = _one_line(f.message) if lines else f.message
            console.print(f"[{style}]{f.severity.value:>7}[/{style}] {escape(str(f.location or ''))} "
                          f"[bold]{escape(f.rule)}[/bold]: {escape(message)}", soft_wrap=lines)
            if f.fix:
                fix = _one_line(f.fix) if lines else f.fix
                console.print(f"          [green]fix:[/green] {escape(fix)}", soft_wrap=lines)
    console.print()
    counts = s["findings"]
    console.print(
        f"[bold]{s['files_scanned']}[/bold] files scanned, {s['files_with_database_access']} with database access: "
        f"{s['asyncpg_pools']} asyncpg pool(s), {s['sqlalchemy_engines']} SQLAlchemy engine(s), "
        f"{s['acquire_sites']} acquire sites, {s['sql_calls']} asyncpg calls ({s['dynamic_sql_calls']} dynamic SQL). "
        f"Findings: {counts['error']} error, {counts['warning']} warning, {counts['info']} info"
        + (f" ({hidden} info not shown; --verbose)" if hidden else "") + ".",
        soft_wrap=lines,
    )
