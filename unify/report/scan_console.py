"""The scan for people at a terminal: rich tables, findings last so they stay on screen."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unify.facts.model import Inventory, Severity
from unify.report.scan_data import summary

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def _sql(call) -> str:
    if call.sql is None:
        return f"[dim]{call.sql_origin}[/dim]"
    flat = " ".join(call.sql.split())
    return escape(flat[:70] + ("…" if len(flat) > 70 else ""))


def render_console(inv: Inventory, console: Console, verbose: bool = False) -> None:
    s = summary(inv)
    factories = inv.all("factories")
    if factories:
        table = Table(title=f"Pools, engines and session factories ({len(factories)})", title_justify="left")
        for col in ("where", "api", "assigned to", "url", "options"):
            table.add_column(col, overflow="fold")
        for f in factories:
            table.add_row(str(f.location), f.api, f.target or "", escape(f.url or ""),
                          escape(", ".join(f"{k}={v}" for k, v in f.options.items())))
        console.print(table)

    env = [e for e in inv.all("env_reads") if e.database_url or verbose]
    if env:
        table = Table(title="Database configuration read from the environment", title_justify="left")
        for col in ("where", "variable", "default", "set by deployment files"):
            table.add_column(col, overflow="fold")
        deployed = {d.name for d in inv.deployment}
        for e in env:
            table.add_row(str(e.location), e.name, escape(e.default or ""),
                          "yes" if e.name in deployed else ("[red]no[/red]" if inv.deployment_files else "[dim]no files[/dim]"))
        console.print(table)

    calls = inv.all("calls")
    if calls:
        table = Table(title=f"asyncpg call sites ({len(calls)})", title_justify="left")
        for col in ("where", "function", "receiver", "method", "SQL", "$n", "result use"):
            table.add_column(col, overflow="fold")
        for c in calls:
            table.add_row(str(c.location), c.function, f"{escape(c.receiver)} [dim]({c.receiver_kind})[/dim]", c.method,
                          _sql(c), ",".join(str(n) for n in c.placeholders),
                          escape(", ".join(c.result_use)))
        console.print(table)

    sources = list(inv.sql_files) + inv.all("schema_sources")
    if sources:
        table = Table(title="Schema sources", title_justify="left")
        for col in ("where", "kind", "detail"):
            table.add_column(col, overflow="fold")
        for src in sources:
            table.add_row(str(src.location), src.kind, escape(src.detail))
        console.print(table)

    if inv.problems:
        table = Table(title=f"Files skipped ({len(inv.problems)})", title_justify="left")
        table.add_column("file")
        table.add_column("reason", overflow="fold")
        for p in inv.problems:
            table.add_row(p.path, escape(p.error))
        console.print(table)

    shown = [f for f in inv.findings if verbose or f.severity is not Severity.INFO]
    hidden = len(inv.findings) - len(shown)
    if shown:
        console.print()
        console.print("[bold]Findings[/bold]")
        for f in shown:
            style = _STYLE[f.severity]
            console.print(f"[{style}]{f.severity.value:>7}[/{style}] {f.location or ''} [bold]{f.rule}[/bold]: {escape(f.message)}")
            if f.fix:
                console.print(f"          [green]fix:[/green] {escape(f.fix)}")
    console.print()
    counts = s["findings"]
    console.print(
        f"[bold]{s['files_scanned']}[/bold] files scanned, {s['files_with_database_access']} with database access: "
        f"{s['asyncpg_pools']} asyncpg pool(s), {s['sqlalchemy_engines']} SQLAlchemy engine(s), "
        f"{s['acquire_sites']} acquire sites, {s['sql_calls']} asyncpg calls ({s['dynamic_sql_calls']} dynamic SQL). "
        f"Findings: {counts['error']} error, {counts['warning']} warning, {counts['info']} info"
        + (f" ({hidden} info not shown; --verbose)" if hidden else "") + "."
    )
