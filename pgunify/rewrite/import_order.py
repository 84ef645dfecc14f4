"""Where an import the migration adds goes: in its sorted place and group, as the target's
import sorter (isort, ruff's `I` rules) would put it, without touching the lines that were
there before.

libcst's AddImportsVisitor appends a new import after the last one of the module head.
Here each statement it added is taken out again and put back into its section (future,
standard library, third party, first party, relative), in the order isort's defaults
give (`import x` before `from x import y` within a section, modules compared without
case), with a blank line between sections. A new `from` import longer than the target's
line length is wrapped in parentheses, one name per line, as isort writes it. Imports
the visitor merged into an existing `from m import ...` stay where they are.

The target's settings come from its pyproject.toml: the line length of `[tool.ruff]`,
`[tool.isort]` or `[tool.black]` (88 when none sets it), and the modules it declares its
own (`known-first-party` / `known_first_party`); the generated engine and raw-SQL
modules, and whatever is found as a folder or module in the root or its `src/`, are
the application's own as well.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import libcst as cst

DEFAULT_LINE_LENGTH = 88

_FUTURE, _STDLIB, _THIRD_PARTY, _FIRST_PARTY, _LOCAL = range(5)


@dataclass(frozen=True)
class ImportStyle:
    line_length: int = DEFAULT_LINE_LENGTH
    first_party: frozenset[str] = frozenset()
    roots: tuple[Path, ...] = ()  # folders whose top-level modules are the project's own


@lru_cache(maxsize=32)
def import_style(root: Path, import_root: Path, own_modules: tuple[str, ...] = ()) -> ImportStyle:
    """The target's settings; `own_modules` are dotted modules known to be the application's
    (the engine and raw-SQL modules the migration writes)."""
    settings = _pyproject_tools(root)
    ruff = settings.get("ruff", {})
    lint = ruff.get("lint", {}) if isinstance(ruff.get("lint"), dict) else {}
    ruff_isort = lint.get("isort", ruff.get("isort", {})) or {}
    isort = settings.get("isort", {})
    black = settings.get("black", {})
    length = DEFAULT_LINE_LENGTH
    for value in (ruff.get("line-length"), isort.get("line_length"), black.get("line-length")):
        if isinstance(value, int) and value > 0:
            length = value
            break
    first_party = {name.split(".")[0] for name in own_modules if name}
    for value in (ruff_isort.get("known-first-party"), isort.get("known_first_party")):
        if isinstance(value, list):
            first_party.update(str(name).split(".")[0] for name in value)
    roots = tuple(dict.fromkeys([root, import_root, root / "src"]))
    return ImportStyle(line_length=length, first_party=frozenset(first_party), roots=roots)


def _pyproject_tools(root: Path) -> dict:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    tools = data.get("tool", {})
    return tools if isinstance(tools, dict) else {}


def place_added(before: cst.Module, after: cst.Module, style: ImportStyle) -> cst.Module:
    """`after` (= `before` with imports added to its head) with each added import statement
    moved to its sorted place and group."""
    old_modules = {_module_of(small) for statement in before.body if _is_import_line(statement)
                   for small in statement.body}
    old_code = {before.code_for_node(statement.with_changes(leading_lines=())) for statement in before.body
                if _is_import_line(statement)}
    body = list(after.body)
    start = 0
    while start < len(body) and not _is_import_line(body[start]):
        if start > 0 or not _is_docstring(body[start]):
            return after  # imports that do not start the module: leave them as libcst put them
        start += 1
    end = start
    while end < len(body) and _is_import_line(body[end]):
        end += 1
    head = body[start:end]
    added = [statement for statement in head
             if after.code_for_node(statement.with_changes(leading_lines=())) not in old_code
             and not any(_module_of(small) is not None and _module_of(small) in old_modules
                         for small in statement.body)]
    if not added and all(after.code_for_node(statement.with_changes(leading_lines=())) in old_code
                         for statement in head):
        return after
    kept = []
    for statement in head:
        if any(statement is new for new in added):
            continue
        if after.code_for_node(statement.with_changes(leading_lines=())) not in old_code:
            # names the visitor merged into an existing `from m import ...`: that line in order
            statement = _formatted(statement, after, style).with_changes(leading_lines=statement.leading_lines)
        kept.append(statement)
    if not kept:
        return after
    for statement in added:
        kept = _insert(kept, _formatted(statement, after, style), style)
    return after.with_changes(body=[*body[:start], *kept, *body[end:]])


def _is_import_line(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and bool(statement.body) and all(
        isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)


def _is_docstring(statement: cst.BaseStatement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr)
            and isinstance(statement.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def _module_of(small: cst.BaseSmallStatement) -> tuple[int, str] | None:
    """(relative level, dotted module) of a `from` import; None for `import x`."""
    if not isinstance(small, cst.ImportFrom):
        return None
    module = cst.Module(body=()).code_for_node(small.module) if small.module is not None else ""
    return (len(small.relative), module)


def _names(small: cst.BaseSmallStatement) -> list[str]:
    code = cst.Module(body=()).code_for_node
    if isinstance(small, cst.Import):
        return [code(alias.name) for alias in small.names]
    if isinstance(small, cst.ImportFrom):
        return [code(small.module)] if small.module is not None else ["."]
    return [""]


def _section(statement: cst.SimpleStatementLine, style: ImportStyle) -> int:
    small = statement.body[0]
    if isinstance(small, cst.ImportFrom) and small.relative:
        return _LOCAL
    top = _names(small)[0].split(".")[0]
    if top == "__future__":
        return _FUTURE
    if top in style.first_party:
        return _FIRST_PARTY
    if top in sys.stdlib_module_names:
        return _STDLIB
    for root in style.roots:
        if (root / top).is_dir() or (root / f"{top}.py").is_file():
            return _FIRST_PARTY
    return _THIRD_PARTY


def _key(statement: cst.SimpleStatementLine) -> tuple:
    small = statement.body[0]
    dots = len(small.relative) if isinstance(small, cst.ImportFrom) else 0
    name = _names(small)[0]
    return (isinstance(small, cst.ImportFrom), -dots, name.lower(), name)


def _member_key(name: str) -> tuple:
    """isort's order of imported names: CONSTANTS, Classes, then everything else."""
    if len(name) > 1 and name.isupper():
        kind = 0
    elif name[:1].isupper():
        kind = 1
    else:
        kind = 2
    return (kind, name.lower(), name)


def _formatted(statement: cst.SimpleStatementLine, module: cst.Module, style: ImportStyle) -> cst.SimpleStatementLine:
    small = statement.body[0]
    if (len(statement.body) != 1 or not isinstance(small, cst.ImportFrom) or isinstance(small.names, cst.ImportStar)
            or "#" in module.code_for_node(statement.with_changes(leading_lines=()))):  # comments stay as written
        return statement.with_changes(leading_lines=())
    aliases = sorted(small.names, key=lambda alias: _member_key(module.code_for_node(alias.name)))
    names = [module.code_for_node(alias.with_changes(comma=cst.MaybeSentinel.DEFAULT)) for alias in aliases]
    prefix = "." * len(small.relative) + (module.code_for_node(small.module) if small.module is not None else "")
    one_line = f"from {prefix} import {', '.join(names)}"
    if len(one_line) <= style.line_length:
        text = one_line
    else:
        text = f"from {prefix} import (\n" + "".join(f"    {name},\n" for name in names) + ")"
    return cst.parse_statement(text + "\n")  # type: ignore[return-value]


def _blank() -> tuple[cst.EmptyLine, ...]:
    return (cst.EmptyLine(),)


def _insert(lines: list[cst.SimpleStatementLine], new: cst.SimpleStatementLine,
            style: ImportStyle) -> list[cst.SimpleStatementLine]:
    section, key = _section(new, style), _key(new)
    sections = [_section(line, style) for line in lines]
    same = [index for index, value in enumerate(sections) if value == section]
    if same:
        after = [index for index in same if _key(lines[index]) > key]
        if after and after[0] == same[0]:  # first of its section: it takes over the blank lines
            at = same[0]
            moved = lines[at].leading_lines
            lines = [*lines[:at], new.with_changes(leading_lines=moved),
                     lines[at].with_changes(leading_lines=()), *lines[at + 1:]]
            return lines
        at = after[0] if after else same[-1] + 1
        return [*lines[:at], new.with_changes(leading_lines=()), *lines[at:]]
    # a section of its own, between the sections before and after it
    at = next((index for index, value in enumerate(sections) if value > section), len(lines))
    if at == 0:
        first = lines[0]
        return [new.with_changes(leading_lines=first.leading_lines), first.with_changes(leading_lines=_blank()),
                *lines[1:]]
    result = [*lines[:at], new.with_changes(leading_lines=_blank())]
    if at < len(lines):
        follower = lines[at]
        if not follower.leading_lines:
            follower = follower.with_changes(leading_lines=_blank())
        result += [follower, *lines[at + 1:]]
    return result
