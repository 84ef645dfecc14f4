"""Run the selected codemods over a tree: one parse per file, codemods in registry order.

Every file ends as a value (Changed / Unchanged / Skipped / Failed); nothing a codemod
raises stops the run, and a file whose output would not parse is never offered as a change.
"""

from __future__ import annotations

import logging

import ast
import dataclasses
import gc
import json
import sys
import traceback
from pathlib import Path
from typing import Callable, Iterable

import libcst as cst
from libcst.codemod import CodemodContext, SkipFile
from libcst.helpers import calculate_module_and_package
from libcst.metadata import MetadataWrapper, ScopeProvider

from pgunify import cache
from pgunify.dsn import redact_text
from pgunify.facts import parsed
from pgunify.facts.inventory import describe_syntax_error, scan
from pgunify.facts.parents import resolve_parents, resolve_scopes_and_positions
from pgunify.files import auxiliary, collect, read_source, relative, shard_of
from pgunify.rewrite.closure import ClosureFinding, optional_asyncpg
from pgunify.rewrite.import_check import Imported, importers, project_python, run_import_check, starts_at_import
from pgunify.rewrite.import_order import import_style
from pgunify.rewrite.imports import run_on_tree
from pgunify.rewrite.line_origin import LineOrigin
from pgunify.rewrite.model import generated_modules, open_model
from pgunify.rewrite.wrapping import wrap_changed
from pgunify.rewrite.dependencies import asyncpg_optional, declare_sqlalchemy
from pgunify.rewrite.outcome import (Change, Changed, FileOutcome, Failed, LeftAlone, Manual, RunResult, Skipped,
                                  Unchanged)
from pgunify.rewrite.plan import MigrationPlan, build_plan
from pgunify.workers import Workers, per_task

log = logging.getLogger(__name__)

def _codemods(names: tuple[str, ...]):
    from pgunify import codemods

    known = codemods.by_name()
    return [known[n] for n in names]


def transform_source(source: bytes, filename: str, rel: str, plan: MigrationPlan, names: tuple[str, ...],
                     kept: MetadataWrapper | None = None) -> FileOutcome:
    """All selected codemods over one file's bytes (`kept`: the tree and metadata the scan made
    of these very bytes, see pgunify.facts.parsed)."""
    if b"\x00" in source:
        return Skipped(rel, "binary content (NUL bytes) in a .py file")
    wrapper: MetadataWrapper | None = kept
    try:
        tree = wrapper.module if wrapper is not None else cst.parse_module(source)
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
    # a tree fresh from the parser has no shared nodes, so its metadata is resolved in place,
    # without the deep copy libcst makes for safety; codemods that meet an unchanged tree
    # share that wrapper and the metadata already resolved on it
    chosen = _codemods(names)
    if wrapper is None:
        wrapper = MetadataWrapper(tree, unsafe_skip_copy=True)
        resolve_parents(wrapper)
        if chosen and ScopeProvider in chosen[0].get_inherited_dependencies():
            resolve_scopes_and_positions(wrapper)  # the same metadata, without libcst's idle walks
    # once an earlier codemod rewrote the tree, the lines a codemod reports are carried back
    # to the file on disk (pgunify.rewrite.line_origin)
    try:
        original = source.decode(tree.encoding)
    except (UnicodeDecodeError, LookupError):
        original = tree.code
    origin: LineOrigin | None = None
    for index, codemod_class in enumerate(chosen):
        context = CodemodContext(filename=filename, full_module_name=module_name, full_package_name=package)
        codemod = codemod_class(context, plan)
        codemod.line_origin = origin
        try:
            if wrapper is not None:
                transformed = run_on_tree(codemod, tree, wrapper)
            elif not codemod.get_inherited_dependencies():
                transformed = run_on_tree(codemod, tree)  # it resolves no metadata: no copy to protect it
            else:
                transformed = codemod.transform_module(tree)
        except SkipFile as skip:
            left_alone.append(LeftAlone(codemod_class.info.name, 0, f"skipped: {skip}"))
            continue
        except Exception as exc:  # noqa: BLE001 - a codemod's failure fails this file only
            detail = traceback.format_exc(limit=-3)
            return Failed(rel, redact_text(f"{codemod_class.info.name}: {type(exc).__name__}: {exc}\n{detail}"))
        changes.extend(codemod.changes)
        left_alone.extend(codemod.left_alone)
        proven += getattr(codemod, "proven", 0)
        if wrapper is not None and index + 1 < len(chosen) and transformed.deep_equals(tree):
            continue  # the same tree: the next codemod reuses its nodes and their metadata
        wrapper = None  # a rewritten tree may share nodes; later codemods get libcst's own copy
        tree = transformed
        origin = LineOrigin(original, lambda tree=tree: tree.code)
    code = tree.code
    new = code.encode(tree.encoding)  # what tree.bytes gives, from the code rendered once
    if new == source:
        return Unchanged(rel, tuple(left_alone))
    # statements the migration made longer than the target's lines, laid out as a formatter would
    limit = import_style(plan.root, plan.import_root).line_length
    try:
        old_text = source.decode(tree.encoding)
    except (UnicodeDecodeError, LookupError):
        old_text = ""
    wrapped = wrap_changed(tree, old_text, limit, code)
    if wrapped is not tree:
        new = wrapped.bytes
    try:
        compile(new, filename, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
    except SyntaxError as err:
        try:
            compile(source, filename, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
        except SyntaxError:
            # the file was already beyond this interpreter (newer syntax): the result cannot be checked here
            return Failed(rel, f"Python {sys.version_info.major}.{sys.version_info.minor} cannot compile this file even "
                               f"before the migration (line {err.lineno}: {err.msg}), so the rewritten file cannot be "
                               "checked; run pgunify with the Python the application runs on")
        return Failed(rel, f"the rewritten file would not parse (line {err.lineno}: {err.msg}); left as it is")
    return Changed(rel, source, new, tuple(changes), tuple(left_alone), proven)


def _transform_file(args: tuple[str, str, MigrationPlan, tuple[str, ...]], fingerprint: str | None = None) -> FileOutcome:
    path, rel, plan, names = args
    source = read_source(Path(path))
    # what the scan kept of this file in this worker is taken here, so no early return leaves it held
    kept = parsed.take(rel, source if isinstance(source, bytes) else b"")
    if isinstance(source, str):
        return Skipped(rel, source)
    candidates = [c for c in _codemods(names) if c.wants(source, plan) or c.wants_file(rel, source, plan)]
    if not candidates:
        return Unchanged(rel)  # no codemod has work here: not even parsed
    # a file some codemod could not rule out by its text alone is parsed at least, so a
    # syntax error is reported whether or not a codemod ends up running on it
    wanted = tuple(c.info.name for c in candidates if c.wants_file(rel, source, plan))
    cache_key = cache.key("migrate", rel, source, fingerprint or plan_fingerprint(plan), ",".join(wanted))
    cached = cache.get("migrate", cache_key)
    if not cache.is_miss(cached):
        return cached
    outcome = transform_source(source, path, rel, plan, wanted, kept)
    cache.put("migrate", cache_key, outcome)
    return outcome


def _transform_batch(plan: MigrationPlan, fingerprint: str, names: tuple[str, ...],
                     batch: list[tuple[str, str]]) -> list[FileOutcome]:
    """Several files per task (the plan, the same for all, crosses to each worker once: see
    pgunify.workers.Workers.submit)."""
    return [_transform_file((path, rel, plan, names), fingerprint) for path, rel in batch]


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
    shard: tuple[int, int] | None = None,
    python: Path | None = None,
    import_check: bool = True,
) -> tuple[RunResult, MigrationPlan]:
    """With `shard` (K, N), only the files of share K of N are transformed and reported; the
    plan still comes from the facts of every file, so each share is exactly that part of
    the unsharded run."""
    target = target.resolve()
    files = collect(target, settings.exclude, settings.respect_gitignore)
    # one pool of workers for the scan and the rewrite: they start (and import libcst) once
    pool = Workers(jobs) if jobs > 1 and len(files.python) > 1 else None
    # in one process, this one holds the whole-program model (the syntax tree of every module,
    # millions of objects) from the scan to the closure check; each full collection of the
    # cyclic garbage collector went through all of them (about 3 s of a cold run over 1,200
    # files), for garbage that reference counting frees. It runs again once the run is over.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run(files, names, settings, pool, progress, shard, python if import_check else False)
    finally:
        if pool is not None:
            pool.shutdown()
        if collecting:
            gc.enable()


def _import_check(root: Path, sources: dict[str, str], plan: MigrationPlan, result: RunResult,
                  python: Path | None) -> None:
    """Every changed module of the application, and the generated ones, imported by the
    project's own interpreter before and after (see pgunify.rewrite.import_check)."""
    interpreter = project_python(root, python)
    if interpreter is None:
        result.notes.append("import check not run: no interpreter of the project's own environment was found "
                            "(.venv/bin/python, venv/bin/python); --python PATH runs it")
        return
    import_root = plan.import_root.resolve()
    new_texts, changed = {}, {}
    for outcome in result.of(Changed):
        new_texts[outcome.path] = outcome.new
        path = (root / outcome.path).resolve()
        if outcome.path.endswith(".py") and not auxiliary(outcome.path) and path.is_relative_to(import_root):
            changed[outcome.path] = ".".join(path.relative_to(import_root).with_suffix("").parts).removesuffix(".__init__")
    # the application's modules that import a migrated one (and may import a name it lost)
    sources = {rel: text for rel, text in sources.items() if not auxiliary(rel)}
    modules = {**changed, **importers(sources, changed, import_root, root)}
    texts = {rel: new_texts[rel].decode("utf-8", "replace") if rel in new_texts else sources.get(rel, "")
             for rel in modules}
    starters = {rel: call for rel, text in texts.items() if (call := starts_at_import(text))}
    created = frozenset(o.path for o in result.of(Changed) if o.old is None)
    checked = run_import_check(root, import_root, interpreter, new_texts,
                               [(rel, name) for rel, name in sorted(modules.items()) if rel not in starters], created)
    for rel, call in sorted(starters.items()):
        checked.results.append(Imported(modules[rel], rel, f"not imported: it starts the application ({call})",
                                        None))
    result.import_check = checked
    for item in checked.broken:
        result.closure.append(ClosureFinding(item.path, 0, f"import {item.module}",
                                             f"imported before the migration and fails after it: {item.after}"))
    result.notes.append(checked.summary())




def _run(files, names, settings, pool, progress, shard,
         python: Path | None | bool = None) -> tuple[RunResult, MigrationPlan]:
    """`python`: the interpreter for the import check (None: the project's own, if found;
    False: no import check)."""
    log.info("reading %d files", len(files.python))
    model = open_model(files.root, _sources(files), separate=pool is not None)
    try:
        return _migrate(files, names, settings, pool, progress, shard, python, model)
    finally:
        model.close()


def _migrate(files, names, settings, pool, progress, shard, python, model) -> tuple[RunResult, MigrationPlan]:
    # the model is built while the workers scan; the scan does not need it, the plan does
    inventory = scan(files.root, settings.exclude, settings.respect_gitignore, files=files, pool=pool, closure=False,
                     meanwhile=lambda: model.build(frozenset()), keep_parsed=True)
    chosen = _codemods(names)
    plan = build_plan(files.root, inventory, settings,
                      move_asyncpg_pools=any(c.info.moves_asyncpg_pools for c in chosen), python_files=files.python)
    planned = plan  # the plan from the scan alone, before the model's verdicts join it
    sources = model.sources
    model.settle(frozenset(generated_modules(plan)))
    model_error = model.error
    if not model_error:
        plan = dataclasses.replace(plan, **model.learned)
    notes = []
    from pgunify.codemods import REGISTRY

    blocked = [c.info.name for c in REGISTRY if c.info.needs_pools_moved and c.info.name in names]
    if blocked and plan.pool_blockers:
        # the pools and their queries move together or not at all, and several databases
        # cannot share one URL variable
        names = tuple(n for n in names if n not in blocked)
        # the plan of a run that leaves the pools where they are: build_plan's, whose
        # move_asyncpg_pools is only recorded, so the one made above serves without being rebuilt
        plan = dataclasses.replace(planned, move_asyncpg_pools=False)
        notes = [f"{' and '.join(blocked)} not run: {item.reason}" for _, item in plan.pool_blockers]
    idle = [c.info.name for c in _codemods(names) if c.info.moves_asyncpg_pools]
    if idle and not plan.asyncpg_pools:
        # no pool of the application moves onto the engine: whatever asyncpg calls there are
        # run on pools and connections that stay asyncpg's (a library given its pool by the
        # caller, a test's own pool), and stay as they are
        names = tuple(n for n in names if n not in idle)
        notes.extend(f"{name} not run: the application creates no asyncpg pool of its own to move onto the "
                     "engine, so its asyncpg calls stay on asyncpg" for name in idle)
    mine = (lambda rel: shard_of(rel, shard[1]) == shard[0]) if shard else (lambda rel: True)
    if plan.location_problem and (plan.asyncpg_pools or plan.sqlalchemy_engines):
        # whatever the codemods did, some migrated module could not import the generated ones
        return RunResult(root=str(files.root), codemods=list(names), notes=notes,
                         manual=[Manual("", 0, "engine", plan.location_problem)]), plan
    work = [(str(p), rel) for p in files.python if mine(rel := relative(files.root, p))]
    fingerprint = plan_fingerprint(plan)
    result = RunResult(root=str(files.root), codemods=list(names), notes=notes)
    outcomes: list[FileOutcome] = []
    if pool is not None:
        # each file goes to the worker that scanned it, where its syntax tree is waiting
        outcomes = pool.submit(_transform_batch, work, lambda item: item[1], per_task(len(work), pool, most=16),
                               plan, fingerprint, names).results(progress)
    else:
        # in this process, the rewrite of each file leaves a few thousand objects in cycles:
        # the collector, paused for the model (see run), collects them as it goes
        paused = not gc.isenabled()
        gc.enable()
        try:
            for index, (path, rel) in enumerate(work, start=1):
                outcomes.append(_transform_file((path, rel, plan, names), fingerprint))
                if progress:
                    progress(index, len(work))
        finally:
            if paused:
                gc.disable()
    outcomes.extend(Skipped(rel, reason) for p, reason in files.skipped if mine(rel := relative(files.root, p)))
    if notes:  # the pools could not move: each reason is a site a person has to change first
        outcomes = _with_manual_sites(outcomes, [(path, item) for path, item in plan.pool_blockers if mine(path)])
    generated = {o.path: o for o in generated_outcomes(plan, names)}
    outcomes = [o for o in outcomes if o.path not in generated]
    # the migrated code needs SQLAlchemy 2 wherever the project declares what it installs;
    # the generated modules are made whole in every share, so every share agrees on the need
    if any(isinstance(o, Changed) for o in [*outcomes, *generated.values()]):
        declared = declare_sqlalchemy(files.root, (plan.root / plan.engine_path).parent)
        result.manual.extend(m for m in declared.manual if mine(m.path))
        result.notes.extend(declared.notes)
        generated.update((c.path, c) for c in declared.changes)
    generated = {path: o for path, o in generated.items() if mine(path)}
    outcomes = [o for o in outcomes if o.path not in generated] + list(generated.values())
    result.outcomes = sorted(outcomes, key=lambda o: o.path)
    if shard is None:
        log.info("checking that nothing the run changed still calls asyncpg's API")
        result.closure = model.closure(result.outcomes, plan)
        optional = asyncpg_optional(files.root)
        if optional:
            after = {o.path: o.new.decode("utf-8", errors="replace") for o in result.outcomes
                     if isinstance(o, Changed) and o.path.endswith(".py")}
            result.closure += optional_asyncpg(sources, after, generated_modules(plan), optional)
    if model_error:
        result.closure.append(ClosureFinding("", 0, "pgunify", f"{redact_text(model_error)}; nothing can be proven, so "
                                             "nothing is written (please report this)"))
    if shard is None and python is not False and result.pending and not result.blocking:
        log.info("importing the changed modules before and after")
        _import_check(files.root, sources, plan, result, python)
    return result, plan


def _sources(files) -> dict[str, str]:
    """The text of every Python file of the run, by relative path (undecodable ones left out)."""
    sources = {}
    for path in files.python:
        try:
            sources[relative(files.root, path)] = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return sources


def _with_manual_sites(outcomes: list[FileOutcome], sites: list[tuple[str, LeftAlone]]) -> list[FileOutcome]:
    by_path = {o.path: o for o in outcomes}
    for path, item in sites:
        outcome = by_path.get(path)
        if isinstance(outcome, (Changed, Unchanged)):
            by_path[path] = dataclasses.replace(outcome, left_alone=outcome.left_alone + (item,))
        elif outcome is None:
            by_path[path] = Unchanged(path, (item,))
    return list(by_path.values())


def iter_changed(result: RunResult) -> Iterable[Changed]:
    return (o for o in result.outcomes if isinstance(o, Changed))
