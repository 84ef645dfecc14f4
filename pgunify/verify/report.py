"""A verify run for people (text), for pull requests (Markdown) and for tools (JSON)."""

from __future__ import annotations

from pgunify import __version__
from pgunify.verify.runner import Difference, VerifyResult


def summary_line(result: VerifyResult) -> str:
    t = result.timings
    return (f"{result.cases} cases ({result.methods} methods of {result.targets} classes, {result.scenarios} scenarios) "
            f"in {t.total:.1f}s, {result.cases_per_second:.0f} cases/s; {len(result.differences)} difference(s), "
            f"{len(result.accepted)} accepted" + ("; the migrated code cannot run" if result.cannot_run else "")
            + (f"; mutation score {_percent(result.mutation.score)}" if result.mutation is not None else ""))


def _percent(score: float | None) -> str:
    return "n/a" if score is None else f"{100 * score:.1f}%"


def mutation_line(result: VerifyResult) -> str:
    m = result.mutation
    return (f"mutation score {_percent(m.score)}: {len(m.planted)} mutants of {m.statements} statements, "
            f"{len(m.killed)} killed, {len(m.equivalent)} equivalent, {len(m.survivors)} not distinguished "
            f"({m.calls} calls replayed in {result.timings.mutants:.1f}s)")


def _weak(result: VerifyResult) -> list[str]:
    """Methods whose generated calls all produced one and the same legacy outcome."""
    return [t for t, (calls, distinct) in result.evidence.items() if calls > 1 and distinct <= 1]


def _mutation_text(result: VerifyResult) -> list[str]:
    m = result.mutation
    out = ["", "Mutants (" + mutation_line(result) + "):"]
    out.append("  per method: planted / killed / equivalent / not distinguished / score")
    for method, row in m.per_method().items():
        out.append(f"  {method}: {row['planted']} / {row['killed']} / {row['equivalent']} / {row['survived']} / "
                   f"{_percent(row['score'])}")
    if m.survivors:
        out += ["", f"Mutants no call told apart ({len(m.survivors)}; weak evidence, not a fault of the migration):"]
        for number, p in enumerate(m.survivors, start=1):
            out.append(f"{number}. {', '.join(p.methods[:3])}{' ...' if len(p.methods) > 3 else ''} [{p.mutant.operator}]")
            out.append(f"   change: {p.mutant.before}  ->  {p.mutant.after}")
            out.append(f"   sql:    {p.mutant.sql[:300]}")
            if p.possibly_equivalent:
                out.append(f"   possibly equivalent: {p.possibly_equivalent}")
            out.append(f"   would tell it apart: {p.suggestion}")
    if m.equivalent:
        out += ["", f"Equivalent mutants, not run ({len(m.equivalent)}):"]
        out += [f"  {p.methods[0]}: {p.mutant.change} ({p.equivalent})" for p in m.equivalent]
    if m.skipped:
        out += [f"  no mutants for {t}: {why}" for t, why in m.skipped]
    return out


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
    out = [f"pgunify verify: {result.root} against {result.legacy}"]
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
    if result.no_evidence:
        out += ["", f"No evidence: {result.no_evidence}. 0 differences here does not mean the migration is equivalent."]
    stuck = [t for t in result.always_raised() if not t.startswith("scenario:")]
    if stuck:
        out += ["", "Every generated call raised on both sides (the comparison still holds, but only for errors; "
                "a scenario file can reach further):"]
        out += [f"  {target}" for target in stuck]
    weak = _weak(result)
    if weak:
        out += ["", "Every generated call returned the same value and left the same state (the calls may not reach "
                "what the method does; a scenario or more seed rows can):"]
        out += [f"  {target}" for target in weak]
    if result.mutation is not None:
        out += _mutation_text(result)
    for note in result.notes:
        out.append(f"note: {note}")
    t = result.timings
    out += ["", f"time: scan {t.scan:.2f}s, provisioning {t.provision:.2f}s, template {t.template:.2f}s, "
                f"processes {t.processes:.2f}s, cases {t.cases:.2f}s, "
                + (f"mutants {t.mutants:.2f}s, " if result.mutation is not None else "") + f"cleanup {t.cleanup:.2f}s",
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
        "tool": {"name": "pgunify", "version": __version__}, "root": result.root, "legacy": result.legacy,
        "summary": {"classes": result.targets, "methods": result.methods, "scenarios": result.scenarios,
                    "cases": result.cases, "differences": len(result.differences), "accepted": len(result.accepted),
                    "migrated_code_runs": not result.cannot_run,
                    "cases_per_second": round(result.cases_per_second, 1)},
        "timings_s": {k: round(getattr(t, k), 3)
                      for k in ("scan", "provision", "template", "processes", "cases", "mutants", "cleanup", "total")},
        "cannot_run": result.cannot_run,
        "no_evidence": result.no_evidence or None,
        "differences": [item(d) for d in result.differences],
        "accepted": [item(d) for d in result.accepted],
        "not_called": [{"target": t_, "reason": r} for t_, r in result.skipped],
        "calls": {target: {"calls": calls, "raised": raised} for target, (calls, raised) in sorted(result.raised.items())},
        "evidence": {target: {"calls": calls, "distinct_outcomes": distinct, "one_outcome": calls > 1 and distinct <= 1}
                     for target, (calls, distinct) in result.evidence.items()},
        "mutants": _mutation_data(result),
        "notes": result.notes,
    }


def _mutation_data(result: VerifyResult) -> dict | None:
    m = result.mutation
    if m is None:
        return None

    def item(p) -> dict:
        return {"methods": p.methods, "operator": p.mutant.operator, "before": p.mutant.before,
                "after": p.mutant.after, "statement": p.statement, "mutant": p.mutant.sql,
                "status": "equivalent" if p.equivalent else "killed" if p.killed else "not distinguished",
                "equivalent_because": p.equivalent, "killed_by": p.killed_by, "kill_diff": p.kill_diff,
                "possibly_equivalent": p.possibly_equivalent, "suggestion": p.suggestion,
                "calls_replayed": p.calls, "reached_by": p.reached}

    return {"score": None if m.score is None else round(m.score, 4), "statements": len({p.statement for p in m.planted}),
            "planted": len(m.planted), "killed": len(m.killed), "equivalent": len(m.equivalent),
            "not_distinguished": len(m.survivors), "calls_replayed": m.calls,
            "per_method": m.per_method(), "mutants": [item(p) for p in m.planted],
            "skipped": [{"target": t, "reason": r} for t, r in m.skipped]}


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", "<br>")


def render_markdown(result: VerifyResult) -> str:
    out = ["# pgunify verify", "", f"`{result.root}` against {result.legacy}: {summary_line(result)}.", ""]
    if result.cannot_run:
        out += ["## The migrated code cannot run", "", "Its calls were not compared:", ""]
        out += [f"- {_cell(reason)}" for reason in result.cannot_run] + [""]
    elif result.no_evidence:
        out += ["## No evidence", "", f"{_cell(result.no_evidence)}. 0 differences here does not mean the migration is "
                "equivalent.", ""]
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
    weak = _weak(result)
    if weak:
        out += ["## Methods with one outcome", "", "Every generated call returned the same value and left the same "
                "state:", ""] + [f"- `{t}`" for t in weak] + [""]
    m = result.mutation
    if m is not None:
        out += ["## Mutants", "", mutation_line(result) + ".", "",
                "| method | planted | killed | equivalent | not distinguished | score |", "|---|---|---|---|---|---|"]
        out += [f"| `{method}` | {r['planted']} | {r['killed']} | {r['equivalent']} | {r['survived']} | "
                f"{_percent(r['score'])} |" for method, r in m.per_method().items()]
        out.append("")
        if m.survivors:
            out += ["### Mutants no call told apart", "",
                    "Weak evidence, not a fault of the migration: no call or scenario step saw a difference with "
                    "this change planted in the migrated SQL.", "",
                    "| method | operator | change | would tell it apart |", "|---|---|---|---|"]
            out += [f"| `{_cell(p.methods[0])}` | {p.mutant.operator} | `{_cell(p.mutant.before)}` -> "
                    f"`{_cell(p.mutant.after)}` | {_cell(p.suggestion)}"
                    + (f" (possibly equivalent: {_cell(p.possibly_equivalent)})" if p.possibly_equivalent else "")
                    + " |" for p in m.survivors]
            out.append("")
    return "\n".join(out)
