"""The closure check: the whole-program model asked once more, about the rewritten tree.

After the codemods, no code may call asyncpg's API on an object the run turned into
SQLAlchemy, and no migrated engine or connection may be handed to code outside the
project that was written for asyncpg. Each finding names the file, the line, the call and
what the model saw; any finding stops `--write` and makes the run exit 1.

Calls of asyncpg's API on receivers the model knows nothing of are not violations, but
those that carry `$n` SQL are listed, so nothing is left on asyncpg's API unannounced.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from pgunify.facts.api import TABLE, asyncpg_on_sqlalchemy
from pgunify.facts.flow import ENGINE, SACONN, Program, Verdict, _calls_with_function, walk
from pgunify.files import auxiliary


@dataclass(frozen=True)
class ClosureFinding:
    path: str
    line: int
    call: str  # `self.pool.fetchrow(...)`
    problem: str
    blocking: bool = True  # False: listed for the record (a call that stays on asyncpg)
    fix: str | None = None  # what `pgunify scan` suggests, where the usual remedy does not apply

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}: {self.problem}"


def legacy_program(root: Path, sources: Iterable[tuple[str, str]], generated_modules: Iterable[str] = ()) -> Program:
    """The model of the application as it is before this run."""
    return Program.build(root, sources, generated_modules)


def check(root: Path, sources: Iterable[tuple[str, str]], generated_modules: Iterable[str],
          changed: Iterable[str] = (), legacy: Program | None = None) -> list[ClosureFinding]:
    """Findings of the closure check over the rewritten tree (`sources`: path and new text of
    every Python file, generated files included; `changed`: the files the run rewrites)."""
    sources = list(sources)
    program = Program.build(root, sources, generated_modules, previous=legacy)
    # each module's calls by position, from the calls the model found: a call site names its
    # call by line and column (of calls that start at one position, the innermost); only the
    # modules that have call sites are looked through
    with_sites = {site.path for site in program.sites}
    calls = {(m.path, n.lineno, n.col_offset): n for m in program.modules.values() if m.path in with_sites
             for n, _ in _calls_with_function(m, program)}
    findings: list[ClosureFinding] = []
    for site in program.sites:
        call = calls.get((site.path, site.line, site.column))
        if call is None:
            continue
        text = f"{site.receiver}.{site.method}(...)"
        if site.verdict is Verdict.SQLALCHEMY and asyncpg_on_sqlalchemy(call):
            findings.append(ClosureFinding(site.path, site.line, text,
                                           f"asyncpg's {site.method}() on {site.evidence}: it fails at run time"))
        elif site.verdict is Verdict.MAYBE and site.values & {"SQLAlchemy engine", "SQLAlchemy connection"} \
                and asyncpg_on_sqlalchemy(call):
            findings.append(ClosureFinding(site.path, site.line, text,
                                           f"asyncpg's {site.method}() on a receiver that may be SQLAlchemy now "
                                           f"({', '.join(sorted(site.values))})"))
        elif site.verdict is Verdict.NONE and _numbered_sql(call):
            findings.append(ClosureFinding(site.path, site.line, text,
                                           "stays on asyncpg: the model found no pool or connection of the application "
                                           "behind this receiver", blocking=False))
    for site in program.core_sites:
        findings.append(ClosureFinding(site.path, site.line, f"{site.receiver}.{site.method}(...)",
                                       f"SQLAlchemy's {site.method}() on a receiver that may hold asyncpg's own "
                                       f"connection ({', '.join(sorted(site.values))}): it fails at run time"))
    findings += _record_checks(program, bool(changed))
    findings += _patched_asyncpg(program)
    findings += _mocked_connections(program, frozenset(changed))
    for path, line, callee, values in program.escapes:
        if values & {ENGINE, SACONN}:
            findings.append(ClosureFinding(path, line, f"{callee}(...)",
                                           "a SQLAlchemy engine or connection is handed to code outside the project, "
                                           "which may have been written for asyncpg"))
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.call))


def _record_checks(program: Program, migrating: bool) -> list[ClosureFinding]:
    """`isinstance(x, asyncpg.Record)` that the repositories codemod did not widen (a module
    it does not rewrite, a name it could not use). Where the model sees records of the
    raw-SQL helpers reach `x`, the check that held before turns False without an error:
    blocking. Elsewhere, while the run moves queries, it is listed."""
    found = []
    for check in program.record_checks():
        if check.reached:
            found.append(ClosureFinding(
                check.path, check.line, check.code,
                "records of queries moved onto Core reach this check; they are the raw-SQL helpers' Record, which "
                "asyncpg.Record does not accept, so it turns False without an error. Accept both: "
                "`(asyncpg.Record, Record)`, with Record imported from the raw-SQL helpers module",
                fix="isinstance(x, (asyncpg.Record, Record)) with Record from the raw-SQL helpers (docs/closure.md)"))
        elif migrating:
            found.append(ClosureFinding(
                check.path, check.line, check.code,
                "accepts asyncpg's Record only; records of queries moved onto Core are the raw-SQL helpers' Record, "
                "which it rejects (the model found none reaching it)", blocking=False))
    return found


def _numbered_sql(call: ast.Call) -> bool:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return re.search(r"\$[0-9]", first.value) is not None
    return False


_PATCH_TARGET = re.compile(r"^((?:\w+\.)*\w+)\.asyncpg\.(\w+)$")


def _patched_asyncpg(program) -> list[ClosureFinding]:
    """Tests that patch asyncpg inside a module that no longer imports it
    (`patch("app.db.asyncpg.create_pool")`): they fail once that module is on the engine."""
    found = []
    for module in program.modules.values():
        if not auxiliary(module.path):
            continue
        for node in walk(module.tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            match = _PATCH_TARGET.match(node.value)
            target = program.modules.get(match.group(1)) if match else None
            if target is None:
                resolved = program.resolve_module(match.group(1)) if match else None
                target = program.modules.get(resolved) if resolved else None
            if target is not None and ("asyncpg" not in target.imports
                                       or not _calls_asyncpg(target.tree, match.group(2))):
                found.append(ClosureFinding(
                    module.path, node.lineno, node.value,
                    f"this test patches asyncpg.{match.group(2)} inside {target.path}, which no longer calls it: it "
                    "reaches the database through the engine now, so the test fails until it changes with it"))
    return found


def _calls_asyncpg(tree: ast.Module, name: str) -> bool:
    """Whether a module still refers to `asyncpg.<name>`."""
    return any(isinstance(n, ast.Attribute) and n.attr == name and isinstance(n.value, ast.Name)
               and n.value.id == "asyncpg" for n in walk(tree))


_MOCK_FACTORIES = frozenset({"Mock", "MagicMock", "AsyncMock", "NonCallableMagicMock", "create_autospec"})
_MOCK_CHECKS = frozenset({
    "assert_called", "assert_called_once", "assert_called_with", "assert_called_once_with", "assert_any_call",
    "assert_has_calls", "assert_not_called", "assert_awaited", "assert_awaited_once", "assert_awaited_with",
    "assert_awaited_once_with", "assert_any_await", "assert_has_awaits", "assert_not_awaited", "call_args",
    "call_args_list", "await_args", "await_args_list", "call_count", "await_count", "called", "awaited",
    "return_value", "side_effect", "mock_calls"})


def _mocked_connections(program: Program, changed: frozenset[str]) -> list[ClosureFinding]:
    """Tests that hand a mock in place of asyncpg's pool or connection to a function this run
    rewrites, and check asyncpg's calls on it (`conn = AsyncMock(); await create_tables(conn);
    conn.execute.assert_has_calls([...])`): the function makes SQLAlchemy's calls now, so the
    test fails until it changes with it."""
    found = []
    for module in program.modules.values():
        if not auxiliary(module.path):
            continue
        for function in walk(module.tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            mocks = {target.id for node in walk(function) if isinstance(node, ast.Assign)
                     and isinstance(node.value, ast.Call) and _callee_name(node.value.func) in _MOCK_FACTORIES
                     for target in node.targets if isinstance(target, ast.Name)}
            if not mocks:
                continue
            checked = {(n.value.value.id, n.value.attr) for n in walk(function)
                       if isinstance(n, ast.Attribute) and n.attr in _MOCK_CHECKS
                       and isinstance(n.value, ast.Attribute) and n.value.attr in TABLE
                       and isinstance(n.value.value, ast.Name) and n.value.value.id in mocks}
            if not checked:
                continue
            for call in walk(function):
                if not isinstance(call, ast.Call):
                    continue
                handed = {a.id for a in [*call.args, *(k.value for k in call.keywords)] if isinstance(a, ast.Name)}
                target = _project_function(program, module, call.func)
                if target is None or target not in changed:
                    continue
                for name, method in sorted(checked):
                    if name in handed:
                        found.append(ClosureFinding(
                            module.path, call.lineno, f"{name}.{method}",
                            f"this test hands a mock to {ast.unparse(call.func)}() in {target} and checks asyncpg's "
                            f"{method}() on it; that function makes SQLAlchemy's calls now, so the test fails until it "
                            "changes with it"))
    return found


def _callee_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _project_function(program: Program, module, func: ast.expr) -> str | None:
    """The path of the project module that defines the function a test calls, if any."""
    if isinstance(func, ast.Name):
        qualified = module.imports.get(func.id)
        dotted = qualified.rsplit(".", 1)[0] if qualified and "." in qualified else None
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        dotted = module.imports.get(func.value.id)
    else:
        dotted = None
    if dotted is None:
        return None
    found = program.modules.get(dotted)
    if found is None:
        resolved = program.resolve_module(dotted)
        found = program.modules.get(resolved) if resolved else None
    return found.path if found is not None else None


def optional_asyncpg(before: dict[str, str], after: dict[str, str], generated_modules: Iterable[str],
                     where: str) -> list[ClosureFinding]:
    """Modules that could be imported without asyncpg before and cannot after.

    Only asked where the project declares asyncpg optional (`where`, from
    pgunify.rewrite.dependencies.asyncpg_optional): a library that supports several
    databases imports asyncpg under a guard, or only for type checking. A rewritten module
    that gains a top-level import of SQLAlchemy, asyncpg or a generated module (which needs
    both) now fails to import wherever asyncpg is not installed."""
    tails = {name.rsplit(".", 1)[-1] for name in generated_modules}
    full = set(generated_modules)
    findings = []
    for path, new_text in sorted(after.items()):
        old_text = before.get(path)
        if old_text is None or old_text == new_text:
            continue
        try:
            old, new = ast.parse(old_text), ast.parse(new_text)
        except SyntaxError:
            continue
        old_imports = {name for _, name in _runtime_imports(old)}
        if any(_root(name) == "asyncpg" for name in old_imports):
            continue  # it needed asyncpg before
        for node, name in _runtime_imports(new):
            if name in old_imports:
                continue
            bare = name.lstrip(".")
            if _root(name) in ("asyncpg", "sqlalchemy") or bare in full or (name.startswith(".") and bare.rsplit(".", 1)[-1] in tails):
                findings.append(ClosureFinding(
                    path, node.lineno, ast.unparse(node),
                    f"the project declares asyncpg optional ({where}) and this module imported without it; this new "
                    "import runs when the module is imported and needs asyncpg and SQLAlchemy, so where asyncpg is "
                    "not installed the module no longer imports. Make asyncpg and SQLAlchemy main dependencies, or "
                    "import them under the same guard as the module's other optional imports"))
                break
    return findings


def _root(name: str) -> str:
    return "" if name.startswith(".") else name.split(".", 1)[0]


def _runtime_imports(tree: ast.Module) -> list[tuple[ast.stmt, str]]:
    """Imports the module runs unconditionally when it is imported (not under `if` or `try`)."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            found += [(node, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            found.append((node, "." * node.level + (node.module or "")))
    return found
