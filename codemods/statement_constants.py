"""statement-constants: a text() statement whose SQL never changes is built once, at import.

After `repositories`, each statement is a `text()` built where the asyncpg call was,
inside the method, so it is built again on every call: `text()` scans the SQL for its
binds and makes a bind object for each, and SQLAlchemy then computes the new object's
cache key before it finds the compiled form it already has. Code written for SQLAlchemy
builds a fixed statement once, as a module constant, and executes that object:

    _CREATE_SQL = text(
        "INSERT INTO alerts (camera_id, message) VALUES (:camera_id, :message) RETURNING id"
    )


    class AlertRepository:
        async def create(self, alert):
            async with self.pool.connect() as conn:
                row = first_record(await conn.execute(_CREATE_SQL, {...}))

A `TextClause` is never changed by executing it (`.bindparams()` and `.columns()` return
new objects), so one object serves every call and every task at once; the SQL moves as
written, literal for literal.

Only the statements this run wrote are moved (a `text()` the application wrote itself
stays where it is), and only where the move keeps every name meaning what it meant: the
SQL is one or more string literals (no f-string), or a module constant bound once, above
the place the constant goes; `text` and the types a `.columns()` declaration names are
imported at the top of the module, above it too. Each constant goes right above the class
or function that uses it, named after the function (`_CREATE_SQL`; with several
statements in one function, after their first keyword or in order), never with a name
the module already uses. The same statement written twice shares one constant.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import libcst as cst

from pgunify.cst_fields import children, rebuilt
from pgunify.rewrite.import_order import import_style
from pgunify.rewrite.outcome import Change, Risk
from pgunify.rewrite.sources import is_test_file
from pgunify.templates import unique_name

from ._base import CodemodInfo, UnifyCodemod

_CHAINS = frozenset({"columns"})  # text(...).columns(name=Type): still one fixed statement
_SQL_KEYWORD = re.compile(r"\s*\(*\s*([A-Za-z]+)")


@dataclass(eq=False)
class _Found:
    """One text() call built inside a function whose SQL is fixed."""

    node: cst.Call  # the whole expression that becomes the constant (text(...) or text(...).columns(...))
    text_call: cst.Call
    statement: int  # index of the module's top-level statement that holds it
    owner: str  # the function it is built in
    sql_names: tuple[str, ...]  # module names the SQL argument reads (a SQL constant)
    chain_names: tuple[str, ...]  # names the .columns() declaration reads
    path: tuple[int, ...]  # ids of the nodes from its top-level statement down to it
    local_names: set[str]  # names bound inside the top-level statement that holds it (complete after the visit)


class StatementConstantsCodemod(UnifyCodemod):
    info = CodemodInfo(
        name="statement-constants",
        summary="Build each text() statement whose SQL is fixed once, as a module constant, instead of on every call",
        risk=Risk.SAFE,
        why="text() parses its SQL and SQLAlchemy computes a cache key for every new statement object; a fixed "
            "statement built once at import skips both on every call, as code written for SQLAlchemy does.",
    )
    # nothing resolved: what it needs is read off the module's top-level statements and names
    METADATA_DEPENDENCIES = ()

    @classmethod
    def get_inherited_dependencies(cls):  # libcst unites the dependencies of every base class
        return frozenset()

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        return False  # decided by path as well (wants_file)

    @classmethod
    def wants_file(cls, rel: str, source: bytes, plan) -> bool:
        from .repositories import RepositoryCodemod

        # a test runs its statements once or twice: its SQL stays where the test reads it
        return not is_test_file(rel) and RepositoryCodemod.wants_file(rel, source, plan)

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if self.in_generated_file():
            return tree
        imported = _imported_at(tree, "text", ("sqlalchemy", "sqlalchemy.sql", "sqlalchemy.sql.expression"))
        if imported is None:
            return tree  # text is not sqlalchemy's, imported at the top: nothing can move safely
        # one visit of the module: the candidates, and every name bound or written anywhere
        text_at, text_name = imported
        collector = _Collector(text_name)
        for index, statement in enumerate(tree.body):
            collector.start(index, eligible=index > text_at and isinstance(statement, (cst.FunctionDef, cst.ClassDef)))
            collector.walk(statement)
        bound = _top_level_bindings(tree, collector.declared_global)
        if len(bound.get(text_name, ())) != 1:
            return tree
        self._written = written = _texts_written(self.context.filename)
        module = cst.Module([])
        found = [f for f in collector.found if _movable(f, bound, module, written)]
        if not found:
            return tree
        names = _constant_names(found, module, collector.names)
        # only the nodes between each statement and the calls that go are rebuilt: no second visit
        replace = {id(f.node): cst.Name(names[id(f.node)]) for f in found}
        on_path = {ancestor for f in found for ancestor in f.path}
        tree = tree.with_changes(body=[rebuilt(statement, replace, on_path) for statement in tree.body])
        limit = import_style(self.plan.root, self.plan.import_root).line_length
        return self._insert(tree, found, names, module, limit)

    def _insert(self, tree: cst.Module, found: list[_Found], names: dict[int, str], module: cst.Module,
                limit: int) -> cst.Module:
        by_statement: dict[int, list[_Found]] = {}
        defined: set[str] = set()
        for f in found:
            if names[id(f.node)] not in defined:
                defined.add(names[id(f.node)])
                by_statement.setdefault(f.statement, []).append(f)
        indent = tree.default_indent
        body: list[cst.BaseStatement] = []
        pending: list[tuple[int, str, str]] = []  # (position in body, name, owner) for the report
        for index, statement in enumerate(tree.body):
            constants = by_statement.get(index, [])
            if constants:
                blank, rest = _split_leading(statement.leading_lines)
                if index and _is_import(tree.body[index - 1]):
                    blank = [cst.EmptyLine()]  # one blank line between the imports and a constant
                previous_spans = False
                for number, f in enumerate(constants):
                    name = names[id(f.node)]
                    line = cst.parse_statement(_constant_source(name, f, module, indent, limit),
                                               config=tree.config_for_parsing)
                    spans = _spans_lines(line, module)
                    # one-line constants stand together; one that spans lines stands apart
                    lines = blank if number == 0 else [cst.EmptyLine()] if spans or previous_spans else []
                    previous_spans = spans
                    body.append(line.with_changes(leading_lines=lines))
                    pending.append((len(body) - 1, name, f.owner))
                statement = statement.with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine(), *rest])
            body.append(statement)
        tree = tree.with_changes(body=body)
        for _, name, owner in pending:
            # the line of the function that built the statement, in the file on disk
            self.changes.append(Change(self.info.name, _owner_line(self._written, owner),
                                       f"the statement of {owner} is built once, at import, as {name}", self.info.risk))
        return tree


class _Collector:
    """One walk of the module, statement by statement: the text() calls of fixed SQL built
    inside functions of the eligible top-level statements, the names bound inside each of those
    statements, every name written anywhere, and the names declared `global`.

    It walks the dataclass fields of the nodes itself: libcst's visit rebuilds every node it
    passes, several times the cost of reading them, and nothing here is rebuilt.
    """

    def __init__(self, text_name: str) -> None:
        self.text_name = text_name  # what sqlalchemy's text is imported as
        self.found: list[_Found] = []
        self.names: set[str] = set()
        self.declared_global: set[str] = set()
        self._functions: list[str] = []
        self._classes: list[str] = []
        self._outside_body = 0  # parameters and decorators run once, where the function is defined
        self._inner: set[int] = set()  # text() calls found as part of a .columns() chain
        self._path: list[int] = []  # ids of the nodes being walked, outermost first

    def start(self, statement: int, eligible: bool) -> None:
        self.statement = statement
        self.eligible = eligible
        self.local_names: set[str] = set()  # filled during the walk, read once it is over
        self._top = True

    def walk(self, node: cst.CSTNode) -> None:
        self._path.append(id(node))
        kind = type(node)
        if kind is cst.Name:
            self.names.add(node.value)
        elif kind is cst.Call:
            self._call(node)
        elif kind in (cst.FunctionDef, cst.ClassDef):
            if not self._top:
                self.local_names.add(node.name.value)
            (self._functions if kind is cst.FunctionDef else self._classes).append(node.name.value)
        elif kind in (cst.Parameters, cst.Decorator):
            self._outside_body += 1
        elif kind is cst.Param:
            self.local_names.add(node.name.value)
        elif kind in _TARGETS:
            self.local_names.update(_names_in(getattr(node, _TARGETS[kind])))
        elif kind is cst.ImportAlias:
            self.local_names.update(_names_in(node.asname.name if node.asname else node.name))
        elif kind in (cst.Global, cst.Nonlocal):
            declared = {item.name.value for item in node.names}
            self.local_names.update(declared)
            if kind is cst.Global:
                self.declared_global.update(declared)
        self._top = False
        for child in children(node):
            self.walk(child)
        if kind is cst.FunctionDef:
            self._functions.pop()
        elif kind is cst.ClassDef:
            self._classes.pop()
        elif kind in (cst.Parameters, cst.Decorator):
            self._outside_body -= 1
        self._path.pop()

    def _call(self, node: cst.Call) -> None:
        if not self.eligible or not self._functions or self._outside_body or id(node) in self._inner:
            return
        whole, text_call, chain_names = node, node, ()
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _CHAINS and \
                isinstance(node.func.value, cst.Call) and _is_text(node.func.value, self.text_name):
            chain_names = _chain_names(node)
            if chain_names is None:
                return  # a declaration built from values of the call: the inner text() may still move
            text_call = node.func.value
        elif not _is_text(node, self.text_name):
            return
        sql_names = _sql_names(text_call.args[0].value)
        if sql_names is None:
            return
        owner = ".".join(self._classes[-1:] + self._functions[-1:])
        self._inner.add(id(text_call))
        self.found.append(_Found(whole, text_call, self.statement, owner, sql_names, chain_names,
                                 tuple(self._path), self.local_names))


# nodes that bind the names of one of their fields
_TARGETS = {cst.AssignTarget: "target", cst.AnnAssign: "target", cst.AugAssign: "target",
            cst.NamedExpr: "target", cst.For: "target", cst.CompFor: "target", cst.AsName: "name"}
def _is_text(node: cst.Call, name: str) -> bool:
    return isinstance(node.func, cst.Name) and node.func.value == name and len(node.args) == 1 and \
        node.args[0].keyword is None and not node.args[0].star


def _sql_names(value: cst.BaseExpression) -> tuple[str, ...] | None:
    """The module names fixed SQL reads (none for literals); None: not fixed."""
    if isinstance(value, cst.SimpleString):
        return ()
    if isinstance(value, cst.ConcatenatedString):
        left, right = _sql_names(value.left), _sql_names(value.right)
        return None if left is None or right is None else left + right
    if isinstance(value, cst.Name):
        return (value.value,)
    return None


def _chain_names(node: cst.Call) -> tuple[str, ...] | None:
    """Names a `.columns(name=Type, ...)` declaration reads; None when it reads anything else."""
    names = []
    for arg in node.args:
        if arg.star or not isinstance(arg.value, cst.Name):
            return None
        names.append(arg.value.value)
    return tuple(names)


def _movable(found: _Found, bound: dict[str, list[tuple[int, str]]], module: cst.Module,
             written: str | None) -> bool:
    """Whether the statement can be built at import above its top-level statement and mean the same."""
    for name in found.sql_names:
        # a SQL constant bound once, by an assignment above the place the constant goes
        if [kind for _, kind in bound.get(name, [])] != ["assign"] or bound[name][0][0] >= found.statement:
            return False
    for name in found.chain_names:
        if [kind for _, kind in bound.get(name, [])] != ["import"] or bound[name][0][0] >= found.statement:
            return False
    if set(found.sql_names + found.chain_names + (found.text_call.func.value,)) & found.local_names:
        return False  # a name the statement reads is also bound inside its class or function
    if written is not None:
        argument = module.code_for_node(found.text_call.args[0].value)
        if re.search(r"\btext\(\s*" + re.escape(argument), written):
            return False  # the application wrote this text() itself: not this run's to move
    return True


def _owner_line(written: str | None, owner: str) -> int:
    """The line of `def name` (inside `class Name` for a method) in the file on disk; 0 when
    there is no file or no such line."""
    if written is None:
        return 0
    *cls, function = owner.split(".")
    start = 0
    if cls:
        found = re.search(rf"^[ \t]*class[ \t]+{re.escape(cls[0])}\b", written, re.MULTILINE)
        if found is None:
            return 0
        start = found.end()
    found = re.compile(rf"^[ \t]*(?:async[ \t]+)?def[ \t]+{re.escape(function)}\b", re.MULTILINE).search(written, start)
    return written.count("\n", 0, found.start()) + 1 if found else 0


def _texts_written(filename: str | None) -> str | None:
    """The file as the application has it on disk, where a text() it wrote itself can be told
    from one this run wrote; None when there is no such file."""
    if not filename:
        return None
    try:
        return Path(filename).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _top_level_bindings(tree: cst.Module, declared_global: set[str]) -> dict[str, list[tuple[int, str]]]:
    """Every name the module's top-level statements bind: (statement index, how) per binding.
    A name declared `global` anywhere counts as bound twice (a function may rebind it)."""
    bound: dict[str, list[tuple[int, str]]] = {}

    def add(name: str, index: int, kind: str) -> None:
        bound.setdefault(name, []).append((index, kind))

    for index, statement in enumerate(tree.body):
        if isinstance(statement, (cst.FunctionDef, cst.ClassDef)):
            add(statement.name.value, index, "def")
            continue
        if not isinstance(statement, cst.SimpleStatementLine):
            for name in _names_in(statement):  # if/try/for/with at the top: anything may be bound
                add(name, index, "block")
            continue
        for small in statement.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    target = alias.asname.name if alias.asname else alias.name
                    if isinstance(target, cst.Name):
                        add(target.value, index, "import")
                    elif isinstance(target, cst.Attribute):
                        add(module_root(target), index, "import")
            elif isinstance(small, cst.ImportFrom):
                add("*", index, "import")
            elif isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
                for target in targets:
                    for name in _names_in(target):
                        add(name, index, "assign" if isinstance(small, (cst.Assign, cst.AnnAssign)) else "augment")
    for name in declared_global:
        add(name, -1, "global")
    return bound


def module_root(node: cst.Attribute) -> str:
    while isinstance(node, cst.Attribute):
        node = node.value
    return node.value if isinstance(node, cst.Name) else ""


def _imported_at(tree: cst.Module, name: str, modules: tuple[str, ...]) -> tuple[int, str] | None:
    """(index, local name) of the top-level `from <module> import name [as alias]`."""
    for index, statement in enumerate(tree.body):
        if not isinstance(statement, cst.SimpleStatementLine):
            continue
        for small in statement.body:
            if isinstance(small, cst.ImportFrom) and small.module is not None and not small.relative and \
                    cst.Module([]).code_for_node(small.module) in modules and \
                    not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    if isinstance(alias.name, cst.Name) and alias.name.value == name:
                        local = alias.asname.name if alias.asname else alias.name
                        if isinstance(local, cst.Name):
                            return index, local.value
    return None


def _names_in(node: cst.CSTNode) -> list[str]:
    """The names a (small) node writes: a target, an alias."""
    if isinstance(node, cst.Name):
        return [node.value]
    names: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.Name):
            names.append(current.value)
        else:
            stack.extend(children(current))
    return names


def _constant_names(found: list[_Found], module: cst.Module, used: set[str]) -> dict[int, str]:
    """A name per found expression: one per distinct statement, after the function that builds it."""
    by_code: dict[str, str] = {}
    names: dict[int, str] = {}
    taken = set(used)
    owners: dict[str, list[_Found]] = {}
    for f in found:
        owners.setdefault(f.owner, []).append(f)
    for f in found:
        code = module.code_for_node(f.node)
        if f.sql_names and code not in by_code:
            # text(SOME_SQL): named after the SQL constant it builds
            name = "_" + re.sub(r"_(SQL|QUERY|STATEMENT|STMT)$", "", f.sql_names[0].lstrip("_").upper()) + "_STATEMENT"
            if f.node is not f.text_call:
                name += "_" + "_".join(f.chain_names).upper()
            by_code[code] = unique_name(name, taken)
    for owner, items in owners.items():
        distinct: dict[str, _Found] = {}
        for f in items:
            if not f.sql_names:
                distinct.setdefault(module.code_for_node(f.node), f)
        if not distinct:
            continue
        base = "_" + owner.rsplit(".", 1)[-1].lstrip("_").upper()
        if len(distinct) == 1:
            suffixes = [""]
        else:
            keywords = [_keyword(f.text_call, module) for f in distinct.values()]
            if all(keywords) and len(set(keywords)) == len(keywords):
                suffixes = ["_" + k for k in keywords]
            else:
                suffixes = [f"_{n}" for n in range(1, len(distinct) + 1)]
        for (code, f), suffix in zip(distinct.items(), suffixes):
            if code in by_code:
                continue  # the same statement elsewhere: one constant
            name = f"{base}{suffix}_SQL" if not suffix[1:].isdigit() else f"{base}_SQL{suffix}"
            by_code[code] = unique_name(name, taken)
    for f in found:
        names[id(f.node)] = by_code[module.code_for_node(f.node)]
    return names


def _keyword(text_call: cst.Call, module: cst.Module) -> str | None:
    """The statement's first keyword (SELECT, INSERT, ...) where the SQL is literals."""
    value = text_call.args[0].value
    if not isinstance(value, (cst.SimpleString, cst.ConcatenatedString)):
        return None
    try:
        sql = ast.literal_eval(module.code_for_node(value).strip())
    except (ValueError, SyntaxError):
        return None
    match = _SQL_KEYWORD.match(sql) if isinstance(sql, str) else None
    return match.group(1).upper() if match else None


def _literal_parts(value: cst.BaseExpression) -> list[cst.SimpleString] | None:
    if isinstance(value, cst.SimpleString):
        return [value]
    if isinstance(value, cst.ConcatenatedString):
        between = value.whitespace_between
        if isinstance(between, cst.ParenthesizedWhitespace) and (
                between.first_line.comment is not None or any(line.comment for line in between.empty_lines)):
            return None  # a comment between the pieces: the pieces keep their layout
        left, right = _literal_parts(value.left), _literal_parts(value.right)
        return None if left is None or right is None else left + right
    return None


def _constant_source(name: str, found: _Found, module: cst.Module, indent: str, limit: int) -> str:
    """`NAME = text(SQL)` at module level, laid out for the module, the SQL literal for literal."""
    function = found.text_call.func.value  # text, or what the module imports it as
    value = found.text_call.args[0].value
    parts = _literal_parts(value)
    chain = "" if found.node is found.text_call else \
        "." + module.code_for_node(found.node.func.attr) + "(" + \
        ", ".join(module.code_for_node(a).rstrip(", ") for a in found.node.args) + ")"
    if parts is None:
        sql = module.code_for_node(value)
        return f"{name} = {function}({sql}){chain}\n"
    pieces = [module.code_for_node(p) for p in parts]
    one_line = f"{name} = {function}({' '.join(pieces)}){chain}"
    if len(pieces) == 1 and "\n" not in pieces[0] and len(one_line) <= limit:
        return one_line + "\n"
    inner = ("\n" + indent).join(pieces)
    return f"{name} = {function}(\n{indent}{inner}\n){chain}\n"


def _is_import(statement: cst.BaseStatement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and \
        all(isinstance(small, (cst.Import, cst.ImportFrom)) for small in statement.body)


def _spans_lines(line: cst.BaseStatement, module: cst.Module) -> bool:
    return "\n" in module.code_for_node(line).rstrip("\n")


def _split_leading(lines) -> tuple[list[cst.EmptyLine], list[cst.EmptyLine]]:
    """A statement's leading lines: the blank lines first, then what belongs to it (comments)."""
    lines = list(lines)
    for at, line in enumerate(lines):
        if line.comment is not None:
            return lines[:at], lines[at:]
    return lines, []
