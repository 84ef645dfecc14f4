"""A verify run for people (text), for pull requests (Markdown) and for tools (JSON)."""

from __future__ import annotations

from unify import __version__
from unify.verify.runner import Difference, VerifyResult


def summary_line(result: VerifyResult) -> str:
    t = result.timings
    return (f"{result.cases} cases ({result.methods} methods of {result.targets} classes, {result.scenarios} scenarios) "
            f"in {t.total:.1f}s, {result.cases_per_second:.0f} cases/s; {len(result.differences)} difference(s), "
            f"{len(result.accepted)} accepted" + ("; the migrated code cannot run" if result.cannot_run else ""))


def _difference_text(d: Difference, number: int) -> list[str]:
    case = d.case
    head = f"{number}. {case.target} ({d.source}"
    head += f", minimal example after {d.runs} runs)" if d.source == "generated" and d.runs else ")"
    lines = [head]
    call = case.call.splitlines()
    lines.append(f"   call: {call[0]}")
    lines += [f"         {line}" for line in call[1:]]
    lines.append(f"   old:  {case.old}")
    lines.append(f"   new:  {case.new}")
    lines.append("   diff:")
    lines += [f"     {line}" for line in case.diff]
    if d.accepted is not None:
        lines.append(f"   accepted: {d.accepted.reason}")
    return lines


def render_text(result: VerifyResult) -> str:
    out = [f"unify verify: {result.root} against {result.legacy}"]
    if result.cannot_run:
        out += ["", "The migrated code cannot run, so its calls were not compared:"]
        out += [f"  {reason}" for reason in result.cannot_run]
    if result.differences:
        out += ["", f"Differences ({len(result.differences)}):"]
        for number, d in enumerate(result.differences, start=1):
            out += _difference_text(d, number)
    if result.accepted:
        out += ["", f"Accepted differences ({len(result.accepted)}):"]
        for number, d in enumerate(result.accepted, start=1):
            out += _difference_text(d, number)
    if result.skipped:
        out += ["", "Not called:"]
        out += [f"  {target}: {reason}" for target, reason in result.skipped]
    stuck = [t for t in result.always_raised() if not t.startswith("scenario:")]
    if stuck:
        out += ["", "Every generated call raised on both sides (the comparison still holds, but only for errors; "
                "a scenario file can reach further):"]
        out += [f"  {target}" for target in stuck]
    for note in result.notes:
        out.append(f"note: {note}")
    t = result.timings
    out += ["", f"time: scan {t.scan:.2f}s, provisioning {t.provision:.2f}s, template {t.template:.2f}s, "
                f"processes {t.processes:.2f}s, cases {t.cases:.2f}s, cleanup {t.cleanup:.2f}s",
            summary_line(result)]
    return "\n".join(out) + "\n"


# the version of the JSON below: a field added keeps it, a field renamed or removed raises it
SCHEMA_VERSION = 1


def to_data(result: VerifyResult) -> dict:
    def item(d: Difference) -> dict:
        return {"target": d.case.target, "source": d.source, "runs": d.runs, "call": d.case.call,
                "old": d.case.old, "new": d.case.new, "diff": d.case.diff, "kinds": list(d.case.kinds),
                "accepted_because": d.accepted.reason if d.accepted else None}

    t = result.timings
    return {
        "schema_version": SCHEMA_VERSION, "command": "verify",
        "tool": {"name": "unify", "version": __version__}, "root": result.root, "legacy": result.legacy,
        "summary": {"classes": result.targets, "methods": result.methods, "scenarios": result.scenarios,
                    "cases": result.cases, "differences": len(result.differences), "accepted": len(result.accepted),
                    "migrated_code_runs": not result.cannot_run,
                    "cases_per_second": round(result.cases_per_second, 1)},
        "timings_s": {k: round(getattr(t, k), 3) for k in ("scan", "provision", "template", "processes", "cases", "cleanup", "total")},
        "cannot_run": result.cannot_run,
        "differences": [item(d) for d in result.differences],
        "accepted": [item(d) for d in result.accepted],
        "not_called": [{"target": t_, "reason": r} for t_, r in result.skipped],
        "calls": {target: {"calls": calls, "raised": raised} for target, (calls, raised) in sorted(result.raised.items())},
        "notes": result.notes,
    }


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def render_markdown(result: VerifyResult) -> str:
    out = ["# unify verify", "", f"`{result.root}` against {result.legacy}: {summary_line(result)}.", ""]
    if result.cannot_run:
        out += ["## The migrated code cannot run", "", "Its calls were not compared:", ""]
        out += [f"- {_cell(reason)}" for reason in result.cannot_run] + [""]
    elif not result.differences:
        out += ["No unexplained difference: every call returned the same value (or raised the same error) and left "
                "the same database state on both sides.", ""]
    for title, items in (("Differences", result.differences), ("Accepted differences", result.accepted)):
        if not items:
            continue
        out += [f"## {title}", ""]
        for d in items:
            out += [f"### `{d.case.target}`", "", "```", d.case.call, "```", "",
                    "| side | outcome |", "|---|---|", f"| old | {_cell(d.case.old)} |", f"| new | {_cell(d.case.new)} |",
                    "", "```diff"] + [f"- {line}" for line in d.case.diff] + ["```", ""]
            if d.accepted:
                out += [f"Accepted: {d.accepted.reason}", ""]
    if result.skipped:
        out += ["## Not called", "", "| target | reason |", "|---|---|"]
        out += [f"| `{t}` | {_cell(r)} |" for t, r in result.skipped]
        out.append("")
    return "\n".join(out)
