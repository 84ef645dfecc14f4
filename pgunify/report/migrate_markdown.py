"""The review report of a migrate run, to paste into a pull request."""

from __future__ import annotations

from pgunify import codemods
from pgunify.report.migrate_data import summary
from pgunify.rewrite.outcome import Changed, Failed, RunResult, Skipped, Unchanged

_RISK_HELP = {
    "safe": "behaviour-preserving by construction; a glance is enough",
    "review": "behaviour-preserving as far as the tool can show; read the diff",
    "manual": "not changed; a person has to decide",
}


def _cell(text: object) -> str:
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


_ORDERS = ("file", "risk")


def render_markdown(result: RunResult, order: str = "file") -> str:
    """The review report. `order`: changes per file in line order ("file"), or the `review`
    changes of every file first and the `safe` ones after ("risk")."""
    if order not in _ORDERS:
        raise ValueError(f"unknown order {order!r}; known: {', '.join(_ORDERS)}")
    s = summary(result)
    known = codemods.by_name()
    out = ["# pgunify migrate: review report", ""]
    if result.manual:
        out += ["## Stopped: to settle by hand first", "",
                "Nothing was written: each of these has to be settled before the migration can be applied.", "",
                "| where | codemod | reason | suggested change |", "|---|---|---|---|"]
        out += [f"| {m.where} | {m.codemod} | {_cell(m.reason)} | {_cell(m.suggestion)} |" for m in result.manual]
        out.append("")
    out.append(f"{s['files_changed']} files changed ({s['files_created']} created), {s['files_unchanged']} unchanged, "
               f"{s['files_skipped']} skipped, {s['files_failed']} failed; {s['changes']} changes, "
               f"{s['left_alone']} sites left alone. {s['statements_proven']} SQL statements rewritten, each proven to "
               "compile back to its original text (identical after renumbering parameters).")
    out += ["", "| risk | changes | meaning |", "|---|---|---|"]
    for risk, count in s["changes_by_risk"].items():
        out.append(f"| {risk} | {count} | {_RISK_HELP[risk]} |")
    out += ["", "## Codemods", "", "| codemod | changes | why | docs |", "|---|---|---|---|"]
    for name in result.codemods:
        info = known[name].info
        out.append(f"| `{name}` | {s['changes_by_codemod'].get(name, 0)} | {_cell(info.why)} | [{info.docs}]({info.docs}) |")
    blocking = [f for f in result.closure if f.blocking]
    out += ["", "## Closure check", ""]
    if blocking:
        out.append(f"{len(blocking)} violation(s): after this migration the application would call asyncpg's API on "
                   "objects that became SQLAlchemy, hand them to code written for asyncpg, or fail its own tests "
                   "(listed below). Nothing is written while any remains.")
    else:
        out.append("No violation: nothing of asyncpg's API is left on an object that became SQLAlchemy.")
    if result.closure:
        out += ["", "| where | call | finding | blocks the write |", "|---|---|---|---|"]
        for f in result.closure:
            out.append(f"| `{f.path}:{f.line}` | `{_cell(f.call)}` | {_cell(f.problem)} | {'yes' if f.blocking else 'no'} |")
    changed = result.of(Changed)
    if changed and order == "risk":
        out += ["", "## Changes by risk", ""]
        for risk in ("review", "safe"):
            rows = [(o.path, c) for o in changed for c in o.changes if c.risk.value == risk]
            out += [f"### {risk} ({len(rows)}): {_RISK_HELP[risk]}", ""]
            if rows:
                out += ["| where | codemod | what and why |", "|---|---|---|"]
                out += [f"| `{path}:{c.line}` | {c.codemod} | {_cell(c.description)} |" if c.line
                        else f"| `{path}` | {c.codemod} | {_cell(c.description)} |" for path, c in rows]
                out.append("")
    elif changed:
        out += ["", "## Changes", ""]
        for o in changed:
            out.append(f"### `{o.path}`{' (new file)' if o.old is None else ''}")
            out.append("")
            out.append("| line | codemod | risk | what and why |")
            out.append("|---|---|---|---|")
            for c in o.changes:
                out.append(f"| {c.line or ''} | {c.codemod} | {c.risk.value} | {_cell(c.description)} |")
            out.append("")
    left = [(o.path, i) for o in result.outcomes if isinstance(o, (Changed, Unchanged)) for i in o.left_alone]
    if left:
        out += ["## Left alone", ""]
        if result.manual_sites:
            out += [f"{len(result.manual_sites)} of these sites are marked **manual**: a person has to change them before "
                    "the migration can be written, so the run was refused and nothing was written.", ""]
        out += ["| where | codemod | reason | suggested change |", "|---|---|---|---|"]
        for path, i in left:
            where = f"{path}:{i.line}" if i.line else path
            marker = "**manual**: " if i.manual else ""
            out.append(f"| {where} | {i.codemod} | {marker}{_cell(i.reason)} | {_cell(i.suggestion)} |")
        out.append("")
    skipped = result.of(Skipped) + result.of(Failed)
    if skipped:
        out += ["## Not migrated", "", "| file | status | reason |", "|---|---|---|"]
        for o in skipped:
            reason = o.reason if isinstance(o, Skipped) else o.error.splitlines()[0]
            out.append(f"| {o.path} | {o.status} | {_cell(reason)} |")
        out.append("")
    if result.notes:
        out += ["## Notes", ""] + [f"- {_cell(n)}" for n in result.notes] + [""]
    return "\n".join(out).rstrip() + "\n"
