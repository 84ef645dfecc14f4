"""A migrate run as plain data: the documented JSON schema of `pgunify migrate --format json`."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pgunify import __version__
from pgunify.report.diff import redacted, unified_diff
from pgunify.rewrite.outcome import Changed, Failed, RunResult, Skipped, Unchanged

SCHEMA_VERSION = 1


def summary(result: RunResult) -> dict[str, Any]:
    changed = result.of(Changed)
    by_codemod = Counter(c.codemod for o in changed for c in o.changes)
    by_risk = Counter(c.risk.value for o in changed for c in o.changes)
    left_alone = [item for o in result.outcomes if isinstance(o, (Changed, Unchanged)) for item in o.left_alone]
    return {
        "files_changed": len(changed),
        "files_created": sum(1 for o in changed if o.old is None),
        "files_unchanged": len(result.of(Unchanged)),
        "files_skipped": len(result.of(Skipped)),
        "files_failed": len(result.of(Failed)),
        "changes": sum(by_codemod.values()),
        "changes_by_codemod": dict(sorted(by_codemod.items())),
        "changes_by_risk": {risk: by_risk.get(risk, 0) for risk in ("safe", "review", "manual")},
        "left_alone": len(left_alone),
        "manual": sum(1 for item in left_alone if item.manual),  # any: the run is refused, nothing written
        "statements_proven": sum(o.proven for o in changed),
    }


def to_data(result: RunResult, include_diff: bool = True) -> dict[str, Any]:
    files = []
    for o in result.outcomes:
        entry: dict[str, Any] = {"path": o.path, "status": o.status}
        if isinstance(o, Changed):
            entry["created"] = o.old is None
            entry["statements_proven"] = o.proven
            entry["changes"] = [{"codemod": c.codemod, "line": c.line, "description": c.description,
                                 "risk": c.risk.value} for c in o.changes]
            if include_diff:
                entry["diff"] = redacted(unified_diff(o))[0]  # the exact patch: --patch FILE
        if isinstance(o, (Changed, Unchanged)):
            if not o.left_alone and isinstance(o, Unchanged):
                continue
            entry["left_alone"] = [{"codemod": i.codemod, "line": i.line, "reason": i.reason,
                                    "suggestion": i.suggestion, "manual": i.manual} for i in o.left_alone]
        if isinstance(o, Skipped):
            entry["reason"] = o.reason
        if isinstance(o, Failed):
            entry["error"] = o.error
        files.append(entry)
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pgunify", "version": __version__},
        "root": result.root,
        "codemods": result.codemods,
        "notes": result.notes,
        # what a person has to settle first: with any entry here nothing is written and the exit code is 1
        "manual": [{"path": m.path, "line": m.line, "codemod": m.codemod, "reason": m.reason,
                    "suggestion": m.suggestion} for m in result.manual],
        "summary": summary(result),
        "closure": [{"path": f.path, "line": f.line, "call": f.call, "problem": f.problem, "blocking": f.blocking}
                    for f in result.closure],
        "import_check": _import_check(result.import_check),
        "files": files,
    }


def _import_check(check) -> dict | None:
    """What the import check ran: every module with its outcome before and after (None: it
    imported), or why it did not run; None where it was not attempted."""
    if check is None:
        return None
    return {"python": check.python, "not_run": check.not_run or None,
            "modules": [{"module": r.module, "path": r.path, "before": r.before, "after": r.after}
                        for r in check.results]}
