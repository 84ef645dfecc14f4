"""Run the selected codemods over a tree: one parse per file, codemods in registry order.

Every file ends as a value (Changed / Unchanged / Skipped / Failed); nothing a codemod
raises stops the run, and a file whose output would not parse is never offered as a change.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable, Iterable

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile
from libcst.helpers import calculate_module_and_package

from unify import cache
from unify.dsn import redact_text
from unify.facts.inventory import describe_syntax_error, scan
from unify.files import collect, relative
from unify.rewrite.outcome import Change, Changed, FileOutcome, Failed, LeftAlone, RunResult, Skipped, Unchanged
from unify.rewrite.plan import MigrationPlan, build_plan

def _codemods(names: tuple[str, ...]):
    from unify import codemods

    known = codemods.by_name()
    return [known[n] for n in names]


def transform_source(source: bytes, filename: str, rel: str, plan: MigrationPlan, names: tuple[str, ...]) -> FileOutcome:
    """All selected codemods over one file's bytes."""
    if b"\x00" in source:
        return Skipped(rel, "binary content (NUL bytes) in a .py file")
    try:
        tree = cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return Skipped(rel, describe_syntax_error(source, exc))
    except (UnicodeDecodeError, LookupError) as exc:
        return Skipped(rel, f"cannot decode source: {exc}")
    try:
        names_of = calculate_module_and_package(str(plan.import_root), filename)
        module_name, package = names_of.name, names_of.package
    except ValueError:
        module_name, package = Path(filename).stem, ""
    changes, left_alone, proven = [], [], 0
    for codemod_class in _codemods(names):
        context = CodemodContext(filename=filename, full_module_name=module_name, full_package_name=package)
        codemod = codemod_class(context, plan)
        try:
            tree = codemod.transform_module(tree)
        except SkipFile as skip:
            left_alone.append(LeftAlone(codemod_class.info.name, 0, f"skipped: {skip}"))
            continue
        except Exception as exc:  # noqa: BLE001 - a codemod's failure fails this file only
            detail = traceback.format_exc(limit=-3)
            return Failed(rel, redact_text(f"{codemod_class.info.name}: {type(exc).__name__}: {exc}\n{detail}"))
        changes.extend(codemod.changes)
        left_alone.extend(codemod.left_alone)
        proven += getattr(codemod, "proven", 0)
    new = tree.bytes
    if new == source:
        return Unchanged(rel, tuple(left_alone))
    try:
        compile(new, filename, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
    except SyntaxError as err:
        return Failed(rel, f"the rewritten file would not parse (line {err.lineno}: {err.msg}); left as it is")
    return Changed(rel, source, new, tuple(changes), tuple(left_alone), proven)


def _transform_file(args: tuple[str, str, MigrationPlan, tuple[str, ...]]) -> FileOutcome:
    path, rel, plan, names = args
    try:
        source = Path(path).read_bytes()
    except OSError as exc:
        return Skipped(rel, f"cannot read: {exc.strerror or exc}")
    wanted = tuple(c.info.name for c in _codemods(names) if c.wants(source, plan))
    if not wanted:
        return Unchanged(rel)  # no codemod has work here: not even parsed
    cache_key = cache.key("migrate", rel, source, plan_fingerprint(plan), ",".join(wanted))
    cached = cache.get("migrate", cache_key)
    if not cache.is_miss(cached):
        return cached
    outcome = transform_source(source, path, rel, plan, wanted)
    cache.put("migrate", cache_key, outcome)
    return outcome


def plan_fingerprint(plan: MigrationPlan) -> str:
    """Everything in the plan that can change a file's outcome, as a stable string."""

    def plain(value):
        if isinstance(value, (set, frozenset)):
            return sorted(plain(v) for v in value)
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return str(value)

    data = plain(plan)
    # absolute locations do not change what a file becomes; leaving them out lets copies of a tree share entries
    data.pop("root")
    data["import_root"] = str(Path(plan.import_root).relative_to(plan.root)) if Path(plan.import_root).is_relative_to(plan.root) else data["import_root"]
    return json.dumps(data, sort_keys=True)


def generated_outcomes(plan: MigrationPlan, names: tuple[str, ...]) -> list[FileOutcome]:
    """Files the codemods create. A file that exists already belongs to the application:
    it is never overwritten, only compared."""
    outcomes: list[FileOutcome] = []
    for codemod_class in _codemods(names):
        for rel, (text, purpose) in codemod_class.generated_files(plan).items():
            path = plan.root / rel
            new = text.encode("utf-8")
            if path.exists():
                notes: tuple[LeftAlone, ...] = ()
                if path.read_bytes() != new and (plan.sqlalchemy_engines or plan.asyncpg_pools):
                    notes = (LeftAlone(codemod_class.info.name, 0,
                                       f"{rel} exists and is application code now; it was not regenerated",
                                       "compare it with what the legacy pools and engines set (see the notes of this run)"),)
                outcomes.append(Unchanged(rel, notes))
            else:
                outcomes.append(Changed(rel, None, new, (Change(codemod_class.info.name, 1, f"{rel} created: {purpose}",
                                        codemod_class.info.risk),)))
    return outcomes


def run(
    target: Path,
    names: tuple[str, ...],
    settings,
    jobs: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[RunResult, MigrationPlan]:
    target = target.resolve()
    files = collect(target, settings.exclude, settings.respect_gitignore)
    inventory = scan(target, settings.exclude, settings.respect_gitignore, jobs=jobs)
    plan = build_plan(files.root, inventory, settings, move_asyncpg_pools="repositories" in names,
                      python_files=files.python)
    notes = []
    blocked = [n for n in ("repositories", "config") if n in names]
    if blocked and plan.pool_blockers:
        # the pools and their queries move together or not at all, and several databases
        # cannot share one URL variable
        names = tuple(n for n in names if n not in blocked)
        plan = build_plan(files.root, inventory, settings, move_asyncpg_pools=False, python_files=files.python)
        notes = [f"{' and '.join(blocked)} not run: {reason}" for reason in plan.pool_blockers]
    work = [(str(p), relative(files.root, p), plan, names) for p in files.python]
    result = RunResult(root=str(files.root), codemods=list(names), notes=notes)
    outcomes: list[FileOutcome] = []
    if jobs > 1 and len(work) > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            for index, outcome in enumerate(pool.map(_transform_file, work, chunksize=4), start=1):
                outcomes.append(outcome)
                if progress:
                    progress(index, len(work))
    else:
        for index, item in enumerate(work, start=1):
            outcomes.append(_transform_file(item))
            if progress:
                progress(index, len(work))
    generated = {o.path: o for o in generated_outcomes(plan, names)}
    outcomes = [o for o in outcomes if o.path not in generated] + list(generated.values())
    result.outcomes = sorted(outcomes, key=lambda o: o.path)
    return result, plan


def iter_changed(result: RunResult) -> Iterable[Changed]:
    return (o for o in result.outcomes if isinstance(o, Changed))
