"""The scan as Markdown, fit for a pull request or an issue."""

from __future__ import annotations

from pgunify.facts.model import Inventory
from pgunify.report.scan_data import summary


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _sql_cell(call) -> str:
    if call.sql is None:
        return call.sql_origin
    flat = " ".join(call.sql.split())
    return f"`{_cell(flat[:90] + ('…' if len(flat) > 90 else ''))}`"


def render_markdown(inv: Inventory) -> str:
    s = summary(inv)
    out = ["# Database access inventory", ""]
    out.append(f"{s['files_scanned']} Python files scanned, {s['files_with_database_access']} touch the database; "
               f"{s['engines_and_pools']} pools/engines, {s['sql_calls']} SQL call sites "
               f"({s['dynamic_sql_calls']} dynamic), {s['files_skipped']} files skipped.")
    out.append("")
    out.append("## Findings")
    out.append("")
    if inv.findings:
        out.append("| severity | rule | where | what | fix |")
        out.append("|---|---|---|---|---|")
        for f in inv.findings:
            out.append(f"| {f.severity.value} | {f.rule} | {_cell(f.location or '')} | {_cell(f.message)} | {_cell(f.fix)} |")
    else:
        out.append("None.")
    out += ["", "## Pools, engines and session factories", "", "| where | api | assigned to | url | options |", "|---|---|---|---|---|"]
    for f in inv.all("factories"):
        options = ", ".join(f"{k}={v}" for k, v in f.options.items())
        out.append(f"| {f.location} | `{f.api}` | {_cell(f.target)} | {_cell(f.url)} | {_cell(options)} |")
    out += ["", "## Environment variables", "", "| where | variable | default | database URL |", "|---|---|---|---|"]
    for e in inv.all("env_reads"):
        out.append(f"| {e.location} | `{e.name}` | {_cell(e.default)} | {'yes' if e.database_url else ''} |")
    out += ["", "## SQL call sites", "", "| where | function | receiver | method | SQL | placeholders | casts | result use |",
            "|---|---|---|---|---|---|---|---|"]
    for c in inv.all("calls"):
        placeholders = ", ".join(f"${n}" for n in c.placeholders)
        casts = ", ".join(f"${n}::{t}" for n, t in c.casts)
        out.append(f"| {c.location} | {_cell(c.function)} | `{_cell(c.receiver)}` ({c.receiver_kind}) | {c.method} | "
                   f"{_sql_cell(c)} | {placeholders} | {_cell(casts)} | {_cell(', '.join(c.result_use))} |")
    out += ["", "## Schema sources", "", "| where | kind | detail |", "|---|---|---|"]
    for src in list(inv.sql_files) + inv.all("schema_sources"):
        out.append(f"| {src.location} | {src.kind} | {_cell(src.detail)} |")
    if inv.problems:
        out += ["", "## Files skipped", "", "| file | reason |", "|---|---|"]
        for p in inv.problems:
            out.append(f"| {p.path} | {_cell(p.error)} |")
    return "\n".join(out) + "\n"
