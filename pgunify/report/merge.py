"""JSON reports of the shards of one `pgunify migrate --shard K/N` run, merged into the report
the unsharded run gives.

Each shard report carries a stamp: which share it is, a digest of the tree it ran on and
one of the options and plan that shaped it. Reports merge only when all N shares are there
once and every stamp agrees; anything else would be a report of no run that happened.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable

from pgunify.files import collect, relative


class MergeError(ValueError):
    pass


def tree_digest(root: Path, settings) -> str:
    """Paths and contents of every file a run reads (Python, SQL, deployment), as one digest."""
    files = collect(root, settings.exclude, settings.respect_gitignore)
    digest = hashlib.sha256()
    for path in sorted(files.python + files.sql + files.deployment, key=lambda p: relative(files.root, p)):
        digest.update(relative(files.root, path).encode("utf-8") + b"\0")
        try:
            digest.update(hashlib.sha256(path.read_bytes()).digest())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()[:24]


def shard_stamp(root: Path, settings, plan_fingerprint: str, codemods: Iterable[str], shard: tuple[int, int],
                include_diff: bool) -> dict[str, Any]:
    options = json.dumps({"plan": plan_fingerprint, "codemods": list(codemods), "diff": include_diff}, sort_keys=True)
    return {"index": shard[0], "count": shard[1], "tree": tree_digest(root, settings),
            "options": hashlib.sha256(options.encode("utf-8")).hexdigest()[:24]}


def load_report(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MergeError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MergeError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict) or "summary" not in data or ("files" not in data and "factories" not in data):
        raise MergeError(f"{path}: not a JSON report of `pgunify migrate` or `pgunify scan`")
    if not isinstance(data.get("shard"), dict):
        raise MergeError(f"{path}: not the report of a shard (run `pgunify migrate` or `pgunify scan` with "
                         "--shard K/N --format json)")
    return data


def is_scan(data: dict[str, Any]) -> bool:
    return data.get("shard", {}).get("kind") == "scan"


def _add(total: Any, part: Any) -> Any:
    if isinstance(total, dict):
        keys = list(total) + [k for k in part if k not in total]
        return {k: _add(total.get(k, 0), part.get(k, 0)) for k in keys}
    return total + part


def merge(reports: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The report of the whole run from its shard reports (name, data); MergeError when they
    do not make up one run."""
    _check(reports)
    return _merge_migrate(reports, reports[0][1])


def _check(reports: list[tuple[str, dict[str, Any]]]) -> None:
    """MergeError unless the reports are the N shares of one run, each once."""
    if not reports:
        raise MergeError("no reports to merge")
    first_name, first = reports[0]
    stamp = first["shard"]
    kinds = {is_scan(data) for _, data in reports}
    if len(kinds) > 1:
        raise MergeError("reports of `pgunify scan` and `pgunify migrate` cannot be merged together")
    for name, data in reports[1:]:
        theirs = data["shard"]
        for key, what in (("schema_version", "report schema versions"), ("tool", "pgunify versions")):
            if data.get(key) != first.get(key):
                raise MergeError(f"{name} and {first_name} come from different {what} "
                                 f"({data.get(key)!r} vs {first.get(key)!r})")
        if theirs.get("count") != stamp.get("count"):
            raise MergeError(f"{name} is a share of {theirs.get('count')} and {first_name} of {stamp.get('count')}")
        if theirs.get("tree") != stamp.get("tree"):
            raise MergeError(f"{name} and {first_name} ran on different trees (the files or their contents differ)")
        if theirs.get("options") != stamp.get("options") or data.get("codemods") != first.get("codemods"):
            raise MergeError(f"{name} and {first_name} ran with different options (codemods, configuration, "
                             "--diff, --exclude or --no-gitignore)")
    seen: dict[int, str] = {}
    for name, data in reports:
        index = data["shard"].get("index")
        if index in seen:
            raise MergeError(f"{name} and {seen[index]} are both shard {index}/{stamp['count']}")
        seen[index] = name
    missing = [str(k) for k in range(1, stamp["count"] + 1) if k not in seen]
    if missing:
        raise MergeError(f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} of {stamp['count']} missing")


def _merge_migrate(reports, first) -> dict[str, Any]:
    notes: list[str] = []
    manual: list[dict[str, Any]] = []
    summary: dict[str, Any] = {}
    files: list[dict[str, Any]] = []
    for _, data in sorted(reports, key=lambda r: r[1]["shard"]["index"]):
        notes += [n for n in data.get("notes", []) if n not in notes]
        manual += [m for m in data.get("manual", []) if m not in manual]
        summary = _add(summary, data["summary"]) if summary else dict(data["summary"])
        files += data["files"]
    summary["changes_by_codemod"] = dict(sorted(summary.get("changes_by_codemod", {}).items()))
    merged = {key: first[key] for key in first if key not in ("shard", "notes", "manual", "summary", "files")}
    merged.update(notes=notes, manual=manual, summary=summary, files=sorted(files, key=lambda f: f["path"]))
    order = ["schema_version", "tool", "root", "codemods", "notes", "manual", "summary", "files"]
    return {key: merged[key] for key in order + [k for k in merged if k not in order] if key in merged}


def render_markdown(data: dict[str, Any]) -> str:
    """A review summary of a merged run: counts, then every file with its changes."""
    s = data["summary"]
    out = ["# pgunify migrate: review report (merged shards)", "",
           f"{s['files_changed']} files changed ({s['files_created']} created), {s['files_unchanged']} unchanged, "
           f"{s['files_skipped']} skipped, {s['files_failed']} failed; {s['changes']} changes, {s['left_alone']} sites "
           f"left alone; {s['statements_proven']} SQL statements proven unchanged.", "",
           "| risk | changes |", "|---|---|"]
    out += [f"| {risk} | {count} |" for risk, count in s["changes_by_risk"].items()]
    if data.get("notes"):
        out += ["", "## Notes", ""] + [f"- {note}" for note in data["notes"]]
    out += ["", "## Files", ""]
    for entry in data["files"]:
        out.append(f"### `{entry['path']}` ({entry['status']})")
        out.append("")
        for change in entry.get("changes", []):
            out.append(f"- line {change['line']} [{change['risk']}] {change['codemod']}: {change['description']}")
        for item in entry.get("left_alone", []):
            manual = " [manual]" if item.get("manual") else ""
            out.append(f"- line {item['line']} left alone ({item['codemod']}){manual}: {item['reason']}")
        for key in ("reason", "error"):
            if key in entry:
                out.append(f"- {key}: {entry[key]}")
        out.append("")
    return "\n".join(out)


def merge_files(paths: list[Path]) -> tuple[str, Any]:
    """("migrate", merged report data) or ("scan", merged Inventory)."""
    reports = [(str(p), load_report(p)) for p in paths]
    if reports and is_scan(reports[0][1]):
        return "scan", merge_scan(reports)
    return "migrate", merge(reports)


# -- scan reports ------------------------------------------------------------------------------
# A scan's findings look across files (several pools, a URL variable no deployment sets), so
# shards of a scan carry their facts per file; the merge rebuilds the inventory of the whole
# tree from them and derives the findings again, as the unsharded scan does.

def _encode(value: Any) -> Any:
    import dataclasses
    from enum import Enum

    if dataclasses.is_dataclass(value):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.metadata.get("secret")}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    return value


def _decode(kind: Any, value: Any) -> Any:
    import dataclasses
    import types
    import typing
    from enum import Enum

    if value is None:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return _decode(next(a for a in args if a is not type(None)), value)
    if dataclasses.is_dataclass(kind):
        hints = typing.get_type_hints(kind)
        return kind(**{f.name: _decode(hints[f.name], value[f.name]) for f in dataclasses.fields(kind) if f.name in value})
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(args[0], v) for v in value)
        return tuple(_decode(a, v) for a, v in zip(args, value))
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in value.items()}
    if isinstance(kind, type) and issubclass(kind, Enum):
        return kind(value)
    return value


def scan_shard_payload(inventory, per_file: list, files_total: int) -> dict[str, Any]:
    """What a scan shard adds to its report so the shares can be merged exactly."""
    from pgunify.facts.model import FileProblem

    own = {r.path for _, r in per_file if isinstance(r, FileProblem)}
    return {
        "files_total": files_total,
        "per_file": [{"position": i, ("problem" if isinstance(r, FileProblem) else "facts"): _encode(r)} for i, r in per_file],
        "other_problems": _encode([p for p in inventory.problems if p.path not in own]),
        "sql_files": _encode(inventory.sql_files),
        "deployment": _encode(inventory.deployment),
        "deployment_files": list(inventory.deployment_files),
    }


def scan_stamp(root: Path, settings, shard: tuple[int, int]) -> dict[str, Any]:
    options = json.dumps({"exclude": list(settings.exclude), "gitignore": settings.respect_gitignore}, sort_keys=True)
    return {"kind": "scan", "index": shard[0], "count": shard[1], "tree": tree_digest(root, settings),
            "options": hashlib.sha256(options.encode("utf-8")).hexdigest()[:24]}


def merge_scan(reports: list[tuple[str, dict[str, Any]]]):
    """The Inventory of the whole tree from the reports of a scan's shards."""
    from pgunify.facts.findings import derive_findings
    from pgunify.facts.model import DeploymentSetting, FileFacts, FileProblem, Inventory, SchemaSource

    _check(reports)
    first = reports[0][1]["shard_facts"]
    per_file = sorted((entry for _, data in reports for entry in data["shard_facts"]["per_file"]),
                      key=lambda e: e["position"])
    facts = [_decode(FileFacts, e["facts"]) for e in per_file if "facts" in e]
    problems = [_decode(FileProblem, e["problem"]) for e in per_file if "problem" in e]
    problems += [_decode(FileProblem, p) for p in first["other_problems"]]
    inventory = Inventory(
        root=reports[0][1]["root"],
        files_scanned=first["files_total"],
        files=tuple(f for f in facts if any((f.factories, f.acquires, f.calls, f.env_reads, f.schema_sources,
                                                f.except_clauses, f.orm_tables, f.returns))),
        deployment=tuple(_decode(DeploymentSetting, d) for d in first["deployment"]),
        deployment_files=tuple(first["deployment_files"]),
        sql_files=tuple(_decode(SchemaSource, s) for s in first["sql_files"]),
        problems=tuple(sorted(problems, key=lambda p: p.path)),
    )
    return Inventory(**{**inventory.__dict__, "findings": tuple(derive_findings(inventory))})
