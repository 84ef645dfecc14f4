"""repositories: every asyncpg call onto SQLAlchemy Core `text()` on the shared engine.

Receivers are recognised through unify's facts (scopes, qualified names, assignments such
as `self._pool = pool`), never by method name alone. Each static statement is rewritten
with PostgreSQL's own lexer and proven unchanged before it is offered; what callers see
(records, status strings, exceptions, commit behaviour) is kept by the raw-SQL helpers
generated beside the engine module. Sites the tool cannot carry over keep a greppable
`# unify: review` comment and an entry in the report.
"""

from __future__ import annotations

import keyword

import libcst as cst
import libcst.matchers as m
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.helpers import get_full_name_for_node
from libcst.metadata import FunctionScope, GlobalScope, ParentNodeProvider, PositionProvider, ScopeProvider

from unify.facts.constants import bound_literal, static_string
from unify.facts.api import DRIVER_AWAITED, DRIVER_PLAIN
from unify.facts.flow import Verdict
from unify.facts.receivers import ClassAttributeCollector, Kind, ReceiverResolver, Resolution, qualified_names
from unify.rewrite.outcome import Change, Risk
from unify.sql.binds import RewriteRefused, to_named_binds
from unify.sql.lexing import SqlLexError, shape
from unify.sql.literals import LiteralRefused, rewrite_literal
from unify.sql.proof import prove
from unify.templates import render_raw_sql_module

from ._base import CodemodInfo, UnifyCodemod

REVIEW_MARK = "# unify: review"
_NO_SPACE_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))
RESULT_HELPERS = {"fetch": "all_records", "fetchrow": "first_record", "fetchval": "first_value"}
QUERY_METHODS = {"fetch", "fetchrow", "fetchval", "execute", "executemany"}
COPY_METHODS = {"copy_records_to_table", "copy_to_table", "copy_from_table", "copy_from_query"}
ANNOTATIONS = {
    "asyncpg.Pool": ("sqlalchemy.ext.asyncio", "AsyncEngine"),
    "asyncpg.pool.Pool": ("sqlalchemy.ext.asyncio", "AsyncEngine"),
    "asyncpg.Connection": ("sqlalchemy.ext.asyncio", "AsyncConnection"),
    "asyncpg.connection.Connection": ("sqlalchemy.ext.asyncio", "AsyncConnection"),
    "asyncpg.pool.PoolConnectionProxy": ("sqlalchemy.ext.asyncio", "AsyncConnection"),
}
RECORD_ANNOTATIONS = {"asyncpg.Record", "asyncpg.protocol.Record", "asyncpg.protocol.protocol.Record"}
# the status string's command word, by the parsed statement's node type
STATEMENT_COMMANDS = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "SelectStmt": "SELECT"}


class Unsupported(Exception):
    """A call the codemod will not rewrite; the message is the reason shown to the user."""


def _command_of(sql: str) -> str | None:
    import pglast

    try:
        statements = pglast.parse_sql(sql)
    except Exception:  # noqa: BLE001 - unparsable SQL simply has no known command
        return None
    if len(statements) != 1:
        return None
    return STATEMENT_COMMANDS.get(type(statements[0].stmt).__name__)


def _bind_name(arg: cst.BaseExpression, number: int) -> str:
    """A readable bind name taken from the argument (`alert_id`, `self.limit` -> `limit`)."""
    node = arg
    if isinstance(node, cst.Attribute):
        node = node.attr
    if isinstance(node, cst.Name):
        name = node.value.lstrip("_")
        if name.isidentifier() and not keyword.iskeyword(name) and name not in ("self", "cls"):
            return name
    return f"p{number}"


class RepositoryCodemod(UnifyCodemod):
    info = CodemodInfo(
        name="repositories",
        summary="Move every asyncpg call onto SQLAlchemy Core text() on the shared engine, each statement proven unchanged",
        risk=Risk.REVIEW,
        why="One engine for the whole application means the raw-SQL repositories must run on it too, with the same results.",
    )
    METADATA_DEPENDENCIES = UnifyCodemod.METADATA_DEPENDENCIES + (ScopeProvider, ParentNodeProvider)

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
        self._driver_prepares: set[int] = set()  # prepare() calls left on the asyncpg connection
        self._dropped: set[str | None] = set()  # annotations whose imports are scheduled for removal
        self._callbacks: list[bool] = []  # per enclosing function: is it a pool's init/setup callback
        self._opened: list[dict[str, str]] = []  # per enclosing with: receiver code -> asyncpg_connection() name

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        words = (b".fetchrow(", b".fetchval(", b".executemany(", b".acquire(", b".copy_records_to_table(")
        # modules that get a pool from the application's own functions (db.get_pool()) need not import asyncpg
        functions = tuple(name.rsplit(".", 1)[-1].encode() + b"(" for name, _ in plan.returns)
        return b"asyncpg" in source or any(word in source for word in words + functions)

    @classmethod
    def wants_file(cls, rel: str, source: bytes, plan) -> bool:
        # a module that reaches a pool only through objects of other modules (ctx.db.fetch())
        # need not mention asyncpg: the whole-program model knows its receivers
        return cls.wants(source, plan) or any(
            judged.verdict in _MOVED for judged in plan.receivers.get(rel, {}).values())

    @classmethod
    def generated_files(cls, plan) -> dict[str, str]:
        if not plan.raw_sql_path:
            return {}
        return {plan.raw_sql_path: (render_raw_sql_module(plan), "helpers that keep asyncpg's results, status strings "
                                                                  "and transactions for the raw-SQL repositories")}

    # -- setup ------------------------------------------------------------------------
    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if self.in_generated_file():
            return tree
        collector = ClassAttributeCollector()
        self.context.wrapper.visit(collector)
        self.resolver = ReceiverResolver(self.get_metadata, collector.attributes, collector.imports_asyncpg,
                                         dict(self.plan.returns))
        self._imports_asyncpg = collector.imports_asyncpg
        tree = super().transform_module_impl(tree)
        conflicts = sorted(key[1] for key in self._driver_literals if key in self._constant_rewrites)
        if conflicts:  # a safeguard: _literal_of() admits only literals whose every use converts
            raise RuntimeError(f"{', '.join(conflicts)}: the literal serves both text() and the driver; not rewritten")
        if self._constant_edits:
            # constants are defined above the calls that prove them, so they are edited afterwards
            tree = tree.visit(_ConstantEditor(self._constant_edits))
        for name, line in sorted(self._constant_lines.values(), key=lambda item: (item[1], item[0])):
            self.changes.append(Change(self.info.name, line, f"{name}: $n placeholders become named binds for text(); "
                                       "the statement is proven to compile back to the original", Risk.REVIEW))
        return tree

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self._callbacks.pop()
        edits = self._local_edits.pop(id(original_node), None)
        if edits:  # local SQL variables, edited where they are assigned once all their calls are rewritten
            return updated_node.with_changes(body=updated_node.body.visit(_ConstantEditor(edits)))
        return updated_node

    def _kind(self, node: cst.BaseExpression):
        """What the receiver is: the whole-program model's verdict where it has one for this
        expression, else this module's own resolution."""
        judged = self._model_kind(node)
        if judged is not None:
            return judged
        resolution = self.resolver.resolve(node)
        if resolution.evidence.startswith("ambiguous annotation"):
            return Kind.EITHER, Resolution(Kind.EITHER, resolution.evidence.removeprefix("ambiguous annotation: "))
        if resolution.by_name_only and not self._imports_asyncpg:
            return Kind.UNKNOWN, resolution
        if resolution.evidence.startswith("asyncpg.connect"):
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
        kind = _VERDICT_KINDS[judged.verdict]
        evidence = judged.evidence if judged.certain else f"name {judged.evidence}"
        return kind, Resolution(kind, evidence)

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

    def _statement_of(self, node: cst.CSTNode) -> cst.CSTNode | None:
        current = node
        while current is not None and not isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            current = self.get_metadata(ParentNodeProvider, current, None)
        return current

    def _helper(self, name: str) -> None:
        AddImportsVisitor.add_needed_import(self.context, self.plan.raw_sql_module, name)

    def _mark_review(self, node: cst.CSTNode, reason: str, suggestion: str | None = None) -> None:
        self.leave_alone(node, reason, suggestion)
        statement = self._statement_of(node)
        if statement is not None:
            self._review.setdefault(id(statement), reason)

    # -- acquire / release / close / transaction ----------------------------------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        if not isinstance(func, cst.Attribute):
            return updated_node
        method = func.attr.value
        if method in QUERY_METHODS | COPY_METHODS | {"prepare"} and \
                not isinstance(self.get_metadata(ParentNodeProvider, original_node, None), cst.Await):
            kind, resolution = self._kind(func.value)
            if kind in (Kind.POOL, Kind.CONNECTION, Kind.EITHER) and not _already_migrated(original_node):
                return self._on_driver(original_node, updated_node, method,
                                       f"{method}() is not awaited where it is called (passed to gather(), wait_for(), "
                                       "stored)")
            if kind is Kind.PREPARED and not _already_migrated(original_node):
                self._mark_review(original_node, f"{method}() is not awaited where it is called (passed to gather(), "
                                                 "wait_for(), stored): it is not migrated",
                                  "await it in a statement of its own, then pass the result on")
            return updated_node
        if method in DRIVER_PLAIN | DRIVER_AWAITED and self._kind(func.value)[0] is Kind.CONNECTION \
                and self._in_async_function(original_node):
            if method in DRIVER_AWAITED and not isinstance(self.get_metadata(ParentNodeProvider, original_node, None),
                                                           cst.Await):
                return updated_node  # not awaited in place: left for the closure check to list
            self._helper("driver_connection")
            self.record(original_node, f"{method}() runs on the asyncpg connection under the engine's connection: "
                                       "SQLAlchemy's connection has no such method", Risk.REVIEW)
            driver = cst.Await(cst.Call(cst.Name("driver_connection"), [cst.Arg(updated_node.func.value)]),  # type: ignore[attr-defined]
                               lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return updated_node.with_changes(func=updated_node.func.with_changes(value=driver))  # type: ignore[attr-defined]
        if method in _POOL_STATE and not original_node.args:
            kind, _ = self._kind(func.value)
            if kind is Kind.POOL:
                helper, meaning = _POOL_STATE[method]
                self._helper(helper)
                self.record(original_node, f"pool.{method}() becomes {helper}(engine): {meaning}")
                return cst.Call(cst.Name(helper), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
            return updated_node
        if method not in ("acquire", "release", "close", "transaction", "cursor"):
            return updated_node
        kind, _ = self._kind(func.value)
        if kind is Kind.CONNECTION and method == "cursor":
            return self._cursor(original_node, updated_node)
        if kind is Kind.EITHER and method == "acquire" and isinstance(
                self.get_metadata(ParentNodeProvider, original_node, None), cst.WithItem):
            self._helper("asyncpg_connection")
            self.record(original_node, f"acquire() on a receiver that may be a pool or a connection ({self._kind(func.value)[1].evidence}) "
                                       "becomes asyncpg_connection(): the asyncpg connection under whatever it holds, "
                                       "so the calls on it stay asyncpg's", Risk.REVIEW)
            return cst.Call(cst.Name("asyncpg_connection"), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
        if kind is Kind.POOL and method == "acquire" and self._dedicated(func.value) and not original_node.args:
            self._helper("dedicated_connection")
            self.record(original_node, "pool.acquire() for a connection that keeps listeners (LISTEN/NOTIFY) becomes "
                                       "dedicated_connection(engine): asyncpg's own connection, opened by the engine and "
                                       "held outside its pool, so the calls on it stay asyncpg's", Risk.REVIEW)
            return cst.Call(cst.Name("dedicated_connection"), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
        if kind is Kind.POOL and method == "acquire":
            if original_node.args:
                return self._acquire_within(original_node, updated_node)
            self.record(original_node, "pool.acquire() becomes engine.connect(): a pooled connection of the shared engine")
            return updated_node.with_changes(func=updated_node.func.with_changes(attr=cst.Name("connect")))
        if kind is Kind.POOL and method == "release" and len(original_node.args) == 1:
            self.record(original_node, "pool.release(conn) becomes conn.close(), which returns it to the pool")
            return cst.Call(func=cst.Attribute(value=updated_node.args[0].value, attr=cst.Name("close")))
        if kind is Kind.POOL and method == "close" and self.plan.tracks_closing:
            self._helper("close_pool")
            self.record(original_node, "pool.close() becomes close_pool(engine): engine.dispose(), noted for "
                                       "pool_is_closing(), which the application asks elsewhere")
            return cst.Call(cst.Name("close_pool"), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
        if kind is Kind.POOL and method == "close":
            self.record(original_node, "pool.close() becomes engine.dispose()")
            return updated_node.with_changes(func=updated_node.func.with_changes(attr=cst.Name("dispose")), args=())
        if kind is Kind.CONNECTION and method == "transaction":
            return self._transaction(original_node, updated_node)
        return updated_node

    def _acquire_within(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """`pool.acquire(timeout=t)` becomes `connect(pool, timeout=t)`: engine.connect() that
        waits at most t seconds for a pooled connection, raising TimeoutError as asyncpg did."""
        if len(updated.args) != 1 or not m.matches(updated.args[0], m.Arg(keyword=m.Name("timeout"))):
            self._mark_review(original, "acquire() with arguments other than timeout= has no engine equivalent",
                              "call connect() on the engine")
            return updated
        scope = self.get_metadata(ScopeProvider, original, None)
        name = "connect"
        if scope is not None and ("connect" in scope.globals or "connect" in scope):
            name = "connect_within"  # the module has a `connect` of its own
            AddImportsVisitor.add_needed_import(self.context, self.plan.raw_sql_module, "connect", asname=name)
        else:
            self._helper("connect")
        self.record(original, f"pool.acquire(timeout=) becomes {name}(engine, timeout=): a pooled connection of the "
                              "shared engine, waited for at most that long (TimeoutError, as before)", Risk.REVIEW)
        timeout = updated.args[0].with_changes(comma=cst.MaybeSentinel.DEFAULT)
        return cst.Call(cst.Name(name), [cst.Arg(updated.func.value), timeout])  # type: ignore[attr-defined]

    def _transaction(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        parent = self.get_metadata(ParentNodeProvider, original, None)
        if not isinstance(parent, cst.WithItem):
            if not self._in_async_function(original):
                self._mark_review(original, "a transaction started by hand (tr.start()/commit()) outside an async "
                                            "function is not migrated",
                                  "use `async with transaction(conn):` from the raw-SQL helpers")
                return updated
            # `tr = conn.transaction(); await tr.start(); ... await tr.commit()`: asyncpg's own
            # transaction object on the driver connection, which the engine's view leaves alone
            self._helper("driver_connection")
            self.record(original, "a transaction driven by hand (start(), commit(), rollback()) stays asyncpg's own, "
                                  "on the asyncpg connection under the engine's connection: BEGIN, COMMIT, ROLLBACK and "
                                  "savepoints as before", Risk.REVIEW)
            driver = cst.Await(cst.Call(cst.Name("driver_connection"), [cst.Arg(updated.func.value)]),  # type: ignore[attr-defined]
                               lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return updated.with_changes(func=updated.func.with_changes(value=driver))  # type: ignore[attr-defined]
        unknown = [a.keyword.value for a in original.args
                   if a.keyword is None or a.keyword.value not in ("isolation", "readonly", "deferrable")]
        if unknown:
            self._mark_review(original, f"transaction({', '.join(unknown)}=...) options are not carried over",
                              "open it with `await conn.execution_options(...)` and `conn.begin()` by hand")
            return updated
        self._helper("transaction")
        self.record(original, "conn.transaction() becomes transaction(conn): BEGIN ... COMMIT as before, "
                              "a savepoint when nested", Risk.REVIEW)
        args = [cst.Arg(updated.func.value)] + [a for a in updated.args]  # type: ignore[attr-defined]
        return cst.Call(func=cst.Name("transaction"), args=args)

    # -- queries --------------------------------------------------------------------------
    def leave_Await(self, original_node: cst.Await, updated_node: cst.Await) -> cst.BaseExpression:
        call = original_node.expression
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
            return updated_node
        method = call.func.attr.value
        if method not in QUERY_METHODS | COPY_METHODS | {"prepare"}:
            return updated_node
        kind, resolution = self._kind(call.func.value)
        if method == "prepare" and kind is Kind.CONNECTION:
            return self._prepare(original_node, call, updated_node)
        if kind is Kind.PREPARED and method in RESULT_HELPERS.keys() | {"executemany"}:
            return self._run_prepared(original_node, call, updated_node, method)
        if kind is Kind.EITHER:
            return self._either(original_node, call, updated_node, method, resolution)
        if kind not in (Kind.POOL, Kind.CONNECTION):
            if kind is Kind.PREPARED or kind is Kind.CURSOR:
                self._mark_review(call, f"{method}() on a prepared statement or cursor used this way is not migrated",
                                  "execute text() on the connection; SQLAlchemy's asyncpg dialect caches prepared statements")
            return updated_node
        if _already_migrated(call):
            return updated_node
        new_call: cst.Call = updated_node.expression  # type: ignore[assignment]
        connection: cst.BaseExpression = new_call.func.value  # type: ignore[attr-defined]
        if kind is Kind.POOL:
            statement = self._statement_of(original_node)
            existing = self._wrap.get(id(statement))
            if not isinstance(statement, cst.SimpleStatementLine) or not self._in_function_block(statement) \
                    or m.findall(statement, m.Yield()) \
                    or (existing is not None and not existing[0].deep_equals(new_call.func.value)):
                # an `if`/`while` test, a statement that yields, or one using two pools: the statement
                # runs on a connection of its own, returned before the expression goes on
                return self._on_its_own_connection(call, updated_node, new_call, method)
            name = existing[1] if existing else self._free_connection_name(original_node)
            self._wrap[id(statement)] = (new_call.func.value, name, "connect")  # type: ignore[attr-defined]
            connection = cst.Name(name)
        try:
            return self._rewrite_query(call, new_call, method, connection)
        except Unsupported as reason:
            # kept exactly as it was, on the asyncpg connection under the engine's connection
            return self._through_driver(call, new_call, method, connection,
                                        f"{method}() runs on the asyncpg connection under the engine's connection, "
                                        f"as before: {reason}")

    def _in_async_function(self, node: cst.CSTNode) -> bool:
        current = self.get_metadata(ParentNodeProvider, node, None)
        while current is not None:
            if isinstance(current, cst.FunctionDef):
                return current.asynchronous is not None
            if isinstance(current, cst.Lambda):
                return False
            current = self.get_metadata(ParentNodeProvider, current, None)
        return False

    def _on_driver(self, call: cst.Call, updated: cst.Call, method: str, why: str) -> cst.Call:
        """`x.fetch(...)` -> `on_driver(x).fetch(...)`: the same asyncpg call, made when the
        coroutine runs, on the asyncpg connection under whatever x is now."""
        self._helper("on_driver")
        self.record(call, f"{why}: on_driver() makes the same asyncpg call, when it runs, on the asyncpg connection "
                          "under the engine's connection", Risk.REVIEW)
        return updated.with_changes(func=updated.func.with_changes(  # type: ignore[attr-defined]
            value=cst.Call(cst.Name("on_driver"), [cst.Arg(updated.func.value)])))  # type: ignore[attr-defined]

    def _on_its_own_connection(self, call: cst.Call, updated: cst.Await, new_call: cst.Call, method: str):
        """`await pool.fetchrow(...)` where no statement can hold a connection:
        `first_record(await execute_on(pool, text(...), {...}))`."""
        placeholder = cst.Name("__unify_connection__")
        try:
            rewritten = self._rewrite_query(call, new_call, method, placeholder)
        except Unsupported as reason:
            return updated.with_changes(expression=self._on_driver(
                call, new_call, method, f"pool-level {method}() where no statement can hold a connection ({reason})"))
        moved = rewritten.visit(_OnEngine(placeholder.value, new_call.func.value))  # type: ignore[attr-defined]
        if m.findall(moved, m.Name(placeholder.value)):
            self.changes = [c for c in self.changes if c.line != self.line_of(call) or "execute_on" in c.description]
            return updated.with_changes(expression=self._on_driver(
                call, new_call, method, f"pool-level {method}() where no statement can hold a connection, of SQL "
                                        "built at run time"))
        self._helper("execute_on")
        self.record(call, f"pool-level {method}() where no statement can hold a connection: execute_on() runs it "
                          "on a connection of the engine returned as soon as the rows are read, as the pool did")
        return moved

    def _either(self, original: cst.Await, call: cst.Call, updated: cst.Await, method: str, resolution):
        """A receiver typed `asyncpg.Pool | asyncpg.Connection`: callers may pass an engine now,
        or still an asyncpg connection, so the call runs on the asyncpg connection under either."""
        receiver_code = self.module_code(call.func.value)
        for opened in reversed(self._opened):
            if receiver_code in opened:  # inside `async with asyncpg_connection(x) as conn, conn.transaction():`
                self.record(call, f"{method}() runs on the asyncpg connection its transaction() block opened")
                return updated.with_changes(expression=updated.expression.with_changes(
                    func=updated.expression.func.with_changes(value=cst.Name(opened[receiver_code]))))
        statement = self._statement_of(original)
        if not isinstance(statement, cst.SimpleStatementLine) or not self._in_function_block(statement) \
                or id(statement) in self._wrap:
            return updated.with_changes(expression=self._on_driver(
                call, updated.expression, method, f"{method}() on a receiver that may be a pool, a connection or "
                                                  f"another object ({resolution.evidence}), where no statement can "
                                                  "hold a connection"))
        name = self._free_connection_name(original)
        receiver = updated.expression.func.value  # type: ignore[attr-defined]
        self._wrap[id(statement)] = (receiver, name, "asyncpg_connection")
        self._helper("asyncpg_connection")
        self.record(call, f"{method}() on a receiver that may be a pool or a connection runs on the asyncpg connection "
                          "under it: asyncpg_connection() accepts an engine, a SQLAlchemy or an asyncpg connection")
        return updated.with_changes(expression=updated.expression.with_changes(
            func=updated.expression.func.with_changes(value=cst.Name(name))))

    # -- prepared statements and cursors -------------------------------------------------------
    def _prepare(self, original: cst.Await, call: cst.Call, updated: cst.Await) -> cst.BaseExpression:
        """`stmt = await conn.prepare(SQL)` becomes `stmt = text(SQL)`: the asyncpg dialect
        prepares and caches statements per connection by itself."""
        parent = self.get_metadata(ParentNodeProvider, original, None)
        positional = [a for a in call.args if a.keyword is None]
        if not (isinstance(parent, cst.Assign) and isinstance(parent.targets[0].target, cst.Name)) or \
                len(positional) != 1 or len(call.args) != 1:
            self._mark_review(call, "prepare() whose statement is not assigned to a plain name",
                              "assign `text(SQL)` to a name and execute it on the connection")
            return updated
        reason = "the SQL is built at run time"
        try:
            statement, names = self._statement(call, positional[0].value, updated.expression.args[0].value, values=None,
                                               fixed_names=True)
        except Unsupported as refused:
            statement, names, reason = None, None, str(refused)
        if names is None:  # SQL built at run time, or a statement text() cannot carry
            # an asyncpg prepared statement, as before: its calls stay as they are
            self._driver_prepares.add(id(call))
            return self._through_driver(call, updated.expression, "prepare", updated.expression.func.value,  # type: ignore[attr-defined]
                                        "prepare() runs on the asyncpg connection under the engine's connection, as "
                                        f"before, and so do the statement's calls: {reason}")
        self.record(call, "prepare() becomes text(): SQLAlchemy's asyncpg dialect prepares and caches the statement "
                          "on each connection itself")
        return statement

    def _prepared_origin(self, receiver: cst.BaseExpression):
        """(connection expression, SQL node) of the prepare() a statement variable came from."""
        if not isinstance(receiver, cst.Name):
            return None
        scope = self.get_metadata(ScopeProvider, receiver, None)
        assignments = list(scope[receiver.value]) if scope is not None else []
        if len(assignments) != 1:
            return None
        target = self.get_metadata(ParentNodeProvider, assignments[0].node, None)
        assign = self.get_metadata(ParentNodeProvider, target, None) if target is not None else None
        if not (isinstance(assign, cst.Assign) and m.matches(assign.value, m.Await(m.Call(func=m.Attribute(attr=m.Name("prepare")))))):
            return None
        prepare_call = assign.value.expression
        if id(prepare_call) in self._driver_prepares:
            return None
        return prepare_call.func.value, prepare_call.args[0].value if prepare_call.args else None

    def _on_driver_prepare(self, receiver: cst.BaseExpression) -> bool:
        if not isinstance(receiver, cst.Name):
            return False
        scope = self.get_metadata(ScopeProvider, receiver, None)
        assignments = list(scope[receiver.value]) if scope is not None else []
        if len(assignments) != 1:
            return False
        target = self.get_metadata(ParentNodeProvider, assignments[0].node, None)
        assign = self.get_metadata(ParentNodeProvider, target, None) if target is not None else None
        return isinstance(assign, cst.Assign) and isinstance(assign.value, cst.Await) \
            and id(assign.value.expression) in self._driver_prepares

    def _run_prepared(self, original: cst.Await, call: cst.Call, updated: cst.Await, method: str) -> cst.BaseExpression:
        origin = self._prepared_origin(call.func.value)
        if origin is None and self._on_driver_prepare(call.func.value):
            return updated  # an asyncpg prepared statement still
        sql = self._static_sql(origin[1]) if origin is not None and origin[1] is not None else None
        if origin is None or sql is None:
            self._mark_review(call, f"{method}() on a prepared statement whose prepare() could not be traced")
            return updated
        try:
            numbers = shape(sql).numbers
        except SqlLexError:
            self._mark_review(call, "the prepared statement does not lex as PostgreSQL SQL")
            return updated
        new_call: cst.Call = updated.expression  # type: ignore[assignment]
        values = [a for a in new_call.args if a.keyword is None]
        keywords = {a.keyword.value: a for a in new_call.args if a.keyword is not None}
        if set(keywords) - ({"column"} if method == "fetchval" else set()) or any(v.star for v in values):
            self._mark_review(call, f"{method}() on a prepared statement with arguments that cannot be named")
            return updated
        connection, statement = origin[0], new_call.func.value  # type: ignore[attr-defined]
        if method == "executemany":
            if len(values) != 1:
                self._mark_review(call, "executemany() with other than one argument sequence")
                return updated
            self._helper("execute_many")
            self.record(call, "executemany() of a prepared statement becomes execute_many(conn, statement, [...])")
            return cst.Await(cst.Call(cst.Name("execute_many"), [cst.Arg(connection), cst.Arg(statement),
                                                                 cst.Arg(self._rows(numbers, values[0].value))]))
        if len(values) != len(numbers):
            self._mark_review(call, f"{len(values)} arguments for {len(numbers)} placeholders")
            return updated
        new_values: list[cst.BaseExpression] = [statement]
        if numbers:
            new_values.append(_bind_dict([(f"p{n}", values[n - 1].value) for n in numbers], _indent_of(list(new_call.args))))
        executed = cst.Await(cst.Call(cst.Attribute(connection, cst.Name("execute")),
                                      _laid_out(list(new_call.args) or [cst.Arg(statement)], new_values)))
        helper = RESULT_HELPERS[method]
        self._helper(helper)
        args = [cst.Arg(executed)]
        if "column" in keywords:
            args.append(cst.Arg(keywords["column"].value, keyword=cst.Name("column"), equal=_NO_SPACE_EQUAL))
        self.record(call, f"{method}() of a prepared statement becomes {helper}(await conn.execute(statement, ...))")
        return cst.Call(cst.Name(helper), args)

    def _rows(self, numbers, sequence: cst.BaseExpression) -> cst.ListComp:
        if isinstance(sequence, (cst.ListComp, cst.GeneratorExp)) and isinstance(sequence.elt, cst.Tuple) \
                and len(sequence.elt.elements) == len(numbers) and list(numbers) == list(range(1, len(numbers) + 1)) \
                and not any(isinstance(e, cst.StarredElement) for e in sequence.elt.elements):
            # rows written as a comprehension of tuples: the same comprehension, of binds
            return cst.ListComp(elt=_bind_dict([(f"p{n}", e.value) for n, e in zip(numbers, sequence.elt.elements)], None),
                                for_in=sequence.for_in)
        element = cst.Name("values")
        return cst.ListComp(
            elt=_bind_dict([(f"p{n}", cst.Subscript(element, [cst.SubscriptElement(cst.Index(cst.Integer(str(n - 1))))]))
                            for n in numbers], None),
            for_in=cst.CompFor(target=element, iter=sequence))

    def _cursor(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """`async for r in conn.cursor(SQL, a)` becomes iteration over a streamed result."""
        parent = self.get_metadata(ParentNodeProvider, original, None)
        positional = [a for a in original.args if a.keyword is None]
        keywords = {a.keyword.value: a for a in updated.args if a.keyword is not None}
        if not (isinstance(parent, cst.For) and parent.asynchronous is not None and parent.iter is original) or \
                set(keywords) - {"prefetch"} or not positional:
            self._mark_review(original, "cursor() used other than directly in `async for`",
                              "iterate `await conn.stream(text(SQL), binds)` instead")
            return updated
        new_values = [a for a in updated.args if a.keyword is None]
        try:
            statement, binds = self._statement(original, positional[0].value, new_values[0].value, values=new_values[1:])
        except Unsupported as reason:
            statement, binds = None, reason
        if not isinstance(binds, dict):  # SQL built at run time, or a statement text() cannot carry
            self._helper("driver_connection")
            self.record(original, "cursor() runs on the asyncpg connection under the engine's connection, as before: "
                                  f"{binds or 'the SQL is built at run time'}", Risk.REVIEW)
            driver = cst.Await(cst.Call(cst.Name("driver_connection"), [cst.Arg(updated.func.value)]),  # type: ignore[attr-defined]
                               lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
            return updated.with_changes(func=cst.Attribute(driver, cst.Name("cursor")))
        args = [cst.Arg(statement)]
        if binds:
            args.append(cst.Arg(_bind_dict([(binds[n], new_values[n].value) for n in sorted(binds)], None)))
        if "prefetch" in keywords:  # rows fetched per round trip, as cursor(prefetch=) did
            args.append(cst.Arg(cst.Dict([cst.DictElement(cst.SimpleString('"yield_per"'), keywords["prefetch"].value)]),
                                keyword=cst.Name("execution_options"), equal=_NO_SPACE_EQUAL))
        stream = cst.Await(cst.Call(cst.Attribute(updated.func.value, cst.Name("stream")), args))  # type: ignore[attr-defined]
        self._helper("stream_records")
        self.record(original, "cursor() iteration becomes stream_records(await conn.stream(text(...))): a server-side "
                              "cursor as before, rows as Records")
        return cst.Call(cst.Name("stream_records"), [cst.Arg(stream)])

    def module_code(self, node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    def _in_function_block(self, statement: cst.CSTNode) -> bool:
        parent = self.get_metadata(ParentNodeProvider, statement, None)
        return isinstance(parent, cst.IndentedBlock)

    def _free_connection_name(self, node: cst.CSTNode) -> str:
        scope = self.get_metadata(ScopeProvider, node, None)
        for name in ("conn", "connection", "db_conn", "sql_conn"):
            if scope is None or (name not in scope and not scope.accesses[name]):
                return name
        return "sql_connection"

    def _rewrite_query(self, call: cst.Call, new_call: cst.Call, method: str, connection: cst.BaseExpression) -> cst.BaseExpression:
        positional = [a for a in new_call.args if a.keyword is None]
        keywords = {a.keyword.value: a for a in new_call.args if a.keyword is not None}
        if method in COPY_METHODS:
            return self._through_driver(call, new_call, method, connection,
                                        f"{method}() runs on the asyncpg connection under the engine's connection "
                                        "(SQLAlchemy has no COPY API); same pool, same behaviour")
        allowed = {"column"} if method == "fetchval" else set()
        unknown = set(keywords) - allowed - {"query", "args"}
        if unknown == {"timeout"}:
            raise Unsupported("timeout= is asyncpg's own statement timeout (the statement is cancelled on the server "
                              "and the connection stays usable), which SQLAlchemy's execute() has no equivalent for")
        if unknown:
            raise Unsupported(f"{method}() with {', '.join(sorted(unknown))}= has no equivalent on "
                              "SQLAlchemy's execute()")
        if not positional and "query" not in keywords:
            raise Unsupported(f"{method}() without a statement")
        sql_arg = positional[0] if positional else keywords["query"]
        values = positional[1:]
        if any(v.star == "**" for v in values):
            raise Unsupported(f"{method}() with **arguments")
        original_sql_node = ([a for a in call.args if a.keyword is None] or [keywords.get("query")])[0].value

        if method == "execute" and not values:
            sql = self._static_sql(original_sql_node)
            if sql is None or self._statements(sql) > 1:
                return self._through_driver(call, new_call, method, connection,
                                            "execute() of a script runs on the asyncpg connection: several statements in "
                                            "one string need the simple query protocol, which prepared execution refuses")

        if method == "executemany":
            if len(values) != 1 or values[0].star:
                raise Unsupported("executemany() with other than one argument sequence")
            statement, binds = self._statement(call, original_sql_node, sql_arg.value, values=None)
            self._helper("execute_many")
            if binds is None:
                self.record(call, "executemany() of SQL built at run time becomes execute_many(conn, sql, rows): the "
                                  "$n SQL goes to the driver as written (exec_driver_sql), each row as a tuple; an "
                                  "empty sequence is still a no-op", Risk.REVIEW)
                rows: cst.BaseExpression = values[0].value
            else:
                self.record(call, "executemany() becomes execute_many(conn, text(...), [...]): one executemany on the "
                                  "driver, as before; an empty sequence is still a no-op",
                            Risk.SAFE if self._sure_connection(call.func.value) else Risk.REVIEW)
                rows = self._rows(sorted(binds), values[0].value)
            return cst.Await(cst.Call(cst.Name("execute_many"), [cst.Arg(connection), cst.Arg(statement), cst.Arg(rows)]))

        command = None
        if method == "execute" and not self._result_unused(call):
            # decided before the statement is converted: a status string the row count cannot give comes from the driver
            sql = self._static_sql(original_sql_node)
            command = _command_of(sql) if sql is not None else None
            if command is None:
                raise Unsupported("the status string of execute() is read, and it cannot be built from the row count "
                                  "(the statement is not one INSERT, UPDATE, DELETE or SELECT known ahead of time)")
        statement, binds = self._statement(call, original_sql_node, sql_arg.value, values=values)
        run = "execute"
        if binds is None:  # SQL built at run time: to the driver as written, $n placeholders and all
            run = "exec_driver_sql"
            new_values = [sql_arg.value]
            parameters = _parameter_tuple(values)
            if parameters is not None:
                new_values.append(parameters)
        elif any(v.star for v in values):
            self._helper("binds")
            new_values = [statement, cst.Call(cst.Name("binds"), [cst.Arg(v.value, star=v.star) for v in values])]
        else:
            new_values = [statement]
            if binds:
                new_values.append(_bind_dict([(binds[n], values[n - 1].value) for n in sorted(binds)],
                                             _indent_of(list(new_call.args))))
        executed = cst.Await(cst.Call(cst.Attribute(connection, cst.Name(run)), _laid_out(list(new_call.args), new_values),
                                      whitespace_before_args=new_call.whitespace_before_args))
        how = "conn.exec_driver_sql(sql, (...))" if binds is None else "conn.execute(text(...))"
        # safe: a statement proven unchanged, on a connection the model is sure of; anything else
        # (a pool-level call given a connection, SQL built at run time) is for review
        dynamic, risk = ("", Risk.SAFE if self._sure_connection(call.func.value) else Risk.REVIEW) \
            if binds is not None else (
            "; the SQL is built at run time, so it goes to the driver as written, $n placeholders and all, and "
            "cannot be proven ahead of time", Risk.REVIEW)

        if method in RESULT_HELPERS:
            helper = RESULT_HELPERS[method]
            self._helper(helper)
            args = [cst.Arg(executed)]
            if method == "fetchval" and "column" in keywords:
                args.append(cst.Arg(keywords["column"].value, keyword=cst.Name("column"), equal=_NO_SPACE_EQUAL))
            self.record(call, f"{method}() becomes {helper}(await {how}): rows keep asyncpg.Record's "
                              f"access rules (by name, by index, iteration over values){dynamic}", risk)
            return cst.Call(cst.Name(helper), args)
        # execute: keep the status string only where the code reads it
        if self._result_unused(call):
            self.record(call, f"execute() becomes {how}; its status string was not used{dynamic}", risk)
            return executed
        self._helper("command_status")
        self.record(call, f"execute() becomes command_status(await conn.execute(text(...)), \"{command}\"): the same "
                          f"\"{command} n\" string, built from the row count", risk)
        return cst.Call(cst.Name("command_status"), [cst.Arg(executed), cst.Arg(cst.SimpleString(f'"{command}"'))])

    def _through_driver(self, call, new_call, method, connection, description) -> cst.BaseExpression:
        self._helper("driver_connection")
        self.record(call, description, Risk.REVIEW)
        sql = call.args[0].value if call.args and call.args[0].keyword is None else None
        bound = self._bound_statement(sql) if isinstance(sql, cst.Name) else None
        if bound is not None:
            self._driver_literals.add(bound[1])
        driver = cst.Await(cst.Call(cst.Name("driver_connection"), [cst.Arg(connection)]),
                           lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
        return cst.Await(cst.Call(cst.Attribute(driver, cst.Name(method)), list(new_call.args),
                                  whitespace_before_args=new_call.whitespace_before_args))

    def _result_unused(self, call: cst.Call) -> bool:
        await_node = self.get_metadata(ParentNodeProvider, call, None)
        parent = self.get_metadata(ParentNodeProvider, await_node, None)
        return isinstance(parent, cst.Expr)

    def _statements(self, sql: str) -> int:
        try:
            return shape(sql).statements
        except SqlLexError:
            return 1

    # -- SQL ------------------------------------------------------------------------------
    def _static_sql(self, node: cst.BaseExpression) -> str | None:
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            return static_string(node)
        literal = self._constant_literal(node)
        return static_string(literal) if literal is not None else None

    def _constant_literal(self, node: cst.BaseExpression):
        bound = self._bound_statement(node)
        return bound[0] if bound is not None and self._editable[bound[1]] else None

    def _bound_statement(self, node: cst.BaseExpression):
        """(literal, key, uses) of a name bound once to a string literal: a module constant, or a
        local variable of the function whose calls use it; None for any other name."""
        if not isinstance(node, cst.Name):
            return None
        bound = bound_literal(self.get_metadata, node)
        if bound is None:
            return None
        literal, assignment = bound
        scope = assignment.scope
        if isinstance(scope, GlobalScope):
            if (self.plan.module_of(self.context.filename or ""), node.value) in self.plan.exported_names:
                return None  # other modules read it too
            key: tuple[int | None, str] = (None, node.value)
        elif isinstance(scope, FunctionScope) and isinstance(scope.node, cst.FunctionDef):
            key = (id(scope.node), node.value)
        else:
            return None
        if key not in self._editable:
            self._editable[key] = self._every_use_converts(literal, assignment)
        return literal, key, len(assignment.references)

    def _every_use_converts(self, literal, assignment) -> bool:
        """Whether every use of a SQL literal bound to a name is the statement of a call this
        codemod moves onto text(): only then can the literal be edited where it is defined.
        Otherwise each call sends it to the driver as written (exec_driver_sql)."""
        sql = static_string(literal)
        if sql is None or not assignment.references:
            return False
        try:
            numbers = shape(sql).numbers
            rewrite = to_named_binds(sql, {n: f"p{n}" for n in numbers})
            rewrite_literal(literal, rewrite)
        except (SqlLexError, RewriteRefused, LiteralRefused):
            return False
        if not prove(sql, rewrite.sql, rewrite.names).ok:
            return False
        local = not isinstance(assignment.scope, GlobalScope)
        for access in assignment.references:
            if local and self.get_metadata(ScopeProvider, access.node, None) is not assignment.scope:
                return False  # read in a nested function or comprehension
            arg = self.get_metadata(ParentNodeProvider, access.node, None)
            call = self.get_metadata(ParentNodeProvider, arg, None) if isinstance(arg, cst.Arg) else None
            if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value in QUERY_METHODS | {"prepare", "cursor"} and call.args[0] is arg
                    and arg.keyword is None):
                return False
            kind, resolution = self._kind(call.func.value)
            if kind not in (Kind.POOL, Kind.CONNECTION) or resolution.evidence.startswith("ambiguous annotation"):
                return False  # also used on a connection that stays on asyncpg
            if not self._converts(call, sql, numbers):
                return False
        return True

    def _converts(self, call: cst.Call, sql: str, numbers) -> bool:
        """Whether _rewrite_query() moves this call onto text() rather than the driver."""
        method = call.func.attr.value  # type: ignore[attr-defined]
        if method in ("prepare", "cursor"):
            return True
        if not isinstance(self.get_metadata(ParentNodeProvider, call, None), cst.Await):
            return False
        values = [a for a in call.args if a.keyword is None][1:]
        keywords = {a.keyword.value for a in call.args if a.keyword is not None}
        if keywords - ({"column"} if method == "fetchval" else set()) or any(v.star == "**" for v in values):
            return False
        if method == "executemany":
            return len(values) == 1 and not values[0].star
        if not any(v.star for v in values) and len(values) != len(numbers):
            return False
        if method == "execute":
            if not values and self._statements(sql) > 1:
                return False
            if not self._result_unused(call) and _command_of(sql) is None:
                return False
        return True

    def _statement(self, call: cst.Call, original_sql: cst.BaseExpression, sql_expr: cst.BaseExpression, values,
                   fixed_names: bool = False):
        """text(...) for the call, and {n: bind name}; None binds mean the SQL is dynamic."""
        sql = self._static_sql(original_sql)
        star = values is not None and any(v.star for v in values)
        if sql is None:
            return sql_expr, None
        if star:
            fixed_names = True  # arguments passed as *args: binds(*args) names them p1, p2, ...
        bound = self._bound_statement(original_sql) if isinstance(original_sql, cst.Name) else None
        constant = bound is not None
        # a module constant, or a local variable read by several calls, serves them all with one set of names
        shared = constant and (bound[1][0] is None or bound[2] > 1)
        try:
            numbers = shape(sql).numbers
        except SqlLexError:
            raise Unsupported("the statement does not lex as PostgreSQL SQL") from None
        if values is not None and not fixed_names and len(values) != len(numbers):
            raise Unsupported(f"{len(values)} arguments for {len(numbers)} placeholders")
        if shared or fixed_names:
            names = {n: f"p{n}" for n in numbers}
        else:
            names, seen = {}, set()
            for n in numbers:
                name = _bind_name(values[n - 1].value, n) if values is not None else f"p{n}"
                if name in seen:
                    name = f"{name}_{n}"
                names[n] = name
                seen.add(name)
        try:
            rewrite = to_named_binds(sql, names)
        except RewriteRefused as refused:
            raise Unsupported(f"the statement cannot be converted: {refused}") from None
        proof = prove(sql, rewrite.sql, rewrite.names)
        if not proof.ok:
            raise Unsupported(f"the converted statement does not compile back to the original: {proof.detail}")
        self.proven += 1
        AddImportsVisitor.add_needed_import(self.context, "sqlalchemy", "text")
        if constant:
            literal, key, _ = bound
            previous = self._constant_rewrites.get(key)
            if previous is not None and previous != rewrite.sql:
                raise Unsupported(f"{original_sql.value} is used with different placeholders")
            try:
                edit = rewrite_literal(literal, rewrite)
            except LiteralRefused as refused:
                raise Unsupported(f"the literal of {original_sql.value} cannot be edited in place: {refused}") from None
            if key[0] is None:
                self._constant_edits[original_sql.value] = edit
            else:
                self._local_edits.setdefault(key[0], {})[original_sql.value] = edit
            self._constant_rewrites[key] = rewrite.sql
            self._constant_lines[key] = (original_sql.value, self.line_of(literal))
            return cst.Call(cst.Name("text"), [cst.Arg(sql_expr)]), names
        try:
            new_literal = rewrite_literal(sql_expr, rewrite)  # type: ignore[arg-type]
        except LiteralRefused as refused:
            raise Unsupported(f"the SQL literal cannot be edited in place: {refused}") from None
        return cst.Call(cst.Name("text"), [cst.Arg(new_literal)]), names

    # -- statements: connection wrapping, review comments, constants ---------------------------
    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine):
        node: cst.BaseStatement = updated_node
        reason = self._review.get(id(original_node))
        if reason is not None:
            node = self._with_review_comment(updated_node, reason)
        wrap = self._wrap.get(id(original_node))
        if wrap is not None:
            source, name, how = wrap
            inner = node.with_changes(leading_lines=())
            opened = cst.Call(cst.Attribute(source, cst.Name("connect"))) if how == "connect" else \
                cst.Call(cst.Name(how), [cst.Arg(source)])
            return cst.With(
                asynchronous=cst.Asynchronous(),
                items=[cst.WithItem(opened, asname=cst.AsName(cst.Name(name)))],
                body=cst.IndentedBlock(body=[inner]),
                leading_lines=node.leading_lines,
            )
        return node

    def leave_With(self, original_node: cst.With, updated_node: cst.With) -> cst.With:
        return self._review_header(original_node, self._either_transactions(original_node, updated_node))

    def visit_With(self, node: cst.With) -> None:
        # receivers whose transaction() moves onto asyncpg_connection(): the calls in the block
        # use the connection it opens, by name
        opened = {}
        for item in node.items:
            call = item.item
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and \
                    call.func.attr.value == "transaction" and self._kind(call.func.value)[0] is Kind.EITHER:
                opened[self.module_code(call.func.value)] = self._free_connection_name(item)
        self._opened.append(opened)

    def _either_transactions(self, original: cst.With, updated: cst.With) -> cst.With:
        """`async with x.transaction():` where x may be a pool, a connection or something else:
        the transaction of the asyncpg connection under whatever x holds."""
        opened = self._opened.pop()
        items: list[cst.WithItem] = []
        changed = False
        for old, new in zip(original.items, updated.items):
            call = old.item
            if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and \
                    self.module_code(call.func.value) in opened and call.func.attr.value == "transaction":
                name = opened[self.module_code(call.func.value)]
                self._helper("asyncpg_connection")
                self.record(call, "transaction() on a receiver that may be a pool, a connection or another object "
                                  f"({self._kind(call.func.value)[1].evidence}) runs on the asyncpg connection under "
                                  "it: asyncpg_connection() opens it, its own transaction() as before", Risk.REVIEW)
                items.append(cst.WithItem(cst.Call(cst.Name("asyncpg_connection"), [cst.Arg(new.item.func.value)]),
                                          asname=cst.AsName(cst.Name(name)), comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))))
                items.append(new.with_changes(item=new.item.with_changes(func=new.item.func.with_changes(value=cst.Name(name)))))
                changed = True
            else:
                items.append(new)
        return updated.with_changes(items=items) if changed else updated

    def leave_For(self, original_node: cst.For, updated_node: cst.For) -> cst.For:
        return self._review_header(original_node, updated_node)

    def leave_If(self, original_node: cst.If, updated_node: cst.If) -> cst.If:
        return self._review_header(original_node, updated_node)

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.While:
        return self._review_header(original_node, updated_node)

    def _review_header(self, original, updated):
        """The review comment of a compound statement goes at the end of its header line."""
        reason = self._review.get(id(original))
        if reason is None:
            return updated
        if isinstance(updated.body, cst.SimpleStatementSuite):  # `if x: return await ...` on one line
            trailing = updated.body.trailing_whitespace
            if trailing.comment is not None and REVIEW_MARK in trailing.comment.value:
                return updated
            text = f"{REVIEW_MARK} {reason}" if trailing.comment is None else f"{trailing.comment.value}  {REVIEW_MARK} {reason}"
            return updated.with_changes(body=updated.body.with_changes(trailing_whitespace=trailing.with_changes(
                whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text))))
        if not isinstance(updated.body, cst.IndentedBlock):
            return updated
        header = updated.body.header
        if header.comment is not None and REVIEW_MARK in header.comment.value:
            return updated
        text = f"{REVIEW_MARK} {reason}" if header.comment is None else f"{header.comment.value}  {REVIEW_MARK} {reason}"
        header = header.with_changes(whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text))
        return updated.with_changes(body=updated.body.with_changes(header=header))

    def _with_review_comment(self, node: cst.SimpleStatementLine, reason: str) -> cst.SimpleStatementLine:
        comment = node.trailing_whitespace.comment
        if comment is not None and REVIEW_MARK in comment.value:
            return node
        text = f"{REVIEW_MARK} {reason}"
        if comment is not None:
            text = f"{comment.value}  {text}"
        return node.with_changes(trailing_whitespace=node.trailing_whitespace.with_changes(
            whitespace=cst.SimpleWhitespace("  "), comment=cst.Comment(text)))

    # -- annotations ------------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        module = self.plan.module_of(self.context.filename or "")
        callbacks = {c.function or c.name for c in self.plan.pool_callbacks if c.module == module}
        self._callbacks.append(node.name.value in callbacks)

    def leave_Annotation(self, original_node: cst.Annotation, updated_node: cst.Annotation) -> cst.Annotation:
        if any(self._callbacks):
            return updated_node  # a pool's init/setup callback gets the asyncpg connection under the engine's
        if self._span(original_node.annotation) in self.plan.asyncpg_annotations.get(self.relative_path(), ()):
            return updated_node  # only ever given a connection of its own (asyncpg.connect()): it stays
        named = self.resolver.annotation_kind(original_node.annotation)
        if named is not None and named.evidence.startswith("ambiguous annotation"):
            return updated_node  # the function keeps taking either; its calls are marked for review
        return updated_node.with_changes(annotation=self._retype(original_node.annotation, updated_node.annotation))

    def _retype(self, original: cst.BaseExpression, updated: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(original, (cst.Name, cst.Attribute)):
            names = qualified_names(self.get_metadata, original)
            for name in names:
                if name in ANNOTATIONS:
                    module, cls = ANNOTATIONS[name]
                    AddImportsVisitor.add_needed_import(self.context, module, cls)
                    self._drop_import_of(original)
                    return cst.Name(cls)
                if name in RECORD_ANNOTATIONS:
                    self._helper("Record")
                    self._drop_import_of(original)
                    return cst.Name("Record")
            return updated
        if isinstance(original, cst.Subscript) and isinstance(updated, cst.Subscript):
            elements = []
            for old, new in zip(original.slice, updated.slice):
                if isinstance(old.slice, cst.Index) and isinstance(new.slice, cst.Index):
                    new = new.with_changes(slice=new.slice.with_changes(value=self._retype(old.slice.value, new.slice.value)))
                elements.append(new)
            return updated.with_changes(slice=elements)
        if isinstance(original, cst.BinaryOperation) and isinstance(updated, cst.BinaryOperation):
            return updated.with_changes(left=self._retype(original.left, updated.left),
                                        right=self._retype(original.right, updated.right))
        return updated

    def _drop_import_of(self, annotation: cst.Name | cst.Attribute) -> None:
        # the same annotation (`asyncpg.Pool`) recurs in every signature of a repository;
        # finding its import once is enough, and each search costs a visitor of its own
        written = get_full_name_for_node(annotation)
        if written not in self._dropped:
            self._dropped.add(written)
            RemoveImportsVisitor.remove_unused_import_by_node(self.context, annotation)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self.changes:
            RemoveImportsVisitor.remove_unused_import(self.context, "asyncpg")
        return updated_node


_VERDICT_KINDS = {
    Verdict.POOL: Kind.POOL,
    Verdict.CONNECTION: Kind.CONNECTION,
    Verdict.MAYBE: Kind.EITHER,
    Verdict.ASYNCPG: Kind.UNKNOWN,  # a connection of its own: it stays on asyncpg
    Verdict.SQLALCHEMY: Kind.SA_CONNECTION,
    Verdict.NONE: Kind.UNKNOWN,
}


_MOVED = frozenset({Verdict.POOL, Verdict.CONNECTION, Verdict.MAYBE})
# asyncpg's pool introspection -> (raw-SQL helper on the engine's pool, what it reads)
_POOL_STATE = {
    "get_size": ("pool_size", "the connections the engine's pool holds open, in use or idle"),
    "get_idle_size": ("pool_idle_size", "the idle connections of the engine's pool"),
    "get_max_size": ("pool_max_size", "the most connections the engine's pool opens"),
    "is_closing": ("pool_is_closing", "whether the application closed it (its pool.close() becomes close_pool())"),
}


def _already_migrated(call: cst.Call) -> bool:
    """A call in the form this codemod writes (`text(...)`, `*numbered(...)`, the driver
    connection under an engine): on a second run it must stay as it is."""
    if m.findall(call.func, m.Call(func=m.Name("driver_connection") | m.Name("asyncpg_connection"))):
        return True
    first = call.args[0].value if call.args else None
    return isinstance(first, cst.Call) and m.matches(first.func, m.Name("text") | m.Name("numbered") | m.Name("binds"))


def _parameter_tuple(values: list[cst.Arg]) -> cst.BaseExpression | None:
    """The positional parameters of exec_driver_sql(): `(a, b)`, `tuple(args)` for `*args`."""
    if not values:
        return None
    if len(values) == 1 and values[0].star:
        return cst.Call(cst.Name("tuple"), [cst.Arg(values[0].value)])
    elements = [cst.StarredElement(v.value) if v.star else cst.Element(v.value) for v in values]
    if len(elements) == 1:
        elements[0] = elements[0].with_changes(comma=cst.Comma())
    return cst.Tuple(elements)


def _indent_of(args: list[cst.Arg]) -> str | None:
    """The indentation of a call's arguments when they stand one per line, else None."""
    for arg in args:
        if arg.comma is not cst.MaybeSentinel.DEFAULT and isinstance(arg.comma.whitespace_after, cst.ParenthesizedWhitespace):
            return arg.comma.whitespace_after.last_line.value
    return None


def _bind_dict(pairs: list[tuple[str, cst.BaseExpression]], indent: str | None) -> cst.Dict:
    """{"name": value, ...}: on one line, or one bind per line when the call was laid out that way."""
    if indent is None or len(pairs) < 3:
        return cst.Dict([cst.DictElement(cst.SimpleString(f'"{name}"'), value) for name, value in pairs])

    def line_break(depth: str) -> cst.ParenthesizedWhitespace:
        return cst.ParenthesizedWhitespace(first_line=cst.TrailingWhitespace(), empty_lines=(), indent=True,
                                           last_line=cst.SimpleWhitespace(depth))

    inner = indent + "    "
    elements = [cst.DictElement(cst.SimpleString(f'"{name}"'), value,
                                comma=cst.Comma(whitespace_after=line_break(inner if i < len(pairs) - 1 else indent)))
                for i, (name, value) in enumerate(pairs)]
    return cst.Dict(elements, lbrace=cst.LeftCurlyBrace(whitespace_after=line_break(inner)))


def _laid_out(original: list[cst.Arg], values: list[cst.BaseExpression]) -> list[cst.Arg]:
    """New arguments in the places (commas, line breaks) of the call's original ones."""
    args = []
    for index, value in enumerate(values):
        template = original[min(index, len(original) - 1)]
        args.append(cst.Arg(value=value, comma=template.comma, whitespace_after_arg=template.whitespace_after_arg))
    last = original[-1]
    args[-1] = args[-1].with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg)
    return args


class _OnEngine(cst.CSTTransformer):
    """`await <placeholder>.execute(args)` -> `await execute_on(pool, args)`."""

    def __init__(self, placeholder: str, pool: cst.BaseExpression) -> None:
        super().__init__()
        self.placeholder = placeholder
        self.pool = pool

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = updated_node.func
        if isinstance(func, cst.Attribute) and m.matches(func.value, m.Name(self.placeholder)) \
                and func.attr.value == "execute":
            return updated_node.with_changes(func=cst.Name("execute_on"),
                                             args=[cst.Arg(self.pool, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")))]
                                             + list(updated_node.args))
        return updated_node


class _ConstantEditor(cst.CSTTransformer):
    """Puts the rewritten literals into module-level `NAME = "..."` assignments."""

    def __init__(self, edits: dict[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.edits = edits

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if len(updated_node.targets) == 1 and isinstance(updated_node.targets[0].target, cst.Name):
            edit = self.edits.get(updated_node.targets[0].target.value)
            if edit is not None:
                return updated_node.with_changes(value=edit)
        return updated_node
