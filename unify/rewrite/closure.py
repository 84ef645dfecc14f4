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

from unify.facts.api import asyncpg_on_sqlalchemy
from unify.facts.flow import ENGINE, SACONN, Program, Verdict
from unify.files import auxiliary


@dataclass(frozen=True)
class ClosureFinding:
    path: str
    line: int
    call: str  # `self.pool.fetchrow(...)`
    problem: str
    blocking: bool = True  # False: listed for the record (a call that stays on asyncpg)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}: {self.problem}"


def legacy_program(root: Path, sources: Iterable[tuple[str, str]], generated_modules: Iterable[str] = ()) -> Program:
    """The model of the application as it is before this run."""
    return Program.build(root, sources, generated_modules)


def check(root: Path, sources: Iterable[tuple[str, str]], generated_modules: Iterable[str]) -> list[ClosureFinding]:
    """Findings of the closure check over the rewritten tree (`sources`: path and new text of
    every Python file, generated files included)."""
    sources = list(sources)
    program = Program.build(root, sources, generated_modules)
    # each module's calls by position, found once: a call site names its call by line and column
    calls = {(m.path, n.lineno, n.col_offset): n for m in program.modules.values()
             for n in ast.walk(m.tree) if isinstance(n, ast.Call)}
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
    findings += _patched_asyncpg(program)
    for path, line, callee, values in program.escapes:
        if values & {ENGINE, SACONN}:
            findings.append(ClosureFinding(path, line, f"{callee}(...)",
                                           "a SQLAlchemy engine or connection is handed to code outside the project, "
                                           "which may have been written for asyncpg"))
    return sorted(set(findings), key=lambda f: (f.path, f.line, f.call))


def _numbered_sql(call: ast.Call) -> bool:
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        return re.search(r"\$[0-9]", first.value) is not None
    return False


_PATCH_TARGET = re.compile(r"^((?:\w+\.)*\w+)\.asyncpg\.\w+")


def _patched_asyncpg(program) -> list[ClosureFinding]:
    """Tests that patch asyncpg inside a module that no longer imports it
    (`patch("app.db.asyncpg.create_pool")`): they fail once that module is on the engine."""
    found = []
    for module in program.modules.values():
        if not auxiliary(module.path):
            continue
        for node in ast.walk(module.tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            match = _PATCH_TARGET.match(node.value)
            target = program.modules.get(match.group(1)) if match else None
            if target is None:
                resolved = program.resolve_module(match.group(1)) if match else None
                target = program.modules.get(resolved) if resolved else None
            if target is not None and "asyncpg" not in target.imports:
                found.append(ClosureFinding(
                    module.path, node.lineno, node.value,
                    f"this test patches asyncpg inside {target.path}, which reaches the database through the engine "
                    "now: the test has to change with it", blocking=False))
    return found
