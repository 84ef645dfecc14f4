"""The scan: files in, an Inventory of facts and findings out. One bad file never stops it."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, Iterable

import libcst as cst
import pglast

from pgunify import cache
from pgunify.dsn import redact_text
from pgunify.facts import parsed
from pgunify.facts.deployment import read_deployment_file
from pgunify.facts.findings import derive_findings
from pgunify.facts.model import FileFacts, FileProblem, Finding, Inventory, Location, SchemaSource, Severity
from pgunify.facts.python_facts import PREFILTER, facts_from_source
from pgunify.files import FileSet, collect, read_source, relative, shard_of
from pgunify.workers import Workers, per_task


def describe_syntax_error(source: bytes, exc: cst.ParserSyntaxError) -> str:
    """CPython's own parser words syntax errors best (it even spots Python 2 code); ask it first."""
    try:
        compile(source, "<file>", "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
    except SyntaxError as err:
        return f"syntax error at line {err.lineno}, column {err.offset}: {err.msg}"
    except (ValueError, UnicodeDecodeError):
        pass
    return f"syntax error at line {exc.raw_line}: {exc.message}"


def analyse_python_file(path: Path, rel: str) -> FileFacts | FileProblem | None:
    """Facts of one file, a FileProblem saying why there are none, or None when irrelevant."""
    source = read_source(path)
    if isinstance(source, str):
        return FileProblem(rel, source)
    if not PREFILTER.search(source):
        return None
    if b"\x00" in source:
        return FileProblem(rel, "binary content (NUL bytes) in a .py file; skipped")
    cache_key = cache.key("facts", rel, source)
    cached = cache.get("facts", cache_key)
    if not cache.is_miss(cached):
        return cached
    result = _facts_or_problem(rel, source)
    cache.put("facts", cache_key, result)
    return result


def _facts_or_problem(rel: str, source: bytes) -> FileFacts | FileProblem:
    try:
        return facts_from_source(rel, source)
    except cst.ParserSyntaxError as exc:
        return FileProblem(rel, describe_syntax_error(source, exc))
    except (UnicodeDecodeError, LookupError) as exc:
        return FileProblem(rel, f"cannot decode source: {exc}")
    except RecursionError:
        return FileProblem(rel, "nesting too deep to analyse; skipped")
    except Exception as exc:  # noqa: BLE001 - one file's failure is reported, never fatal
        return FileProblem(rel, redact_text(f"analysis failed: {type(exc).__name__}: {exc}"))


def _analyse(args: tuple[str, str]) -> FileFacts | FileProblem | None:
    return analyse_python_file(Path(args[0]), args[1])


def _analyse_many(keep: bool, items: list[tuple[str, str]]) -> list[FileFacts | FileProblem | None]:
    """In a worker: the facts of each file; with `keep`, the worker keeps each file's syntax
    tree for its rewrite (pgunify.facts.parsed)."""
    parsed.keeping(keep)
    return [_analyse(item) for item in items]


def analyse_sql_file(path: Path, rel: str) -> tuple[list[SchemaSource], FileProblem | None]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], FileProblem(rel, f"cannot read SQL file: {exc}")
    try:
        statements = pglast.parse_sql(text)
    except pglast.parser.ParseError as exc:
        return [], FileProblem(rel, f"SQL does not parse: {exc}")
    counts: dict[str, int] = {}
    for raw in statements:
        kind = type(raw.stmt).__name__
        counts[kind] = counts.get(kind, 0) + 1
    ddl = {k: v for k, v in counts.items() if k.startswith(("Create", "Alter", "Index", "Comment", "Drop"))}
    if not ddl:
        return [], None
    detail = ", ".join(f"{v} {k}" for k, v in sorted(ddl.items()))
    return [SchemaSource(Location(rel, 1), "sql-file", detail)], None


def scan(root: Path, exclude: Iterable[str] = (), respect_gitignore: bool = True, jobs: int = 1,
         files: FileSet | None = None, pool: Workers | None = None, shard: tuple[int, int] | None = None,
         per_file: list | None = None, closure: bool = True,
         meanwhile: Callable[[], None] | None = None, keep_parsed: bool = False) -> Inventory:
    """`files` (already collected from root) and `pool` (workers already started) let a caller
    that goes on with the same files and workers skip doing that twice. With `shard` (K, N)
    only the Python files of share K are analysed; `per_file` then receives (position in the
    whole walk, facts or problem) of each, which is what merging the shares needs. `closure`
    False leaves out the closure check over the tree as it is (`pgunify migrate` runs its own,
    over the tree as it would leave it). `meanwhile` runs in this process while the workers
    analyse the files (before the analysis, without workers). `keep_parsed`: the workers keep
    the syntax trees they parse, for a rewrite that follows in the same workers."""
    files = files if files is not None else collect(root, exclude, respect_gitignore)
    base = files.root
    work = [(str(p), relative(base, p)) for p in files.python]
    positions = list(range(len(work)))
    if shard is not None:
        positions = [i for i in positions if shard_of(work[i][1], shard[1]) == shard[0]]
        work = [work[i] for i in positions]
    own_pool = Workers(jobs) if pool is None and jobs > 1 and len(work) > 8 else None
    pool = pool if pool is not None else own_pool
    try:
        pending = None
        if pool is not None and len(work) > 8:
            pool.assign(work)
            # every chunk is handed out here, so the workers go on while `meanwhile` runs
            # at least eight files a task: few hand-offs, so the workers do not wait on this process
            pending = pool.submit(_analyse_many, work, lambda item: item[1], per_task(len(work), pool, least=8),
                                  keep_parsed)
        if meanwhile is not None:
            meanwhile()
        results = pending.results() if pending is not None else [_analyse(item) for item in work]
    finally:
        if own_pool is not None:
            own_pool.shutdown()

    if per_file is not None:
        per_file.extend((i, r) for i, r in zip(positions, results) if r is not None)
    facts: list[FileFacts] = []
    problems: list[FileProblem] = []
    for result in results:
        if isinstance(result, FileFacts):
            facts.append(result)
        elif isinstance(result, FileProblem):
            problems.append(result)

    problems.extend(FileProblem(relative(base, path), reason) for path, reason in files.skipped)

    sql_sources: list[SchemaSource] = []
    for path in files.sql:
        found, problem = analyse_sql_file(path, relative(base, path))
        sql_sources.extend(found)
        if problem:
            problems.append(problem)

    deployment = []
    deployment_files = []
    for path in files.deployment:
        rel = relative(base, path)
        kind, settings, problem = read_deployment_file(path, rel)
        if problem:
            problems.append(problem)
        if kind:
            deployment_files.append(rel)
            deployment.extend(settings)

    inventory = Inventory(
        root=str(base),
        files_scanned=len(work),
        files=tuple(f for f in facts if any((f.factories, f.acquires, f.calls, f.env_reads, f.schema_sources,
                                                f.except_clauses, f.orm_tables, f.returns))),
        deployment=tuple(deployment),
        deployment_files=tuple(deployment_files),
        sql_files=tuple(sql_sources),
        problems=tuple(sorted(problems, key=lambda p: p.path)),
    )
    findings = derive_findings(inventory)
    if shard is None and closure:
        findings += closure_findings(base, files.python)
    return Inventory(**{**inventory.__dict__, "findings": tuple(findings)})


def closure_findings(base: Path, python: Iterable[Path]) -> list[Finding]:
    """The closure check over the tree as it is: on a migrated tree, every call of asyncpg's
    API left on an object that became SQLAlchemy (what `pgunify migrate` checks before writing)."""
    from pgunify.facts.flow import GENERATED_MARKER
    from pgunify.rewrite.closure import check

    sources, generated = [], set()
    for path in python:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        rel = relative(base, path)
        sources.append((rel, text))
        if GENERATED_MARKER in text:
            generated.add(Path(rel).stem)
    found = []
    for item in check(base, sources, generated):
        if item.blocking:
            found.append(Finding("asyncpg-on-sqlalchemy", Severity.ERROR, Location(item.path, item.line),
                                 f"{item.call}: {item.problem}",
                                 fix=item.fix or "move the call onto Core by hand, or run it on asyncpg_connection(...) "
                                                 "from the raw-SQL helpers (docs/closure.md)"))
    return found
