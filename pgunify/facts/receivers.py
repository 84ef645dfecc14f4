"""What an expression is, as far as database access goes: an asyncpg pool, a connection, ...

Resolution uses libcst metadata (scopes, qualified names, parents), following assignments
such as `self._pool = pool` and `async with pool.acquire() as conn`. Names alone
(`pool`, `conn`) count only when nothing else is known, and say so in the evidence, so a
codemod can refuse to act on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Callable

import libcst as cst
from libcst.metadata import (
    Assignment,
    ParentNodeProvider,
    ScopeProvider,
)

from pgunify.cst_fields import field_names


def qualified_names(get_metadata: Callable, node: cst.CSTNode) -> set[str]:
    """The qualified names of `node` (`asyncpg.create_pool` for `create_pool` imported from
    asyncpg), asked of its scope only for the nodes that need them: QualifiedNameProvider
    would visit the whole module again to prepare them for every node."""
    scope = get_metadata(ScopeProvider, node, None)
    return {q.name for q in scope.get_qualified_names_for(node)} if scope is not None else set()


class Kind(str, Enum):
    POOL = "pool"
    CONNECTION = "connection"
    TRANSACTION = "transaction"
    PREPARED = "prepared"
    CURSOR = "cursor"
    SA_ENGINE = "sqlalchemy-engine"
    SA_CONNECTION = "sqlalchemy-connection"
    SA_SESSION = "sqlalchemy-session"
    EITHER = "either"  # a pool, a connection, or not known: the asyncpg connection under it is used
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Resolution:
    kind: Kind
    evidence: str  # "annotation asyncpg.Pool", "asyncpg.create_pool()", "acquire()", "name 'pool'"
    by_name_only: bool = False  # guessed from a name (`pool`, `conn`), nothing else known
    # the kinds an annotation allows when it names several (`asyncpg.Pool | asyncpg.Connection`)
    alternatives: tuple[Kind, ...] = ()
    own_connection: bool = False  # from asyncpg.connect(): a connection of its own, not a pool's

    @property
    def ambiguous(self) -> bool:
        return bool(self.alternatives)

    @property
    def choices(self) -> str:
        """The kinds an ambiguous annotation allows, as evidence reads them: `connection | pool`."""
        return " | ".join(k.value for k in self.alternatives)


UNKNOWN = Resolution(Kind.UNKNOWN, "")

ASYNCPG_FACTORIES = {
    "asyncpg.create_pool": Kind.POOL,
    "asyncpg.pool.create_pool": Kind.POOL,
    "asyncpg.connect": Kind.CONNECTION,
    "asyncpg.connection.connect": Kind.CONNECTION,
}
_OWN_CONNECTIONS = {"asyncpg.connect", "asyncpg.connection.connect"}
SQLALCHEMY_FACTORIES = {
    "sqlalchemy.ext.asyncio.create_async_engine": Kind.SA_ENGINE,
    "sqlalchemy.ext.asyncio.engine.create_async_engine": Kind.SA_ENGINE,
    "sqlalchemy.create_engine": Kind.SA_ENGINE,
    "sqlalchemy.engine.create_engine": Kind.SA_ENGINE,
    "sqlalchemy.ext.asyncio.async_sessionmaker": Kind.SA_SESSION,
    "sqlalchemy.ext.asyncio.AsyncSession": Kind.SA_SESSION,
    "sqlalchemy.orm.sessionmaker": Kind.SA_SESSION,
    "sqlalchemy.orm.Session": Kind.SA_SESSION,
}
ANNOTATIONS = {
    "asyncpg.Pool": Kind.POOL,
    "asyncpg.pool.Pool": Kind.POOL,
    "asyncpg.Connection": Kind.CONNECTION,
    "asyncpg.connection.Connection": Kind.CONNECTION,
    "asyncpg.pool.PoolConnectionProxy": Kind.CONNECTION,
    "asyncpg.prepared_stmt.PreparedStatement": Kind.PREPARED,
    "asyncpg.PreparedStatement": Kind.PREPARED,
    "sqlalchemy.ext.asyncio.AsyncEngine": Kind.SA_ENGINE,
    "sqlalchemy.ext.asyncio.AsyncConnection": Kind.SA_CONNECTION,
    "sqlalchemy.ext.asyncio.AsyncSession": Kind.SA_SESSION,
    "sqlalchemy.orm.Session": Kind.SA_SESSION,
}
_POOL_NAMES = ("pool", "_pool", "db_pool", "pg_pool", "connection_pool", "_db_pool", "pgpool")
_CONN_NAMES = ("conn", "connection", "_conn", "_connection", "db_conn", "con", "pg_conn")


def _name_kind(name: str) -> Kind:
    lowered = name.lower()
    if lowered in _POOL_NAMES or lowered.endswith("_pool"):
        return Kind.POOL
    if lowered in _CONN_NAMES or lowered.endswith("_conn"):
        return Kind.CONNECTION
    return Kind.UNKNOWN


class ReceiverResolver:
    """Resolves expression kinds inside one module, given a visitor's metadata access."""

    def __init__(self, get_metadata: Callable, class_attributes: dict[tuple[str, str], list[tuple[cst.CSTNode, cst.CSTNode]]],
                 module_imports_asyncpg: bool, returns: dict[str, str] | None = None) -> None:
        self._meta = get_metadata
        # fully qualified functions of the project that return a pool or connection (-> asyncpg.Pool)
        self._returns = returns or {}
        # (class name, attribute) -> [(value or annotation node, node whose scope applies)]
        self._attrs = class_attributes
        self._asyncpg = module_imports_asyncpg

    def qualified(self, node: cst.CSTNode) -> set[str]:
        return qualified_names(self._meta, node)

    def resolve(self, node: cst.BaseExpression, _seen: frozenset = frozenset()) -> Resolution:
        if id(node) in _seen or len(_seen) > 12:
            return UNKNOWN
        seen = _seen | {id(node)}
        if isinstance(node, cst.Await):
            return self.resolve(node.expression, seen)
        if isinstance(node, cst.Call):
            return self._resolve_call(node, seen)
        if isinstance(node, cst.Name):
            return self._resolve_name(node, seen)
        if isinstance(node, cst.Attribute):
            return self._resolve_attribute(node, seen)
        return UNKNOWN

    def _resolve_call(self, call: cst.Call, seen: frozenset) -> Resolution:
        for q in self.qualified(call.func):
            if q in ASYNCPG_FACTORIES:
                return Resolution(ASYNCPG_FACTORIES[q], f"{q}()", own_connection=q in _OWN_CONNECTIONS)
            if q in SQLALCHEMY_FACTORIES:
                return Resolution(SQLALCHEMY_FACTORIES[q], f"{q}()")
            if q in self._returns:
                return Resolution(Kind(self._returns[q]), f"{q}() returns asyncpg.{self._returns[q].title()}")
        if isinstance(call.func, cst.Attribute):
            method = call.func.attr.value
            owner = self.resolve(call.func.value, seen)
            if owner.kind is Kind.POOL and method == "acquire":
                return Resolution(Kind.CONNECTION, "acquire()")
            if owner.kind is Kind.CONNECTION and method == "transaction":
                return Resolution(Kind.TRANSACTION, "transaction()")
            if owner.kind is Kind.CONNECTION and method == "prepare":
                return Resolution(Kind.PREPARED, "prepare()")
            if owner.kind in (Kind.CONNECTION, Kind.PREPARED) and method == "cursor":
                return Resolution(Kind.CURSOR, "cursor()")
            if owner.kind is Kind.SA_ENGINE and method in ("connect", "begin"):
                return Resolution(Kind.SA_CONNECTION, f"engine.{method}()")
            if owner.kind is Kind.SA_SESSION and method in ("begin",):
                return Resolution(Kind.SA_SESSION, "session.begin()")
            if owner.kind is Kind.SA_SESSION:
                # calling a session factory (async_sessionmaker()) gives a session
                return UNKNOWN
        if isinstance(call.func, (cst.Name, cst.Attribute)):
            owner = self.resolve(call.func, seen)
            if owner.kind is Kind.SA_SESSION:
                return Resolution(Kind.SA_SESSION, "session factory call")
        return UNKNOWN

    def _resolve_name(self, name: cst.Name, seen: frozenset) -> Resolution:
        try:
            scope = self._meta(ScopeProvider, name)
        except KeyError:
            scope = None
        results: list[Resolution] = []
        if scope is not None:
            for assignment in scope[name.value]:
                if isinstance(assignment, Assignment):
                    results.append(self._resolve_binding(assignment.node, name.value, seen))
        return _combine(results)

    def _resolve_binding(self, bound: cst.CSTNode, name: str, seen: frozenset) -> Resolution:
        if isinstance(bound, cst.Param):
            if bound.annotation is not None:
                by_annotation = self.annotation_kind(bound.annotation.annotation)
                if by_annotation is not None:
                    return by_annotation
            return self._by_name(name)
        parent = self._meta(ParentNodeProvider, bound, None)
        if isinstance(parent, cst.Element):  # `pool, _pool = _pool, None`
            resolved = self._resolve_unpacked(bound, parent, seen)
            if resolved is not None:
                return resolved
        if isinstance(parent, cst.AssignTarget):
            assign = self._meta(ParentNodeProvider, parent, None)
            if isinstance(assign, cst.Assign) and parent.target is bound:
                return self.resolve(assign.value, seen)
        if isinstance(parent, cst.AnnAssign):
            by_annotation = self.annotation_kind(parent.annotation.annotation)
            if by_annotation is not None:
                return by_annotation
            if parent.value is not None:
                return self.resolve(parent.value, seen)
        if isinstance(parent, cst.AsName):
            item = self._meta(ParentNodeProvider, parent, None)
            if isinstance(item, cst.WithItem):
                inner = self.resolve(item.item, seen)
                if inner.kind is not Kind.UNKNOWN:
                    return inner
        return UNKNOWN

    def _resolve_unpacked(self, bound: cst.CSTNode, element: cst.Element, seen: frozenset) -> Resolution | None:
        targets = self._meta(ParentNodeProvider, element, None)
        target = self._meta(ParentNodeProvider, targets, None) if targets is not None else None
        assign = self._meta(ParentNodeProvider, target, None) if target is not None else None
        if not (isinstance(targets, (cst.Tuple, cst.List)) and isinstance(target, cst.AssignTarget)
                and isinstance(assign, cst.Assign) and isinstance(assign.value, (cst.Tuple, cst.List))):
            return None
        position = next((i for i, e in enumerate(targets.elements) if e is element), None)
        if position is None or len(assign.value.elements) != len(targets.elements):
            return None
        return self.resolve(assign.value.elements[position].value, seen)

    def _resolve_attribute(self, attr: cst.Attribute, seen: frozenset) -> Resolution:
        if isinstance(attr.value, cst.Name) and attr.value.value in ("self", "cls"):
            owner_class = self._enclosing_class(attr)
            if owner_class is not None:
                entries = self._attrs.get((owner_class, attr.attr.value), [])
                results = []
                for value, _ in entries:
                    if isinstance(value, cst.Annotation):
                        results.append(self.annotation_kind(value.annotation) or UNKNOWN)
                    else:
                        results.append(self.resolve(value, seen))
                combined = _combine(results)
                if combined.kind is not Kind.UNKNOWN:
                    return combined
        return self._by_name(attr.attr.value)

    def _by_name(self, name: str) -> Resolution:
        kind = _name_kind(name)
        if kind is Kind.UNKNOWN:
            return UNKNOWN
        return Resolution(kind, f"name '{name}'", by_name_only=True)

    def annotation_kind(self, annotation: cst.BaseExpression) -> Resolution | None:
        """Kind named by an annotation; Optional[...] and `X | None` count as X, while a
        union of different asyncpg kinds (Pool | Connection) is ambiguous."""
        members: list[cst.BaseExpression] = []

        def collect(node: cst.BaseExpression) -> None:
            if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
                collect(node.left)
                collect(node.right)
            elif isinstance(node, cst.Subscript) and node.slice and \
                    {q.split(".")[-1] for q in self.qualified(node.value)} & {"Optional", "Union"}:
                for element in node.slice:
                    if isinstance(element.slice, cst.Index):
                        collect(element.slice.value)
            else:
                members.append(node)

        collect(annotation)
        found = []
        for member in members:
            for q in self.qualified(member):
                if q in ANNOTATIONS:
                    found.append(Resolution(ANNOTATIONS[q], f"annotation {q}"))
        kinds = {r.kind for r in found}
        if len(kinds) > 1:
            alternatives = tuple(sorted(kinds, key=lambda k: k.value))
            return Resolution(Kind.UNKNOWN, "ambiguous annotation: " + " | ".join(k.value for k in alternatives),
                              alternatives=alternatives)
        return found[0] if found else None

    def _enclosing_class(self, node: cst.CSTNode) -> str | None:
        current = self._meta(ParentNodeProvider, node, None)
        while current is not None:
            if isinstance(current, cst.ClassDef):
                return current.name.value
            current = self._meta(ParentNodeProvider, current, None)
        return None


def _combine(results: list[Resolution]) -> Resolution:
    known = [r for r in results if r.kind is not Kind.UNKNOWN]
    if not known:
        # keep the one useful thing an unknown can say: that the annotation allows several kinds
        return next((r for r in results if r.ambiguous), UNKNOWN)
    certain = [r for r in known if not r.by_name_only]
    pick = certain or known
    kinds = {r.kind for r in pick}
    if len(kinds) > 1:
        return UNKNOWN  # bound to different kinds on different paths: not safe to say
    return pick[0]


class ClassAttributeCollector(cst.CSTVisitor):
    """Records every `self.<attr> = value` (and class-level annotation) per class."""

    METADATA_DEPENDENCIES = (ParentNodeProvider,)

    def __init__(self) -> None:
        self.attributes: dict[tuple[str, str], list[tuple[cst.CSTNode, cst.CSTNode]]] = {}
        self._classes: list[str] = []
        self._function_depth: list[int] = [0]
        self.imports_asyncpg = False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._function_depth[-1] += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        self._function_depth[-1] -= 1

    def visit_Import(self, node: cst.Import) -> None:
        if any(cst.helpers.get_full_name_for_node(a.name) == "asyncpg" or
               (cst.helpers.get_full_name_for_node(a.name) or "").startswith("asyncpg.") for a in node.names):
            self.imports_asyncpg = True

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        module = cst.helpers.get_full_name_for_node(node.module) if node.module else ""
        if module and (module == "asyncpg" or module.startswith("asyncpg.")):
            self.imports_asyncpg = True

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._classes.append(node.name.value)
        self._function_depth.append(0)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        self._classes.pop()
        self._function_depth.pop()

    def _record(self, target: cst.BaseExpression, value: cst.CSTNode) -> None:
        if not self._classes:
            return
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value in ("self", "cls"):
            self.attributes.setdefault((self._classes[-1], target.attr.value), []).append((value, target))
        elif isinstance(target, cst.Name) and self._function_depth[-1] == 0:
            self.attributes.setdefault((self._classes[-1], target.value), []).append((value, target))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._record(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._record(node.target, node.annotation)
        if node.value is not None:
            self._record(node.target, node.value)


# what holds statements: suites, statements, and the clauses of compound ones
_STATEMENT_HOLDERS = (cst.BaseSuite, cst.BaseStatement, cst.BaseSmallStatement, cst.Else, cst.Finally,
                      cst.ExceptHandler, cst.ExceptStarHandler, cst.MatchCase)


def _statement_children(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The children of `node` that hold statements, in source order (a node's fields list the
    ones that hold statements in the order they are written: body, handlers, orelse, finalbody)."""
    children = []
    for name in field_names(type(node)):
        value = getattr(node, name)
        if isinstance(value, _STATEMENT_HOLDERS):
            children.append(value)
        elif isinstance(value, (tuple, list)):
            children.extend(item for item in value if isinstance(item, _STATEMENT_HOLDERS))
    return children


def collect_class_attributes(module: cst.Module) -> ClassAttributeCollector:
    """A ClassAttributeCollector that has seen `module`. It reacts to statements only (classes,
    functions, imports, assignments), so it is handed those alone, in the order a libcst visit
    meets them, without the walk through every expression that a visit makes."""
    collector = ClassAttributeCollector()

    def walk(node: cst.CSTNode) -> None:
        kind = type(node).__name__
        visit = getattr(collector, f"visit_{kind}", None)
        if visit is None or visit(node) is not False:
            for child in _statement_children(node):
                walk(child)
        leave = getattr(collector, f"leave_{kind}", None)
        if leave is not None:
            leave(node)

    walk(module)
    return collector
