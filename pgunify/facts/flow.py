"""How the application reaches its database: one whole-program model, built once per run.

The scan and the codemods see one file at a time; a pool does not stay in one file. It is
created in one module, stored on an object (`self.pool`, `bot.pool`, `app.state.pool`),
handed to constructors and helpers in others, read back through properties and base
classes. This model follows those values across the whole program with Python's own
parser, flow-insensitively, to a fixed point:

* **slots** hold values: attributes of project classes, module globals, function
  parameters (fed by every call site the model can resolve), function results and local
  names;
* **values** are small tags: an asyncpg pool, a connection acquired from one, a connection
  from `asyncpg.connect()`, the asyncpg connection under a SQLAlchemy connection, a
  SQLAlchemy engine or connection, an instance of a project class, a project function or
  class, a module, or something outside the project (`asyncpg.create_pool`).

Every call of asyncpg's API then gets a verdict from what its receiver may hold
(`Verdict`). The same model, built over the rewritten tree, is the closure check
(`pgunify.rewrite.closure`): nothing of asyncpg's API may remain on a value that became
SQLAlchemy. Where the model cannot tell, it says so (`Verdict.MAYBE`), and the migration
takes the asyncpg connection under the engine instead of guessing.
"""

from __future__ import annotations

import ast
import functools
import gc
import re
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from operator import itemgetter
from pathlib import Path
from typing import Iterable

from pgunify.facts.api import (
    PREPARED_METHODS,
    RECORD_TYPES,
    asyncpg_call_shape,
    sqlalchemy_call,
)
from pgunify.files import auxiliary

# -- values ---------------------------------------------------------------------------------
POOL = "pool"  # an asyncpg pool the migration moves onto the engine
CONN = "conn"  # a connection acquired from such a pool
ACONN = "annotated-connection"  # typed asyncpg.Connection, origin unknown
DIRECT = "direct"  # asyncpg.connect(): a connection of its own, stays on asyncpg
DRIVER = "driver"  # the asyncpg connection under a SQLAlchemy connection
ENGINE = "engine"  # a SQLAlchemy engine
SACONN = "sa-connection"  # a SQLAlchemy connection
WEAK = "weak"  # a pool or connection guessed from a name only
OWN_POOL = "own-pool"  # a pool a test, script or tool creates for itself: it stays on asyncpg
TEXT = "text"  # a SQLAlchemy text() statement: what a migrated prepare() becomes
ROWS = "rows"  # records of the raw-SQL helpers (all_records(), first_record()), or a list of them

DATABASE = frozenset({POOL, CONN, ACONN, DIRECT, DRIVER, ENGINE, SACONN, WEAK, OWN_POOL})
STAYS = frozenset({DIRECT, DRIVER, OWN_POOL})
# methods that give an asyncpg connection listeners, which live as long as the connection is held
LISTENER_METHODS = frozenset({"add_listener", "add_termination_listener", "add_log_listener"})  # asyncpg objects the migration leaves as they are

_POOL_FACTORIES = {"asyncpg.create_pool", "asyncpg.pool.create_pool"}
_CONNECT_FACTORIES = {"asyncpg.connect", "asyncpg.connection.connect"}
_TEXT_FACTORIES = {"sqlalchemy.text", "sqlalchemy.sql.text", "sqlalchemy.sql.expression.text"}
_ROW_HELPERS = frozenset({"all_records", "first_record", "stream_records"})
_ENGINE_FACTORIES = {"sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.engine.create_async_engine"}
_ANNOTATIONS = {
    "asyncpg.Pool": POOL, "asyncpg.pool.Pool": POOL,
    "asyncpg.Connection": ACONN, "asyncpg.connection.Connection": ACONN, "asyncpg.pool.PoolConnectionProxy": ACONN,
    "sqlalchemy.ext.asyncio.AsyncEngine": ENGINE, "sqlalchemy.ext.asyncio.AsyncConnection": SACONN,
}
GENERATED_MARKER = "Written by `pgunify migrate`"
_LINE_ENDS = re.compile(r"(\r\n|\r|\n)")
_POOL_NAMES = ("pool", "db_pool", "pg_pool", "pgpool", "connection_pool", "database_pool")
_CONN_NAMES = ("conn", "connection", "con", "db_conn", "pg_conn", "dbconn")


# The most dots in a name outside the project the model follows (`asyncpg.pool.Pool.acquire`
# has three). A longer name is an attribute of an attribute ... of such an object, which no API
# the model knows has; without a bound, a value that flows back into the function that reads
# its attributes (`resolve(node.func)` inside `resolve(node)`) grows one name longer each round
# of the fixed point, in every combination, until memory runs out.
_LONGEST_PATH = 7
_NOTHING: frozenset = frozenset()
_FINAL = ("final",)  # what a unit of code reads when it asks whether guesses are allowed


class Verdict(str, Enum):
    """What the migration does with one call of asyncpg's API, from what its receiver holds."""

    POOL = "pool"  # only ever a migrated pool: onto Core
    CONNECTION = "connection"  # only ever a connection of a migrated pool: onto Core
    ASYNCPG = "asyncpg"  # only ever a connection of its own (asyncpg.connect()): stays
    MAYBE = "maybe"  # several of these, or not known: the asyncpg connection under whatever it is
    SQLALCHEMY = "sqlalchemy"  # already SQLAlchemy (in a rewritten tree)
    NONE = "none"  # nothing the model knows of a database


@dataclass(frozen=True)
class Receiver:
    verdict: Verdict
    evidence: str
    certain: bool = True  # False where a name alone suggested the kind
    dedicated: bool = False  # an acquire() whose connection the application keeps for listeners


@dataclass(frozen=True)
class CallSite:
    """One call of asyncpg's API, with what the model knows of its receiver."""

    path: str
    line: int
    column: int
    method: str
    receiver: str  # source text
    verdict: Verdict
    evidence: str
    values: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RecordCheck:
    """`isinstance(x, asyncpg.Record)` that does not accept the raw-SQL helpers' Record."""

    path: str
    line: int
    code: str  # source text of the call
    reached: bool  # the model sees records of the raw-SQL helpers reach x


@dataclass
class _Func:
    qualname: str
    module: str
    node: ast.AST
    owner: str | None  # class qualname
    params: list[str] = field(default_factory=list)
    annotations: dict[str, ast.expr] = field(default_factory=dict)
    kind: str = "function"  # function | method | classmethod | staticmethod | property
    locals: set[str] = field(default_factory=set)
    globals: set[str] = field(default_factory=set)
    depends: dict[str, ast.expr] = field(default_factory=dict)  # parameter -> the provider of Depends()


@dataclass
class _Class:
    qualname: str
    module: str
    node: ast.ClassDef
    bases: list[ast.expr]
    methods: dict[str, str] = field(default_factory=dict)  # name -> function qualname


@dataclass
class _Scope:
    """What a function's own code (its body and parameters, not the functions, classes and
    lambdas nested in its body) declares global, stores to and defines."""

    globals: set[str] = field(default_factory=set)
    stores: set[str] = field(default_factory=set)  # names stored to (`x = ...`, `for x in`, `(x := ...)`)
    nested: list[ast.AST] = field(default_factory=list)  # functions defined in it, in source order


@dataclass
class _Survey:
    """What the model needs of a module's syntax tree, found in one pass over it (`_survey`).
    It depends on the tree alone, so a module that keeps its tree keeps its survey."""

    imports: list[ast.Import | ast.ImportFrom] = field(default_factory=list)  # in `ast.walk` order
    scopes: dict[int, _Scope] = field(default_factory=dict)  # id(def node) -> its own code
    # every call, depth first, with the innermost function definition around it (None at module level)
    calls: list[tuple[ast.Call, ast.AST | None]] = field(default_factory=list)
    enclosing: dict[int, ast.AST | None] = field(default_factory=dict)  # id(def node) -> the def around it
    # id(call) -> the with statements around it, innermost first, up to its function or lambda
    withs: dict[int, tuple[ast.With | ast.AsyncWith, ...]] = field(default_factory=dict)
    # id(def or class node) -> the annotated assignments inside it, at any depth, in `ast.walk` order
    annotated: dict[int, list[ast.AnnAssign]] = field(default_factory=dict)
    awaited_acquires: list[tuple[int, int]] = field(default_factory=list)  # (line, column) of `await x.acquire()`


@dataclass
class _Module:
    name: str
    path: str  # relative, forward slashes
    tree: ast.Module
    source: str
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified target
    names: dict[str, str] = field(default_factory=dict)  # module-level def/class -> qualname
    lines: list[str] = field(default_factory=list)
    survey: _Survey | None = None  # what one pass over the tree found, made when the module is indexed
    # the source split as Python's parser counts lines (only \r, \n and \r\n end one), built when first asked
    parser_lines: list[str] | None = None
    calls: list[tuple[ast.Call, _Func | None]] | None = None  # every call with its function, found when first asked

    def segment(self, node: ast.AST) -> str:
        """The source text of a node, as `ast.get_source_segment` gives it (or "" without a
        position), from lines split once per module rather than once per call."""
        end_line, end_column = getattr(node, "end_lineno", None), getattr(node, "end_col_offset", None)
        if end_line is None or end_column is None:
            return ""
        if self.parser_lines is None:
            pieces = _LINE_ENDS.split(self.source)
            lines = [pieces[i] + pieces[i + 1] for i in range(0, len(pieces) - 1, 2)]
            if pieces[-1]:
                lines.append(pieces[-1])
            self.parser_lines = lines
        lines, start = self.parser_lines, node.lineno - 1
        if start == end_line - 1:
            return lines[start].encode()[node.col_offset:end_column].decode()
        return "".join([lines[start].encode()[node.col_offset:].decode(), *lines[start + 1:end_line - 1],
                        lines[end_line - 1].encode()[:end_column].decode()])


class Program:
    """The whole-program model. Build it once with `Program.build(root, files)`."""

    def __init__(self) -> None:
        self.modules: dict[str, _Module] = {}
        self.functions: dict[str, _Func] = {}
        self.classes: dict[str, _Class] = {}
        self.slots: dict[tuple, set] = {}
        # the fixed point's bookkeeping: a stamp counts the changes to the slots, each slot
        # keeps the stamp of its last change, and the unit of code being run notes what it reads
        self._stamp = 0
        self._changed_at: dict[tuple, int] = {}
        self._reads: set | None = None
        self._changed = False
        self._by_suffix: dict[str, list[str]] = {}
        self.attr_index: dict[str, set] = {}  # attribute name -> values over every project class
        self.escapes: list[tuple[str, int, str, frozenset]] = []  # (path, line, callee, values)
        self.receivers: dict[str, dict[tuple[int, int, int, int], Receiver]] = {}
        # annotations of parameters that only ever receive asyncpg's own connections: they stay
        self.asyncpg_annotations: dict[str, set[tuple[int, int, int, int]]] = {}
        self.sites: list[CallSite] = []
        # calls of SQLAlchemy's connection API on receivers that may hold asyncpg's own connection
        self.core_sites: list[CallSite] = []
        self._final = False
        self.generated_modules: set[str] = set()  # dotted names of the engine and raw-SQL modules
        self.fixtures: dict[str, list[str]] = {}  # pytest fixture name -> functions that provide it
        # acquire() sites whose connection reaches code outside the project -> that code
        self.escaped_acquires: dict[tuple[str, int, int], str] = {}
        self.driver_acquires: dict[tuple[str, int, int], str] = {}
        # `await pool.acquire()` sites whose connection gets listeners (add_listener() for
        # LISTEN/NOTIFY): they become a dedicated asyncpg connection -> the listener method
        self.dedicated_acquires: dict[tuple[str, int, int], str] = {}
        self.by_short: dict[str, list[str]] = {}  # function or method name -> qualnames
        self._functions_by_node: dict[str, dict[int, _Func]] | None = None  # module -> id(def node) -> function

    def functions_by_node(self, module: str) -> dict[int, _Func]:
        """The module's functions by the id of their def node, grouped once for all modules
        (the functions are all known once the modules are indexed)."""
        if self._functions_by_node is None:
            grouped: dict[str, dict[int, _Func]] = {}
            for func in self.functions.values():
                grouped.setdefault(func.module, {})[id(func.node)] = func
            self._functions_by_node = grouped
        return self._functions_by_node.get(module, {})

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def build(cls, root: Path, sources: Iterable[tuple[str, str]], generated_modules: Iterable[str] = (),
              previous: Program | None = None) -> Program:
        """`sources`: (relative path, text) of every Python file of the application. A module
        whose text is the one `previous` (a model of the same tree) read keeps its syntax tree,
        which no model changes."""
        # the model holds the tree of every module; the cyclic collector, set off again and
        # again by the short-lived sets of the fixed point, would go through all of them each
        # time. Nothing the build leaves behind needs it: reference counting frees the rest.
        enabled = gc.isenabled()
        gc.disable()
        try:
            return cls._build(root, sources, generated_modules, previous)
        finally:
            if enabled:
                gc.enable()

    @classmethod
    def _build(cls, root: Path, sources: Iterable[tuple[str, str]], generated_modules: Iterable[str],
               previous: Program | None) -> Program:
        program = cls()
        parsed = {m.path: m for m in previous.modules.values()} if previous is not None else {}
        program.generated_modules = set(generated_modules)
        sources = list(sources)
        packages = {str(Path(rel).parent) for rel, _ in sources if Path(rel).name == "__init__.py"}
        for rel, text in sources:
            earlier = parsed.get(rel)
            if earlier is not None and earlier.source == text:
                tree, survey = earlier.tree, earlier.survey
            else:
                try:
                    tree, survey = ast.parse(text, filename=rel), None
                except (SyntaxError, ValueError, RecursionError):
                    continue
            name = _module_name(rel)
            if generated_earlier(text):
                program.generated_modules.add(name)  # written by an earlier run, wherever it went
            module = _Module(name, rel, tree, text, lines=text.splitlines(), survey=survey)
            program.modules[name] = module
            # the name absolute imports use: from the first folder above that is not a package
            # (`import asyncpg` is never the application's own mautrix/util/asyncpg.py)
            parent = Path(rel).parent
            while str(parent) in packages and str(parent) != ".":
                parent = parent.parent
            start = 0 if str(parent) == "." else len(parent.parts)
            program._by_suffix.setdefault(".".join(name.split(".")[start:]), []).append(name)
        for module in program.modules.values():
            program._index(module)
        program._solve()
        listened = program._listened_acquires()
        if program.escaped_acquires or listened:
            # those acquire() sites hand out asyncpg's own connection: follow the program again
            program.driver_acquires = dict(program.escaped_acquires)
            program.dedicated_acquires = listened
            program.slots.clear()
            program._solve()
        program._judge()
        return program

    def _listened_acquires(self) -> dict[tuple[str, int, int], str]:
        """`conn = await pool.acquire()` sites whose connection the application adds listeners
        to (LISTEN/NOTIFY, termination, log messages). asyncpg removes a connection's listeners
        when it goes back to the pool, and such a connection is held as long as the listeners
        are wanted: it becomes a connection of its own rather than one of the engine's pool."""
        awaited = {(m.path, line, column) for m in self.modules.values() for line, column in m.survey.awaited_acquires}
        found: dict[tuple[str, int, int], str] = {}
        for module in self.modules.values():
            for node, func in _calls_with_function(module, self):
                if not (isinstance(node.func, ast.Attribute) and node.func.attr in LISTENER_METHODS):
                    continue
                values = self._with_binding(module, func, node, node.func.value)
                for value in (values if values is not None else self._eval(module, func, node.func.value)):
                    if isinstance(value, tuple) and value[0] == "conn" and value[1] in awaited:
                        found.setdefault(value[1], node.func.attr)
        return found

    def imported_elsewhere(self) -> dict[str, frozenset[str]]:
        """Names that modules of the application import from another of its modules
        (`from app.db import Pool`): the importing module's path -> names, keyed by the path
        of the module they are imported from."""
        found: dict[str, set[str]] = {}
        for module in self.modules.values():
            for qualified in module.imports.values():
                owner, _, name = qualified.rpartition(".")
                target = self.resolve_module(owner) if owner else None
                if target is not None and target != module.name and f"{target}.{name}" not in self.modules:
                    found.setdefault(self.modules[target].path, set()).add(name)
        return {path: frozenset(names) for path, names in found.items()}

    def resolve_module(self, dotted: str) -> str | None:
        if dotted in self.modules:
            return dotted
        found = self._by_suffix.get(dotted, [])
        if len(found) == 1:
            return found[0]
        if found:  # the shortest path wins: top-level modules over nested homonyms
            return min(found, key=lambda n: n.count("."))
        return None

    def _index(self, module: _Module) -> None:
        package = module.name.rsplit(".", 1)[0] if "." in module.name else ""
        is_package = module.path.endswith("__init__.py")
        if is_package:
            package = module.name
        if module.survey is None:
            module.survey = _survey(module.tree)
        for node in module.survey.imports:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        module.imports[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        module.imports.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".") if package else []
                    anchor = anchor[:len(anchor) - (node.level - 1)] if node.level > 1 else anchor
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    module.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name
        self._index_body(module, module.tree.body, prefix=module.name, owner=None)

    def _index_body(self, module: _Module, body: list[ast.stmt], prefix: str, owner: str | None,
                    top: bool = True) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                qual = f"{prefix}.{stmt.name}"
                klass = _Class(qual, module.name, stmt, list(stmt.bases))
                self.classes[qual] = klass
                if top:
                    module.names[stmt.name] = qual
                for item in stmt.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        klass.methods[item.name] = self._add_function(module, item, f"{qual}.{item.name}", qual)
                self._index_body(module, [s for s in stmt.body if isinstance(s, ast.ClassDef)], qual, None, top=False)
            elif isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                qual = self._add_function(module, stmt, f"{prefix}.{stmt.name}", owner)
                if top:
                    module.names[stmt.name] = qual
            elif isinstance(stmt, (ast.If, ast.Try)) and top:
                for block in _blocks(stmt):
                    self._index_body(module, block, prefix, owner, top)

    def _add_function(self, module: _Module, node, qual: str, owner: str | None) -> str:
        func = _Func(qual, module.name, node, owner)
        decorators = {_dotted(d) for d in node.decorator_list}
        if owner is not None:
            func.kind = "method"
            if "staticmethod" in decorators:
                func.kind = "staticmethod"
            elif "classmethod" in decorators:
                func.kind = "classmethod"
            elif "property" in decorators or any(d.endswith("cached_property") for d in decorators):
                func.kind = "property"
        args = node.args
        positional = [*args.posonlyargs, *args.args]
        defaults = dict(zip([a.arg for a in positional][len(positional) - len(args.defaults):], args.defaults))
        defaults.update({a.arg: d for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None})
        for a in [*positional, *args.kwonlyargs]:
            func.params.append(a.arg)
            if a.annotation is not None:
                func.annotations[a.arg] = a.annotation
            provider = _dependency(a.annotation, defaults.get(a.arg))
            if provider is not None:  # FastAPI's Depends(f): the parameter gets what f returns or yields
                func.depends[a.arg] = provider
        for a in (args.vararg, args.kwarg):
            if a is not None:
                func.locals.add(a.arg)
        func.locals.update(func.params)
        scope = module.survey.scopes[id(node)]
        func.globals.update(scope.globals)
        func.locals.update(scope.stores)
        # the nested functions are registered last to first, the order they always had
        for inner in reversed(scope.nested):
            func.locals.add(inner.name)
            self._add_function(module, inner, f"{qual}.<locals>.{inner.name}", None)
        func.locals -= func.globals
        self.by_short.setdefault(node.name, []).append(qual)
        if any(d.rsplit(".", 1)[-1] == "fixture" for d in decorators):
            # a test's parameter of this name receives what the fixture returns or yields
            self.fixtures.setdefault(node.name, []).append(qual)
        self.functions[qual] = func
        return qual

    # -- solving ----------------------------------------------------------------------------
    def _add(self, key: tuple, values: Iterable) -> None:
        values = set(values)
        if not values:
            return
        slot = self.slots.setdefault(key, set())
        if not values <= slot:
            slot |= values
            self._changed = True
            self._mark_changed(key)

    def _mark_changed(self, key: tuple) -> None:
        """Note that what `key` names (a slot, an entry of the attribute index, whether guesses
        are allowed) changed now: the units of code that read it run again."""
        self._stamp += 1
        self._changed_at[key] = self._stamp

    def _note_read(self, key: tuple) -> None:
        """Note that the unit of code being run reads what `key` names."""
        if self._reads is not None:
            self._reads.add(key)

    def _read(self, key: tuple) -> set | frozenset:
        """What a slot holds (nothing: an empty frozenset), noted as read."""
        self._note_read(key)
        return self.slots.get(key, _NOTHING)

    def _holds(self, key: tuple) -> bool:
        self._note_read(key)
        return key in self.slots

    def _solve(self) -> None:
        # Two rounds to a fixed point. The first uses only what the code says for certain; the
        # second adds what stands in for missing facts (a parameter's annotation where no call
        # site feeds it, a connection guessed from a name), so a guess made before the facts
        # arrived never stays behind in the slots.
        runs: dict[tuple, tuple[int, set]] = {}  # unit -> (stamp when its last run began, what it read)
        escapes: dict[tuple, list] = {}  # unit -> the escapes its last run found
        self._final = False
        self._fixpoint(runs, escapes)
        self._final = True
        self._mark_changed(_FINAL)  # units that asked whether guesses are allowed run again
        self._fixpoint(runs, escapes)

    def _is_final(self) -> bool:
        """Whether guesses may stand in for missing facts (the second fixed point), noted as
        read by the unit of code being run."""
        self._note_read(_FINAL)
        return self._final

    def _fixpoint(self, runs: dict[tuple, tuple[int, set]], escapes: dict[tuple, list]) -> None:
        """Rounds over every unit of code (module bodies, class bodies, functions, in that
        order) until one changes nothing, at most twelve.

        What running a unit adds depends only on what it reads: slots, the attribute index,
        and whether guesses are allowed. A unit none of whose reads changed since its last run
        began would add nothing new, so it is not run again (in the second fixed point too,
        unless it asked whether guesses are allowed). Every other unit runs in the same order,
        on the same slots, as in rounds that run them all, so the slots, the escapes and
        every verdict are those of running them all."""
        order: list[tuple] = []
        for _ in range(12):
            self._changed = False
            order = [("module", name) for name in self.modules]
            order += [("class", qual) for qual in self.classes]
            order += [("function", qual) for qual in list(self.functions)]
            for unit in order:
                last = runs.get(unit)
                if last is not None and not self._stale(*last):
                    continue
                reads: set = set()
                runs[unit] = (self._stamp, reads)
                self._reads, self.escapes = reads, escapes.setdefault(unit, [])
                self.escapes.clear()
                try:
                    self._run_unit(unit)
                finally:
                    self._reads = None
            self._index_attributes()
            if not self._changed:
                break
        self.escapes = [found for unit in order for found in escapes.get(unit, ())]

    def _stale(self, began: int, reads: set) -> bool:
        """Whether a slot read by a run that began at stamp `began` has changed since."""
        changed_at = self._changed_at
        return any(changed_at.get(key, 0) > began for key in reads)

    def _run_unit(self, unit: tuple) -> None:
        kind, name = unit
        if kind == "module":
            module = self.modules[name]
            self._run_block(module, None, module.tree.body)
        elif kind == "class":
            klass = self.classes[name]
            self._class_body(self.modules[klass.module], name, klass.node)
        else:
            func = self.functions[name]
            self._run_block(self.modules[func.module], func, func.node.body)

    def _class_body(self, module: _Module, qual: str, node: ast.ClassDef) -> None:
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                self._add(("attr", qual, stmt.target.id), self._annotation(module, stmt.annotation))
                if stmt.value is not None:
                    self._add(("attr", qual, stmt.target.id), self._eval(module, None, stmt.value))
            elif isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        self._add(("attr", qual, target.id), self._eval(module, None, stmt.value))

    def _index_attributes(self) -> None:
        index: dict[str, set] = {}
        for key, values in self.slots.items():
            if key[0] == "attr":
                index.setdefault(key[2], set()).update(v for v in values if _flatten({v}) & DATABASE)
        for func in self.functions.values():
            if func.kind == "property":
                name = func.qualname.rsplit(".", 1)[1]
                index.setdefault(name, set()).update(v for v in self.slots.get(("ret", func.qualname), ())
                                                     if _flatten({v}) & DATABASE)
        for name in index.keys() | self.attr_index.keys():
            if index.get(name, _NOTHING) != self.attr_index.get(name, _NOTHING):
                self._mark_changed(("index", name))  # what `x.name` gives for objects the model cannot follow
        self.attr_index = index

    def _run_block(self, module: _Module, func: _Func | None, body: list[ast.stmt]) -> None:
        for stmt in body:
            self._run_stmt(module, func, stmt)

    def _run_stmt(self, module: _Module, func: _Func | None, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return  # bodies run as functions of their own
        if isinstance(stmt, ast.Assign):
            values = self._eval(module, func, stmt.value)
            for target in stmt.targets:
                self._assign(module, func, target, values, stmt.value)
        elif isinstance(stmt, ast.AnnAssign):
            values = set(self._eval(module, func, stmt.value)) if stmt.value is not None else set()
            if stmt.value is None or isinstance(stmt.target, ast.Attribute):
                values |= self._annotation(module, stmt.annotation)
            self._assign(module, func, stmt.target, values, stmt.value)
        elif isinstance(stmt, ast.Return) and stmt.value is not None and func is not None:
            self._add(("ret", func.qualname), self._eval(module, func, stmt.value))
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            for item in stmt.items:
                values = self._entered(self._eval(module, func, item.context_expr), isinstance(stmt, ast.AsyncWith))
                if item.optional_vars is not None:
                    self._assign(module, func, item.optional_vars, values, None)
            self._run_block(module, func, stmt.body)
        elif isinstance(stmt, ast.Expr):
            self._eval(module, func, stmt.value)
        elif isinstance(stmt, (ast.Assert, ast.AugAssign, ast.Raise, ast.Delete)):
            # no binding, but the calls in them pass values on: `assert await f(pool) == 1`
            # in a test, `total += await count(conn)`, `raise Error(await describe(conn))`
            for child in _children(stmt):
                if isinstance(child, ast.expr):
                    self._eval(module, func, child)
        else:
            if isinstance(stmt, (ast.If, ast.While)):
                self._eval(module, func, stmt.test)
            if isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._iterate(module, func, stmt.target, self._eval(module, func, stmt.iter))
            for block in _blocks(stmt):
                self._run_block(module, func, block)
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, (ast.Yield, ast.Await)) and func is not None:
            inner = stmt.value.value if isinstance(stmt.value, ast.Yield) else None
            if inner is not None:  # a dependency that yields a connection gives it to its users
                self._add(("ret", func.qualname), self._eval(module, func, inner))

    def _assign(self, module: _Module, func: _Func | None, target: ast.expr, values, value_node) -> None:
        if isinstance(target, ast.Name):
            if func is None or target.id in func.globals:
                self._add(("global", module.name, target.id), values)
            else:
                self._add(("local", func.qualname, target.id), values)
        elif isinstance(target, ast.Attribute):
            for owner in self._eval(module, func, target.value):
                if isinstance(owner, tuple) and owner[0] == "inst":
                    self._add(("attr", self._attr_owner(owner[1], target.attr), target.attr), values)
                elif isinstance(owner, tuple) and owner[0] == "mod":
                    self._add(("global", owner[1], target.attr), values)
            if not self._eval(module, func, target.value):
                # an object the model cannot follow (bot.pool = ... on a framework object)
                self._add(("loose", target.attr), values)
        elif isinstance(target, (ast.Tuple, ast.List)) and isinstance(value_node, (ast.Tuple, ast.List)) \
                and len(target.elts) == len(value_node.elts):
            for t, v in zip(target.elts, value_node.elts):
                self._assign(module, func, t, self._eval(module, func, v), v)
        elif isinstance(target, ast.Subscript):
            self._eval(module, func, target.value)
            key = _constant_key(target.slice)
            if key is not None:
                self._add(("item", key), values)

    def _iterate(self, module: _Module, func: _Func | None, target: ast.expr, values: set) -> None:
        """`for target in x`: each record of rows the raw-SQL helpers returned."""
        if ROWS in values:
            self._assign(module, func, target, {ROWS}, None)

    def _entered(self, values: set, asynchronous: bool) -> set:
        """What `with x as y` binds: x itself, or for an object of the application's own class,
        what its __aenter__/__enter__ returns."""
        hook = "__aenter__" if asynchronous else "__enter__"
        out = set()
        for value in values:
            if isinstance(value, tuple) and value[0] == "inst":
                method = next((self.classes[q].methods[hook] for q in self.mro(value[1]) if hook in self.classes[q].methods), None)
                if method is not None:
                    out |= self._read(("ret", method))
                    continue
            out.add(value)
        return out

    def _attr_owner(self, klass: str, attr: str) -> str:
        """The class in `klass`'s MRO that declares `attr`, else `klass` itself."""
        for qual in self.mro(klass):
            if self._holds(("attr", qual, attr)):
                return qual
        return klass

    def mro(self, klass: str) -> list[str]:
        order, todo = [], [klass]
        while todo:
            qual = todo.pop(0)
            if qual in order or qual not in self.classes:
                continue
            order.append(qual)
            info = self.classes[qual]
            module = self.modules[info.module]
            for base in info.bases:
                for value in self._eval(module, None, base):
                    if isinstance(value, tuple) and value[0] == "cls":
                        todo.append(value[1])
        return order

    # -- expressions --------------------------------------------------------------------------
    def _lookup_name(self, module: _Module, func: _Func | None, name: str) -> set:
        scope = func
        while scope is not None:
            if name in scope.locals:
                if name in scope.params:
                    values = self.param_values(scope, name)
                    values |= self._read(("local", scope.qualname, name))
                    index = scope.params.index(name)
                    if index == 0 and scope.owner is not None and scope.kind in ("method", "property"):
                        values.add(("inst", scope.owner))
                    elif index == 0 and scope.owner is not None and scope.kind == "classmethod":
                        values.add(("cls", scope.owner))
                    return values
                return set(self._read(("local", scope.qualname, name)))
            scope = self._enclosing(scope)
        if name in module.names:
            return {self._ref(module.names[name])}
        if name in module.imports:
            return self._qualified(module.imports[name])
        return set(self._read(("global", module.name, name)))

    def _enclosing(self, func: _Func) -> _Func | None:
        if ".<locals>." in func.qualname:
            return self.functions.get(func.qualname.rsplit(".<locals>.", 1)[0])
        return None

    def _ref(self, qual: str):
        if qual in self.classes:
            return ("cls", qual)
        return ("func", qual)

    def _qualified(self, dotted: str, _seen: frozenset = frozenset()) -> set:
        """An imported name: a project module, a project symbol, or something outside."""
        if dotted in _seen or len(_seen) > 20:
            return set()  # imports that go round in a circle name nothing
        _seen = _seen | {dotted}
        module = self.resolve_module(dotted)
        if module is not None:
            return {("mod", module)}
        if "." in dotted:
            owner, name = dotted.rsplit(".", 1)
            module = self.resolve_module(owner)
            if module is not None:
                info = self.modules[module]
                if module.split(".")[-1] in self.generated_modules or module in self.generated_modules:
                    return {ENGINE} if name in ("engine", "repository_engine") else {("gen", name)}
                if name in info.names:
                    return {self._ref(info.names[name])}
                if name in info.imports:
                    return self._qualified(info.imports[name], _seen)
                return set(self._read(("global", module, name)))
        return {("ext", dotted)}

    def _annotation(self, module: _Module, node: ast.expr | None) -> set:
        if node is None:
            return set()
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                node = ast.parse(node.value, mode="eval").body
            except SyntaxError:
                return set()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._annotation(module, node.left) | self._annotation(module, node.right)
        if isinstance(node, ast.Subscript):
            head = {v[1].rsplit(".", 1)[-1] for v in self._eval(module, None, node.value) if isinstance(v, tuple)}
            if head & {"Optional", "Union", "Annotated"}:
                inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                if "Annotated" in head:
                    inner = inner[:1]
                return set().union(*(self._annotation(module, e) for e in inner))
            return set()
        out = set()
        for value in self._eval(module, None, node):
            if isinstance(value, tuple) and value[0] == "ext" and value[1] in _ANNOTATIONS:
                out.add(_ANNOTATIONS[value[1]])
            elif isinstance(value, tuple) and value[0] == "cls":
                out.add(("inst", value[1]))
        return out

    def _eval(self, module: _Module, func: _Func | None, node: ast.expr | None) -> set:
        if node is None:
            return set()
        if isinstance(node, ast.Name):
            return self._lookup_name(module, func, node.id)
        if isinstance(node, ast.Constant):
            return set()  # a literal holds nothing the model follows, and has nothing inside
        if isinstance(node, ast.Await):
            return self._eval(module, func, node.value)
        if isinstance(node, ast.NamedExpr):
            values = self._eval(module, func, node.value)
            self._assign(module, func, node.target, values, node.value)
            return values
        if isinstance(node, ast.BoolOp):
            return set().union(*(self._eval(module, func, v) for v in node.values))
        if isinstance(node, ast.IfExp):
            self._eval(module, func, node.test)
            return self._eval(module, func, node.body) | self._eval(module, func, node.orelse)
        if isinstance(node, ast.Attribute):
            return self._attribute(module, func, node)
        if isinstance(node, ast.Call):
            return self._call(module, func, node)
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values):
                values = self._eval(module, func, value)
                name = _constant_key(key) if key is not None else None
                if name is not None and _flatten(values) & DATABASE:
                    # {"db_pool": pool}: a lifespan's state, a context dict; read back as
                    # request.state.db_pool or ctx["db_pool"]
                    self._add(("loose", name), values)
                    self._add(("item", name), values)
            return set()
        if isinstance(node, ast.Subscript):
            held = self._eval(module, func, node.value)
            key = _constant_key(node.slice)
            if key is None and ROWS in held:
                return {ROWS}  # rows[0], rows[i], rows[1:]; a column (row["c"]) is a value
            return set(self._read(("item", key))) if key is not None else set()
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            for generator in node.generators:  # `for r in rows` binds each record
                self._iterate(module, func, generator.target, self._eval(module, func, generator.iter))
        for child in _children(node):
            if isinstance(child, ast.expr):
                self._eval(module, func, child)
        return set()

    def _attribute(self, module: _Module, func: _Func | None, node: ast.Attribute) -> set:
        owners = self._eval(module, func, node.value)
        out: set = set()
        for owner in owners:
            if not isinstance(owner, tuple):
                continue
            if owner[0] == "inst":
                out |= self._member(owner[1], node.attr, instance=True)
            elif owner[0] == "cls":
                out |= self._member(owner[1], node.attr, instance=False)
            elif owner[0] == "mod":
                info = self.modules[owner[1]]
                if node.attr in info.names:
                    out.add(self._ref(info.names[node.attr]))
                elif node.attr in info.imports:
                    out |= self._qualified(info.imports[node.attr])
                else:
                    out |= self._read(("global", owner[1], node.attr))
            elif owner[0] in ("ext", "gen") and owner[1].count(".") < _LONGEST_PATH:
                out.add((owner[0], f"{owner[1]}.{node.attr}"))
        if not any(isinstance(o, tuple) and o[0] in ("inst", "cls", "mod") for o in owners) and not out:
            # an object the model cannot follow: what project classes store under this name
            self._note_read(("index", node.attr))
            known = _flatten(self.attr_index.get(node.attr, _NOTHING) | self._read(("loose", node.attr))) & DATABASE
            if known:
                out |= {("named", v) for v in known}
        return out

    def _member(self, klass: str, attr: str, instance: bool) -> set:
        for qual in self.mro(klass):
            info = self.classes[qual]
            if attr in info.methods:
                method = self.functions[info.methods[attr]]
                if method.kind == "property" and instance:
                    return set(self._read(("ret", method.qualname)))
                return {("bound", method.qualname, klass)}
            if self._holds(("attr", qual, attr)):
                return set(self.slots[("attr", qual, attr)])
        return set()

    def _call(self, module: _Module, func: _Func | None, node: ast.Call) -> set:
        callees = self._eval(module, func, node.func)
        args = [self._eval(module, func, a.value if isinstance(a, ast.Starred) else a) for a in node.args]
        kwargs = {k.arg: self._eval(module, func, k.value) for k in node.keywords if k.arg}
        for k in node.keywords:
            if not k.arg:
                self._eval(module, func, k.value)
        out: set = set()
        method = node.func.attr if isinstance(node.func, ast.Attribute) else None
        receivers = self._eval(module, func, node.func.value) if method is not None else set()
        flat = _flatten(receivers)
        if method is not None:
            if method == "acquire" and flat != {OWN_POOL} and (flat & (DATABASE - {ENGINE, SACONN}) or not flat and self._is_final()):
                verdict = judge(receivers, node.func.value, method)[0]
                site = (module.path, node.lineno, node.col_offset)
                if verdict is Verdict.POOL and site in self.driver_acquires:
                    out.add(DRIVER)  # its connection goes to code that needs asyncpg's own
                elif verdict is Verdict.POOL and site in self.dedicated_acquires:
                    out.add(DIRECT)  # a connection of its own, for listeners
                elif verdict is Verdict.POOL:
                    out.add(("conn", site))
                elif verdict is Verdict.MAYBE:
                    out.add(DRIVER)  # the migration opens asyncpg_connection() here
            elif method == "run_async":
                # the engine module runs a pool's init/setup callback on the asyncpg connection
                for value in (args[0] if args else set()):
                    if isinstance(value, tuple) and value[0] == "func":
                        self._flow_args(value[1], [{DRIVER}], {}, skip=0)
            elif method == "acquire" and flat == {OWN_POOL}:
                out.add(DIRECT)
            elif method in ("connect", "begin") and ENGINE in flat:
                out.add(SACONN)
            elif method == "bindparams" and TEXT in flat:
                out.add(TEXT)
        candidates = self.by_short.get(method, []) if method is not None else []
        if not callees and method is not None and not flat & DATABASE and len(candidates) <= 3:
            # a method of an object the model cannot follow: the application's functions of that
            # name, where there are few; none means code outside the project (only a call that
            # passes a pool or connection there matters)
            database = [] if candidates else [a for a in args + list(kwargs.values()) if _flatten(a) & DATABASE]
            if candidates and self._is_final():
                for qual in candidates:
                    target = self.functions[qual]
                    skip = 1 if target.owner is not None and target.kind in ("method", "classmethod", "property") else 0
                    self._flow_args(qual, args, kwargs, skip=skip)
                    out |= self._read(("ret", qual))
            elif database and self._is_final():
                self._escape(module, node, _dotted(node.func), database)
        for callee in callees:
            if not isinstance(callee, tuple):
                continue
            if callee[0] == "ext":
                if callee[1] in _POOL_FACTORIES:
                    out.add(OWN_POOL if auxiliary(module.path) else POOL)
                    for hook in ("init", "setup"):  # callbacks get each asyncpg connection itself
                        for value in kwargs.get(hook, ()):
                            if isinstance(value, tuple) and value[0] == "func":
                                self._flow_args(value[1], [{DRIVER}], {}, skip=0)
                elif callee[1] in _CONNECT_FACTORIES:
                    out.add(DIRECT)
                elif callee[1] in _ENGINE_FACTORIES:
                    out.add(ENGINE)
                elif callee[1] in _TEXT_FACTORIES:
                    out.add(TEXT)
                elif callee[1].rsplit(".", 1)[-1] in ("get_raw_connection",):
                    pass
                else:
                    database = [a for a in args + list(kwargs.values()) if _flatten(a) & DATABASE]
                    if database and not _harmless(callee[1]):
                        self._escape(module, node, callee[1], database)
            elif callee[0] == "gen":
                name = callee[1].rsplit(".", 1)[-1]
                if name in ("driver_connection", "asyncpg_connection", "on_driver"):
                    out.add(DRIVER)
                elif name in _ROW_HELPERS:
                    out.add(ROWS)
                elif name == "dedicated_connection":
                    out.add(DIRECT)  # asyncpg's own connection, outside the engine's pool
                elif name in ("connect", "connect_within", "transaction"):
                    out.add(SACONN)  # the engine's connection (connect(engine, timeout=)), or the one given
                elif name in ("use_database_url",):
                    out.add(ENGINE)
                    for hook in ("init", "setup"):  # callbacks handed over get asyncpg's connection
                        for value in kwargs.get(hook, ()):
                            if isinstance(value, tuple) and value[0] == "func":
                                self._flow_args(value[1], [{DRIVER}], {}, skip=0)
            elif callee[0] == "func":
                self._flow_args(callee[1], args, kwargs, skip=0)
                out |= self._read(("ret", callee[1]))
            elif callee[0] == "bound":
                target = self.functions.get(callee[1])
                skip = 0 if target is not None and target.kind == "staticmethod" else 1
                self._flow_args(callee[1], args, kwargs, skip=skip)
                out |= self._read(("ret", callee[1]))
            elif callee[0] == "cls":
                out.add(("inst", callee[1]))
                for qual in self.mro(callee[1]):
                    init = self.classes[qual].methods.get("__init__")
                    if init is not None:
                        self._flow_args(init, args, kwargs, skip=1)
                        break
        return out

    def _escape(self, module: _Module, node: ast.Call, callee: str, database: list[set]) -> None:
        """A pool or connection handed to code outside the project. A connection of a known
        acquire() is given asyncpg's own there (the acquire opens asyncpg_connection())."""
        if module.name in self.generated_modules or module.name.split(".")[-1] in self.generated_modules:
            return  # the generated helpers hand the engine to SQLAlchemy on purpose
        self.escapes.append((module.path, node.lineno, callee, frozenset().union(*(_flatten(a) & DATABASE for a in database))))
        for values in database:
            for value in values:
                if isinstance(value, tuple) and value[0] == "conn":
                    self.escaped_acquires.setdefault(value[1], callee)

    def _flow_args(self, qual: str, args: list[set], kwargs: dict[str, set], skip: int) -> None:
        target = self.functions.get(qual)
        if target is None:
            return
        params = target.params[skip:]
        for name, values in zip(params, args):
            self._add(("param", qual, name), values or {("unknown",)})
        for name, values in kwargs.items():
            if name in target.params:
                self._add(("param", qual, name), values or {("unknown",)})

    # -- verdicts -----------------------------------------------------------------------------
    def param_values(self, func: _Func, name: str) -> set:
        values = set(self._read(("param", func.qualname, name)))
        if name in func.depends:
            module = self.modules[func.module]
            for provider in self._eval(module, None, func.depends[name]):
                if isinstance(provider, tuple) and provider[0] in ("func", "bound"):
                    values |= self._read(("ret", provider[1]))
        annotated = self._annotation(self.modules[func.module], func.annotations.get(name))
        if not values and name in self.fixtures and func.kind not in ("method", "classmethod", "property"):
            for fixture in self.fixtures[name]:
                values |= self._read(("ret", fixture))
        if annotated and (not values or ("unknown",) in values) and self._is_final():
            values |= annotated
        values.discard(("unknown",))
        return values

    def _judge(self) -> None:
        # parameters: call sites first, the annotation where a call site says nothing
        for func in self.functions.values():
            for name in func.params:
                values = self.slots[("param", func.qualname, name)] = self.param_values(func, name)
                database = _flatten(values) & DATABASE
                annotation = func.annotations.get(name)
                if annotation is not None and database & STAYS:
                    module = self.modules[func.module]
                    self.asyncpg_annotations.setdefault(module.path, set()).add(_span(module, annotation))
        # local variables annotated as asyncpg's and given asyncpg's own connection
        # (`conn: asyncpg.Connection = await asyncpg.connect(dsn)`): their annotation stays
        for func in self.functions.values():
            module = self.modules[func.module]
            for node in module.survey.annotated.get(id(func.node), ()):
                if isinstance(node.target, ast.Name) and node.value is not None:
                    database = _flatten(self._eval(module, func, node.value)) & DATABASE - {ACONN, WEAK}
                    if database and database <= STAYS:
                        self.asyncpg_annotations.setdefault(module.path, set()).add(_span(module, node.annotation))
        # attributes annotated as asyncpg's that only ever hold asyncpg's own connection (one
        # kept for listeners, say): their annotation stays
        for qual, klass in self.classes.items():
            module = self.modules[klass.module]
            for node in module.survey.annotated.get(id(klass.node), ()):
                target = node.target
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                        and target.value.id == "self":
                    name = target.attr
                elif isinstance(target, ast.Name) and node in klass.node.body:
                    name = target.id
                else:
                    continue
                # what the code stores there, apart from what the annotation itself suggests
                database = _flatten(self.slots.get(("attr", qual, name), set())) & DATABASE - {ACONN, WEAK}
                if database and database <= STAYS:
                    self.asyncpg_annotations.setdefault(module.path, set()).add(_span(module, node.annotation))
        for module in self.modules.values():
            for node, func in _calls_with_function(module, self):
                if not isinstance(node.func, ast.Attribute):
                    continue
                method = node.func.attr
                shape = asyncpg_call_shape(node)
                if sqlalchemy_call(node):
                    receiver = node.func.value
                    values = self._with_binding(module, func, node, receiver)
                    if values is None:
                        values = self._eval(module, func, receiver)
                    if _flatten(values) & STAYS:
                        self.core_sites.append(CallSite(
                            module.path, node.lineno, node.col_offset, method,
                            module.segment(receiver), Verdict.ASYNCPG,
                            "holds asyncpg's own connection", frozenset(_describe(v) for v in values)))
                if shape is None:
                    continue
                receiver = node.func.value
                values = self._with_binding(module, func, node, receiver)
                if values is None:
                    values = self._eval(module, func, receiver)
                # an object of the application's own class with a method of that name (a Database
                # wrapper's fetch()) is the application's call, not asyncpg's
                own = {v for v in values if isinstance(v, tuple) and v[0] == "inst" and self._defines(v[1], method)}
                values = values - own
                site = (module.path, node.lineno, node.col_offset)
                if method == "acquire" and site in self.driver_acquires and judge(values, receiver, method)[0] is Verdict.POOL:
                    verdict, evidence, certain = Verdict.MAYBE, f"its connection is handed to {self.driver_acquires[site]}(), " \
                        "outside the project, which needs asyncpg's own connection", True
                elif method == "acquire" and site in self.dedicated_acquires \
                        and judge(values, receiver, method)[0] is Verdict.POOL:
                    verdict, evidence, certain = Verdict.POOL, f"its connection gets {self.dedicated_acquires[site]}() " \
                        "and is kept for it: a connection of its own, opened by the engine", True
                    key = _span(module, receiver)
                    self.receivers.setdefault(module.path, {})[key] = Receiver(verdict, evidence, certain, dedicated=True)
                    self.sites.append(CallSite(module.path, node.lineno, node.col_offset, method,
                                               module.segment(receiver), verdict, evidence,
                                               frozenset(_describe(v) for v in values)))
                    continue
                elif own and not _flatten(values) & DATABASE:
                    verdict, evidence, certain = Verdict.NONE, f"the application's own {method}() " \
                        f"({', '.join(sorted(v[1] for v in own))})", True
                elif TEXT in values and method in PREPARED_METHODS:
                    verdict, evidence, certain = Verdict.SQLALCHEMY, ("a SQLAlchemy text() statement, no longer "
                                                                      "asyncpg's prepared statement"), True
                else:
                    verdict, evidence, certain = judge(values, receiver, method)
                key = _span(module, receiver)
                self.receivers.setdefault(module.path, {})[key] = Receiver(verdict, evidence, certain)
                self.sites.append(CallSite(module.path, node.lineno, node.col_offset, method,
                                           module.segment(receiver), verdict, evidence,
                                           frozenset(_describe(v) for v in values)))

    def _with_binding(self, module: _Module, func: _Func | None, call: ast.Call, receiver: ast.expr) -> set | None:
        """What `async with X as name:` around the call bound the receiver `name` to. Names are
        followed flow-insensitively elsewhere; a name bound by the with statement that holds the
        call is known exactly, whatever else the function binds to that name."""
        if not isinstance(receiver, ast.Name):
            return None
        for statement in module.survey.withs.get(id(call), ()):
            for item in statement.items:
                if isinstance(item.optional_vars, ast.Name) and item.optional_vars.id == receiver.id:
                    return self._entered(self._eval(module, func, item.context_expr), isinstance(statement, ast.AsyncWith))
        return None

    def record_checks(self) -> list[RecordCheck]:
        """Every `isinstance(x, asyncpg.Record)` (or a tuple of classes naming asyncpg's record
        and not the raw-SQL helpers' one), and whether records the helpers return reach `x`:
        there the check that held before the migration turns False."""
        found = []
        for module in self.modules.values():
            if module.name in self.generated_modules or module.name.split(".")[-1] in self.generated_modules \
                    or "Record" not in module.source:  # asyncpg's record type, under any name, is imported as Record
                continue
            for node, func in _calls_with_function(module, self):
                if not (isinstance(node.func, ast.Name) and node.func.id == "isinstance" and len(node.args) == 2):
                    continue
                classes = node.args[1]
                named = set().union(*(self._eval(module, func, e) for e in
                                      (classes.elts if isinstance(classes, ast.Tuple) else [classes])))
                if not named & {("ext", name) for name in RECORD_TYPES} or ("gen", "Record") in named:
                    continue
                found.append(RecordCheck(module.path, node.lineno, module.segment(node),
                                         ROWS in self._eval(module, func, node.args[0])))
        return found

    def _defines(self, klass: str, method: str) -> bool:
        return any(method in self.classes[qual].methods for qual in self.mro(klass))


def judge(values: set, receiver: ast.expr, method: str) -> tuple[Verdict, str, bool]:
    flat = _flatten(values)
    named = _named(values)
    database = flat & DATABASE
    if not database:
        guess = _name_guess(receiver)
        if guess is None:
            return Verdict.NONE, "nothing known of the receiver", True
        return Verdict.MAYBE, f"named like a {guess}; the model could not follow its value", False
    others = sorted(_describe(v) for v in values if isinstance(v, tuple) and v[0] in ("inst", "cls", "func", "bound"))
    if others and database - {ENGINE, SACONN}:
        kinds = ", ".join(sorted(_describe(v) for v in database) + others)
        return Verdict.MAYBE, f"may hold a database connection or another object: {kinds}", True
    if database <= {ENGINE, SACONN}:
        return Verdict.SQLALCHEMY, "a SQLAlchemy engine or connection", True
    if database <= STAYS:
        return Verdict.ASYNCPG, "asyncpg's own: a connection of its own (asyncpg.connect()), the driver connection, " \
                                "or a pool a test or script creates for itself", True
    if database == {POOL}:
        return Verdict.POOL, "an asyncpg pool" + (" (by attribute name)" if named else ""), not named
    if database <= {CONN, ACONN}:
        return Verdict.CONNECTION, "a connection of an asyncpg pool" + (" (by attribute name)" if named else ""), not named
    kinds = ", ".join(sorted(_describe(v) for v in database))
    return Verdict.MAYBE, f"may hold several kinds: {kinds}", True


def _name_guess(node: ast.expr) -> str | None:
    name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
    if name is None:
        return None
    lowered = name.lower().lstrip("_")
    if lowered in _POOL_NAMES or lowered.endswith("_pool"):
        return "pool"
    if lowered in _CONN_NAMES or lowered.endswith("_conn"):
        return "connection"
    return None


_DESCRIPTIONS = {OWN_POOL: "a test's or script's own pool", POOL: "asyncpg pool", CONN: "pooled connection", ACONN: "asyncpg.Connection", DIRECT: "asyncpg.connect()",
                 DRIVER: "driver connection", ENGINE: "SQLAlchemy engine", SACONN: "SQLAlchemy connection", WEAK: "guessed",
                 TEXT: "SQLAlchemy text() statement", ROWS: "records of the raw-SQL helpers"}


def _describe(value) -> str:
    if isinstance(value, tuple) and value[0] == "conn":
        return _DESCRIPTIONS[CONN]
    if isinstance(value, tuple):
        if value[0] == "named":
            return _DESCRIPTIONS.get(value[1], str(value[1])) + " (by name)"
        return f"{value[0]} {value[1]}" if len(value) > 1 else value[0]
    return _DESCRIPTIONS.get(value, value)


def _flatten(values: set) -> set:
    """The kinds of the values: a guess by name counts as its kind, a connection of a known
    acquire() as a pooled connection."""
    return {v[1] if isinstance(v, tuple) and v[0] == "named" else CONN if isinstance(v, tuple) and v[0] == "conn" else v
            for v in values}


def _named(values: set) -> bool:
    return any(isinstance(v, tuple) and v[0] == "named" for v in values)


_HARMLESS_PREFIXES = ("logging.", "typing.", "asyncio.", "sqlalchemy.", "contextlib.", "functools.", "dataclasses.",
                      "builtins.", "weakref.", "inspect.", "traceback.", "json.", "os.", "sys.", "time.", "datetime.",
                      "asyncpg.", "unittest.", "pytest.")
_HARMLESS = {"print", "len", "isinstance", "issubclass", "getattr", "setattr", "hasattr", "id", "type", "repr", "str",
             "super", "callable", "vars", "dir", "hash", "bool", "format"}


def _harmless(callee: str) -> bool:
    return callee in _HARMLESS or callee.startswith(_HARMLESS_PREFIXES) or "log" in callee.split(".")[-1].lower()


def _constant_key(node: ast.expr):
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _blocks(stmt: ast.stmt) -> list[list[ast.stmt]]:
    blocks = []
    for name in ("body", "orelse", "finalbody"):
        block = getattr(stmt, name, None)
        if isinstance(block, list):
            blocks.append(block)
    for handler in getattr(stmt, "handlers", ()) or ():
        blocks.append(handler.body)
    for case in getattr(stmt, "cases", ()) or ():
        blocks.append(case.body)
    return blocks


_SCALARS = frozenset({"identifier", "string", "constant", "int"})  # field types of the grammar that are never nodes
_SIGNATURE = re.compile(r"(\w+)\((.*)\)")
@functools.cache
def _node_fields(kind: type) -> tuple[str, ...]:
    """The fields of a node type that can hold nodes: all of them but those the grammar types
    as names, strings, constants or numbers (`Name(identifier id, expr_context ctx)` has only
    ctx). The grammar is read from the type's docstring; where that does not give it, every field."""
    fields = tuple(kind._fields)
    match = _SIGNATURE.fullmatch(kind.__doc__ or "")
    if match is None or match.group(1) != kind.__name__:
        return fields
    declared = [part.split() for part in match.group(2).split(",")] if match.group(2).strip() else []
    if any(len(part) != 2 for part in declared) or tuple(name for _, name in declared) != fields:
        return fields
    return tuple(name for type_name, name in declared if type_name.rstrip("?*") not in _SCALARS)


def _children(node: ast.AST) -> list[ast.AST]:
    """`ast.iter_child_nodes(node)` as a list, in the same order, without its two generators
    and without looking at fields that never hold nodes."""
    children = []
    for name in _node_fields(type(node)):
        value = getattr(node, name, None)
        if isinstance(value, ast.AST):
            children.append(value)
        elif isinstance(value, list):
            children.extend([item for item in value if isinstance(item, ast.AST)])
    return children


def walk(node: ast.AST) -> Iterable[ast.AST]:
    """`ast.walk(node)`: the same nodes in the same order (breadth first), found faster."""
    todo = deque([node])
    while todo:
        node = todo.popleft()
        todo.extend(_children(node))
        yield node


def _calls_with_function(module: _Module, program: Program) -> list[tuple[ast.Call, _Func | None]]:
    """Every call in the module with the project function it is in (None at module level), in
    source order (depth first); found once per module, once all functions are known. A call
    in a function the model does not follow (a method of a class defined in a function) is
    in the project function around that one."""
    if module.calls is None:
        by_node = program.functions_by_node(module.name)
        enclosing = module.survey.enclosing
        resolved: dict[int, _Func | None] = {}

        def function(node: ast.AST | None) -> _Func | None:
            if node is None:
                return None
            key = id(node)
            if key not in resolved:
                found = by_node.get(key)
                resolved[key] = found if found is not None else function(enclosing[key])
            return resolved[key]

        module.calls = [(call, function(node)) for call, node in module.survey.calls]
    return module.calls


def _survey(tree: ast.Module) -> _Survey:
    """One depth-first pass over a module's tree (children in `_children` order) that finds
    what the model asks of it later: the imports, each function's own code, the calls with
    the function and the with statements around them, the annotated assignments inside each
    function and class, and the awaited acquire() calls. Lists that the model has always read
    in `ast.walk` order (breadth first) are put in that order: among nodes at one depth it is
    the depth-first order, so a stable sort by depth gives it."""
    survey = _Survey()
    imports: list[tuple[int, ast.AST]] = []
    annotated: dict[int, list[tuple[int, ast.AnnAssign]]] = {}
    Name, Constant, Call, Store = ast.Name, ast.Constant, ast.Call, ast.Store
    FunctionDef, AsyncFunctionDef, ClassDef, Lambda = ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda
    With, AsyncWith, Import, ImportFrom = ast.With, ast.AsyncWith, ast.Import, ast.ImportFrom
    AnnAssign, Global, Await = ast.AnnAssign, ast.Global, ast.Await
    calls, withs = survey.calls, survey.withs
    # each node comes with its depth and a context shared by its siblings, made anew only where
    # it changes: (innermost def, defs and classes around, with statements around up to the
    # function or lambda, the _Scope whose own code it is or None, whether lambdas are entered)
    top = (None, (), (), None, False)
    todo: list[tuple[ast.AST, int, tuple]] = [(child, 1, top) for child in reversed(_children(tree))]
    while todo:
        node, depth, context = todo.pop()
        kind = type(node)
        if kind is Name:  # nothing below a name (its context) matters here
            if context[3] is not None and isinstance(node.ctx, Store):
                context[3].stores.add(node.id)
            continue
        if kind is Constant:
            continue
        inner = context
        if kind is Call:
            calls.append((node, context[0]))
            if context[2]:
                withs[id(node)] = context[2]
        elif kind is FunctionDef or kind is AsyncFunctionDef:
            if context[3] is not None:
                context[3].nested.append(node)
            survey.enclosing[id(node)] = context[0]
            scope = survey.scopes[id(node)] = _Scope()
            around = (*context[1], node)
            # its parameters are its own code, lambdas in their defaults included; its body is,
            # up to what it nests; its decorators and return annotation are nobody's
            outside, parameters, body = (node, around, (), None, False), (node, around, (), scope, True), \
                (node, around, (), scope, False)
            for name in reversed(node._fields):
                value = getattr(node, name, None)
                field_context = parameters if name == "args" else body if name == "body" else outside
                if isinstance(value, ast.AST):
                    todo.append((value, depth + 1, field_context))
                elif isinstance(value, list):
                    todo.extend([(item, depth + 1, field_context) for item in reversed(value) if isinstance(item, ast.AST)])
            continue
        elif kind is ClassDef:
            inner = (context[0], (*context[1], node), context[2], None, False)
        elif kind is Lambda:
            inner = (context[0], context[1], (), context[3] if context[4] else None, context[4])
        elif kind is With or kind is AsyncWith:
            inner = (context[0], context[1], (node, *context[2]), context[3], context[4])
        elif kind is Import or kind is ImportFrom:
            imports.append((depth, node))
        elif kind is AnnAssign:
            for owner in context[1]:
                annotated.setdefault(id(owner), []).append((depth, node))
        elif kind is Global:
            if context[3] is not None:
                context[3].globals.update(node.names)
        elif kind is Await:
            value = node.value
            if isinstance(value, Call) and isinstance(value.func, ast.Attribute) and value.func.attr == "acquire":
                survey.awaited_acquires.append((value.lineno, value.col_offset))
        depth += 1
        todo.extend([(child, depth, inner) for child in reversed(_children(node))])
    by_depth = itemgetter(0)
    survey.imports = [node for _, node in sorted(imports, key=by_depth)]
    survey.annotated = {owner: [node for _, node in sorted(found, key=by_depth)] for owner, found in annotated.items()}
    return survey


def _span(module: _Module, node: ast.expr) -> tuple[int, int, int, int]:
    """Line and character column of both ends (ast counts UTF-8 bytes, libcst characters)."""
    def column(line: int, offset: int) -> int:
        text = module.lines[line - 1] if 0 < line <= len(module.lines) else ""
        return len(text.encode("utf-8")[:offset].decode("utf-8", errors="ignore"))

    return (node.lineno, column(node.lineno, node.col_offset),
            node.end_lineno or node.lineno, column(node.end_lineno or node.lineno, node.end_col_offset or 0))


def generated_earlier(text: str) -> bool:
    """Whether a module is one an earlier `pgunify migrate` wrote (its marker heads the file)."""
    return GENERATED_MARKER in text[:2000]


def _module_name(rel: str) -> str:
    parts = list(Path(rel).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


__all__ = ["CallSite", "Program", "Receiver", "RecordCheck", "Verdict", "judge"]


def _dependency(annotation: ast.expr | None, default: ast.expr | None) -> ast.expr | None:
    """The provider f of `x: Annotated[T, Depends(f)]` or `x: T = Depends(f)`."""
    candidates = [default] if default is not None else []
    if isinstance(annotation, ast.Subscript) and _dotted(annotation.value).rsplit(".", 1)[-1] == "Annotated" \
            and isinstance(annotation.slice, ast.Tuple):
        candidates += annotation.slice.elts[1:]
    for node in candidates:
        if isinstance(node, ast.Call) and _dotted(node.func).rsplit(".", 1)[-1] == "Depends" and node.args:
            return node.args[0]
    return None
