"""What every pass of the repositories codemod shares: the state of one file's rewrite, what a
receiver is (the whole-program model's verdict through `plan.receivers`, else this module's
own resolution), the raw-SQL helpers a rewrite imports, and the sites marked for review.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import ParentNodeProvider, PositionProvider, ScopeProvider

from pgunify.cst_fields import children, walk
from pgunify.facts.flow import Verdict
from pgunify.facts.receivers import Kind, Resolution

from .._base import UnifyCodemod

REVIEW_MARK = "# pgunify: review"
RESULT_HELPERS = {"fetch": "all_records", "fetchrow": "first_record", "fetchval": "first_value"}
QUERY_METHODS = {"fetch", "fetchrow", "fetchval", "execute", "executemany"}
COPY_METHODS = {"copy_records_to_table", "copy_to_table", "copy_from_table", "copy_from_query"}

# what the whole-program model's verdict makes of a receiver
VERDICT_KINDS = {
    Verdict.POOL: Kind.POOL,
    Verdict.CONNECTION: Kind.CONNECTION,
    Verdict.MAYBE: Kind.EITHER,
    Verdict.ASYNCPG: Kind.UNKNOWN,  # a connection of its own: it stays on asyncpg
    Verdict.SQLALCHEMY: Kind.SA_CONNECTION,
    Verdict.NONE: Kind.UNKNOWN,
}
# verdicts of receivers whose calls this codemod moves
MOVED = frozenset({Verdict.POOL, Verdict.CONNECTION, Verdict.MAYBE})


class Unsupported(Exception):
    """A call the codemod will not rewrite; the message is the reason shown to the user."""


def already_migrated(call: cst.Call) -> bool:
    """A call in the form this codemod writes (`text(...)`, `*numbered(...)`, the driver
    connection under an engine): on a second run it must stay as it is."""
    if any(isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value in _DRIVER_OPENERS
           for node in walk(call.func)):
        return True
    first = call.args[0].value if call.args else None
    return isinstance(first, cst.Call) and isinstance(first.func, cst.Name) and first.func.value in _STATEMENT_BUILDERS


# what the migrated calls are made of: the driver connection under the engine, and the
# statement wrappers the first argument becomes
_DRIVER_OPENERS = frozenset({"driver_connection", "asyncpg_connection"})
_STATEMENT_BUILDERS = frozenset({"text", "sa_text", "numbered", "binds"})


def _variables(node: cst.CSTNode) -> frozenset[str]:
    """Every name read or bound anywhere in `node`, nested scopes included (not attributes or
    keyword arguments)."""
    names: set[str] = set()
    todo = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, cst.Name):
            names.add(current.value)
        elif isinstance(current, (cst.Attribute, cst.Arg)):
            todo.append(current.value)  # `x.attr` reads x, `f(key=x)` reads x
        else:
            todo.extend(children(current))
    return frozenset(names)


class RepositoryPass(UnifyCodemod):
    """The state and the questions every pass shares. A pass is a mixin of this class: the
    codemod (codemod.py) is all of them at once, one visit of the tree."""

    def __init__(self, context, plan) -> None:
        super().__init__(context, plan)
        self.proven = 0
        # statement id -> (pool expression, connection name, how to open it: connect() or a helper)
        self._wrap: dict[int, tuple[cst.BaseExpression, str, str]] = {}
        self._review: dict[int, str] = {}  # statement id -> reason for a review comment
        self._constant_edits: dict[str, cst.BaseExpression] = {}  # constant name -> rewritten literal
        self._local_edits: dict[int, dict[str, cst.BaseExpression]] = {}  # function id -> {local name: literal}
        # (function id or None for a module constant, name) -> rewritten SQL; (name, line) of its literal
        self._constant_rewrites: dict[tuple[int | None, str], object] = {}
        self._constant_lines: dict[tuple[int | None, str], tuple[str, int]] = {}
        self._editable: dict[tuple[int | None, str], bool] = {}  # whether every use of that literal converts
        self._driver_literals: set[tuple[int | None, str]] = set()  # literals a call sends to the driver as written
        self._text_prepares: set[int] = set()  # prepare() calls that became text()
        self._text_name_chosen: str | None = None  # what sqlalchemy's text is imported as (sql.py)
        self._text_alias_imported = False
        self._dropped: set[str | None] = set()  # annotations whose imports are scheduled for removal
        self._callbacks: list[bool] = []  # per enclosing function: is it a pool's init/setup callback
        self._opened: list[dict[str, str]] = []  # per enclosing with: receiver code -> asyncpg_connection() name
        # the driver connection bound to a name (driver_names.py): statement id -> [(name, receiver)] bound before
        # it; block id -> {receiver code: index of the statement bound before}; function id -> {receiver code: name}
        self._driver_bindings: dict[int, list[tuple[str, cst.BaseExpression]]] = {}
        self._driver_bound: dict[int, dict[str, int]] = {}
        self._driver_names: dict[int, dict[str, str]] = {}
        self._function_names: dict[int, frozenset[str]] = {}  # function id -> every name written in it
        self._isinstance_seen = 0  # isinstance() calls the visit has left, in order
        # their index -> (call, its classes, which of them are asyncpg's record or the helpers' one)
        self._record_checks: dict[int, tuple[cst.Call, list[cst.BaseExpression], list[str | None]]] = {}

    # -- what a receiver is ----------------------------------------------------------------
    def _kind(self, node: cst.BaseExpression):
        """What the receiver is: the whole-program model's verdict where it has one for this
        expression, else this module's own resolution."""
        judged = self._model_kind(node)
        if judged is not None:
            return judged
        resolution = self.resolver.resolve(node)
        if resolution.ambiguous:
            return Kind.EITHER, Resolution(Kind.EITHER, resolution.choices, alternatives=resolution.alternatives)
        if resolution.by_name_only and not self._imports_asyncpg:
            return Kind.UNKNOWN, resolution
        if resolution.own_connection:
            # a connection of its own, not from the pool: it keeps talking to asyncpg directly
            return Kind.UNKNOWN, resolution
        return resolution.kind, resolution

    def _model_kind(self, node: cst.BaseExpression):
        receivers = self.plan.receivers.get(self.relative_path())
        if not receivers:
            return None
        judged = receivers.get(self._span(node))
        if judged is None:
            return None
        if judged.verdict is Verdict.NONE:
            # prepared statements and cursors: this module's own resolution knows them; a pool or
            # connection it finds by itself the model has ruled out
            resolution = self.resolver.resolve(node)
            if resolution.kind in (Kind.PREPARED, Kind.CURSOR, Kind.TRANSACTION):
                return resolution.kind, resolution
            return Kind.UNKNOWN, resolution
        kind = VERDICT_KINDS[judged.verdict]
        evidence = judged.evidence if judged.certain else f"name {judged.evidence}"
        return kind, Resolution(kind, evidence, by_name_only=not judged.certain)

    def _span(self, node: cst.CSTNode) -> tuple[int, int, int, int] | None:
        """Where the node is, as the whole-program model names places."""
        try:
            where = self.get_metadata(PositionProvider, node)
        except KeyError:
            return None
        return where.start.line, where.start.column, where.end.line, where.end.column

    def _dedicated(self, node: cst.BaseExpression) -> bool:
        """Whether the model found that this acquire()'s connection is kept for listeners."""
        judged = self.plan.receivers.get(self.relative_path(), {}).get(self._span(node))
        return judged is not None and judged.dedicated

    def _sure_connection(self, node: cst.BaseExpression) -> bool:
        """Whether the whole-program model is sure this receiver is only ever a connection of a
        migrated pool (not guessed from a name, not a pool-level call)."""
        judged = self.plan.receivers.get(self.relative_path(), {}).get(self._span(node))
        return judged is not None and judged.verdict is Verdict.CONNECTION and judged.certain

    # -- where a call stands -----------------------------------------------------------------
    def _statement_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        current = node
        while current is not None and not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            current = self.get_metadata(ParentNodeProvider, current, None)
        return current

    def _awaited(self, call: cst.Call) -> bool:
        return isinstance(self.get_metadata(ParentNodeProvider, call, None), cst.Await)

    def _in_async_function(self, node: cst.CSTNode) -> bool:
        current = self.get_metadata(ParentNodeProvider, node, None)
        while current is not None:
            if isinstance(current, cst.FunctionDef):
                return current.asynchronous is not None
            if isinstance(current, cst.Lambda):
                return False
            current = self.get_metadata(ParentNodeProvider, current, None)
        return False

    def _in_function_block(self, statement: cst.CSTNode) -> bool:
        parent = self.get_metadata(ParentNodeProvider, statement, None)
        return isinstance(parent, cst.IndentedBlock)

    def _result_unused(self, call: cst.Call) -> bool:
        await_node = self.get_metadata(ParentNodeProvider, call, None)
        parent = self.get_metadata(ParentNodeProvider, await_node, None)
        return isinstance(parent, cst.Expr)

    def _enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        current = self.get_metadata(ParentNodeProvider, node, None)
        while current is not None and not isinstance(current, cst.FunctionDef):
            current = self.get_metadata(ParentNodeProvider, current, None)
        return current

    def _free_name(self, node: cst.CSTNode, candidates) -> str | None:
        """The first candidate that names nothing where `node` stands: not bound in its scope
        or an enclosing one, not read in it, not written anywhere in its function (a nested
        function reading a global of that name would see the new local instead)."""
        scope = self.get_metadata(ScopeProvider, node, None)
        function = self._enclosing_function(node)
        written: frozenset[str] = frozenset()
        if function is not None:
            if id(function) not in self._function_names:
                self._function_names[id(function)] = _variables(function)
            written = self._function_names[id(function)]
        for name in candidates:
            if name not in written and (scope is None or (name not in scope and not scope.accesses[name])):
                return name
        return None

    def _free_connection_name(self, node: cst.CSTNode) -> str:
        return self._free_name(node, ("conn", "connection", "db_conn", "sql_conn")) or "sql_connection"

    def module_code(self, node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    # -- what a rewrite leaves behind ----------------------------------------------------------
    def _helper(self, name: str) -> None:
        """Import a raw-SQL helper (first_record, driver_connection, ...) into this module."""
        AddImportsVisitor.add_needed_import(self.context, self.plan.raw_sql_module, name)

    def _drop_import_of(self, node: cst.Name | cst.Attribute) -> None:
        """Schedule the import that binds `node` (`asyncpg.Pool`, `Record`) for removal,
        should nothing read it any more."""
        # the same annotation (`asyncpg.Pool`) recurs in every signature of a repository;
        # finding its import once is enough, and each search costs a visitor of its own
        written = get_full_name_for_node(node)
        if written not in self._dropped:
            self._dropped.add(written)
            RemoveImportsVisitor.remove_unused_import_by_node(self.context, node)

    def _mark_review(self, node: cst.CSTNode, reason: str, suggestion: str | None = None) -> None:
        """Leave the site alone, and put a `# pgunify: review` comment with the reason on its
        statement (review.py writes it)."""
        self.leave_alone(node, reason, suggestion)
        statement = self._statement_of(node)
        if statement is not None:
            self._review.setdefault(id(statement), reason)
