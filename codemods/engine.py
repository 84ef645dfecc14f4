"""engine: one engine for the whole application, defined in one generated module.

Every `create_async_engine(...)` becomes a use of the shared engine (its options move into
the engine module), so the ORM session factory binds to the same pool as everything else.
asyncpg pools move onto the engine together with their call sites (the repository codemod):
the engine decodes json/jsonb and wraps driver errors, so a pool cannot move alone.
"""

from __future__ import annotations

import re


import libcst as cst
import libcst.matchers as m
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import ParentNodeProvider, ScopeProvider

from pgunify.facts.receivers import qualified_names
from pgunify.files import auxiliary
from pgunify.rewrite.outcome import Risk
from pgunify.rewrite.sources import engine_origins, kept_engine_reason
from pgunify.templates import render_engine_module

from ._base import CodemodInfo, UnifyCodemod

ENGINE_FACTORIES = {"sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.engine.create_async_engine"}
POOL_FACTORIES = {"asyncpg.create_pool", "asyncpg.pool.create_pool"}
CONNECT = {"asyncpg.connect", "asyncpg.connection.connect"}
_CONNECT_WORD = re.compile(rb"\bconnect\b")
# attributes of asyncpg.Pool that are not its API: an engine has none of them
POOL_PRIVATE = frozenset({
    "_queue", "_initsize", "_minsize", "_maxsize", "_connect_args", "_connect_kwargs", "_holders", "_initialized",
    "_initializing", "_closing", "_closed", "_connection_class", "_record_class", "_generation", "_max_queries",
    "_max_inactive_connection_lifetime", "_maintenance_task", "_working_addr", "_working_config", "_working_params",
})
_POOL_PRIVATE = re.compile(rb"\.(" + b"|".join(sorted(n.encode() for n in POOL_PRIVATE)) + rb")\b")


class EngineCodemod(UnifyCodemod):
    info = CodemodInfo(
        name="engine",
        summary="Replace every create_async_engine() with one shared engine generated into the application",
        risk=Risk.REVIEW,
        why="Two engines or pools to one server drift apart in URL, size and settings; one engine cannot.",
    )
    METADATA_DEPENDENCIES = UnifyCodemod.METADATA_DEPENDENCIES + (ScopeProvider, ParentNodeProvider)

    def __init__(self, context, plan) -> None:
        super().__init__(context, plan)
        self._engine_name = "engine"
        self._statements_to_remove: set[int] = set()
        self._kept: dict[int, str] = {}  # line (in this tree) of a create_async_engine() that stays -> why
        self._pool_names: set[str] = set()
        self._names: list[str] = []  # the classes and functions around the node visited
        self._removed: set[int] = set()

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        return b"create_async_engine" in source or b"create_pool" in source or b"asyncpg" in source or (
            plan.move_asyncpg_pools and _POOL_PRIVATE.search(source) is not None)

    @classmethod
    def wants_file(cls, rel: str, source: bytes, plan) -> bool:
        # past the pools and engines themselves, only asyncpg.connect() and the plan's notes on
        # this path concern this codemod; both can be told without parsing
        if plan.move_asyncpg_pools and _POOL_PRIVATE.search(source):
            return True  # a pool's private attributes, wherever the pool is used
        return cls.wants(source, plan) and (
            b"create_async_engine" in source or b"create_pool" in source or rel in plan.notes_by_path
            or _CONNECT_WORD.search(source) is not None)

    @classmethod
    def generated_files(cls, plan) -> dict[str, str]:
        if not (plan.asyncpg_pools or plan.sqlalchemy_engines):
            return {}  # nothing of the application's moves onto an engine: no module for it
        return {plan.engine_path: (render_engine_module(plan), "the one module that creates the database engine")}

    def _is(self, node: cst.CSTNode, names: set[str]) -> bool:
        return not qualified_names(self.get_metadata, node).isdisjoint(names)

    def visit_Module(self, node: cst.Module) -> bool:
        if self.in_generated_file():
            return False  # the engine module itself
        if "create_async_engine" in node.code:
            # engines on a URL a caller chose, or on another database system, stay as they are
            self._kept = {line: kept_engine_reason(origin) for line, origin in engine_origins(node.code).items()
                          if origin.kind != "config"}
        self._pool_names = {"pool", "_pool"} | {
            f.target.rsplit(".", 1)[-1] for f in self.plan.asyncpg_pools if f.target}
        replaced_targets = set()
        for statement in node.body:
            if m.matches(statement, m.SimpleStatementLine(body=[m.Assign(
                    targets=[m.AssignTarget(target=m.Name("engine"))], value=m.Call())])):
                assign = statement.body[0]
                if self._is(assign.value.func, ENGINE_FACTORIES) and self.tree_line(assign.value) not in self._kept:
                    self._statements_to_remove.add(id(statement))
                    replaced_targets.add(id(assign.targets[0].target))
        scope = self.get_metadata(ScopeProvider, node, None)
        if scope is not None and any(id(a.node) not in replaced_targets for a in scope.assignments["engine"]):
            # `engine` already names something else here: import the shared one under another name
            self._engine_name = "shared_engine"
            self._statements_to_remove.clear()
        return True

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine):
        # `engine = create_async_engine(...)` at module level: the import provides `engine` now
        if id(original_node) in self._statements_to_remove:
            return cst.RemoveFromParent()
        return updated_node

    def leave_Await(self, original_node: cst.Await, updated_node: cst.Await) -> cst.BaseExpression:
        call = original_node.expression
        if self.plan.move_asyncpg_pools and isinstance(call, cst.Call) and self._is(call.func, POOL_FACTORIES) \
                and auxiliary(self.relative_path()):
            self.leave_alone(call, "a pool this test, script or tool creates for itself stays on asyncpg, with the "
                                   "calls made on it; the application's own pools move onto the engine")
        elif self.plan.move_asyncpg_pools and isinstance(call, cst.Call) and self._is(call.func, POOL_FACTORIES):
            splat = any(a.star == "**" for a in call.args)
            self.record(call, f"asyncpg.create_pool() becomes use_database_url() of {self.plan.engine_module}: the shared "
                              "engine's pool on the same URL, each statement committing on its own and raising asyncpg's "
                              "exceptions, as the pool did (" + (
                                  "the ** options go to use_database_url() as they are: the server, and "
                                  "asyncpg.connect() keywords for every connection of the engine; pool sizes are the "
                                  "engine module's" if splat else "its options moved to the engine module") + ")")
            AddImportsVisitor.add_needed_import(self.context, self.plan.engine_module, "use_database_url")
            handed = {c.keyword for c in self.plan.pool_callbacks  # (lines may have moved: by file)
                      if c.handed_over and c.origin.rsplit(":", 1)[0] == self.relative_path()}
            kept = [i for i, a in enumerate(call.args)
                    if _server_argument(a) or (a.keyword is not None and a.keyword.value in handed)]
            for index, arg in enumerate(call.args):
                if index not in kept:
                    RemoveImportsVisitor.remove_unused_import_by_node(self.context, arg.value)
            RemoveImportsVisitor.remove_unused_import(self.context, "asyncpg")
            updated_call = updated_node.expression
            args = []
            for index in kept:  # the URL, or the server in pieces (host=, user=, ...; **settings)
                arg = updated_call.args[index]
                if arg.keyword is not None and arg.keyword.value == "dsn" and len(kept) == 1:
                    arg = cst.Arg(arg.value)
                args.append(arg)
            if args:  # laid out as the call was: its last argument's comma and line break close it
                last = updated_call.args[-1]
                args[-1] = args[-1].with_changes(comma=last.comma, whitespace_after_arg=last.whitespace_after_arg)
            return updated_node.with_changes(expression=cst.Call(
                cst.Name("use_database_url"), args, whitespace_before_args=updated_call.whitespace_before_args))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self._is(original_node.func, ENGINE_FACTORIES):
            reason = self._kept.get(self.tree_line(original_node))
            if reason is not None:
                self.leave_alone(original_node, f"create_async_engine() stays: {reason}",
                                 "nothing to do if this engine is meant to be separate from the shared one")
                return updated_node
            return self._replace_engine(original_node)
        if self._is(original_node.func, POOL_FACTORIES) and self.plan.move_asyncpg_pools:
            parent = self.get_metadata(ParentNodeProvider, original_node, None)
            if not isinstance(parent, cst.Await):
                self.leave_alone(original_node, "asyncpg.create_pool() not awaited directly (async with, or passed on)",
                                 f"use repository_engine from {self.plan.engine_module} in its place")
        elif self._is(original_node.func, POOL_FACTORIES) and not self.plan.move_asyncpg_pools:
            self.leave_alone(
                original_node,
                "asyncpg.create_pool() stays until its call sites move: the shared engine decodes json/jsonb and "
                "wraps driver errors, so the pool and the queries that use it have to change together",
                "run `pgunify migrate` with the repository codemod selected",
            )
        elif self._is(original_node.func, CONNECT):
            self.leave_alone(
                original_node,
                "a single asyncpg.connect() is left as it is: it is not pooled and often belongs to scripts",
                f"use `async with engine.connect()` from {self.plan.engine_module} if it serves requests",
            )
        return updated_node

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._names.append(node.name.value)

    def leave_ClassDef(self, original_node: cst.ClassDef, updated_node: cst.ClassDef) -> cst.ClassDef:
        self._names.pop()
        return updated_node

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._names.append(node.name.value)

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef):
        """A callback defined beside the pool whose body moved into the engine module goes
        away with the pool, unless something else still calls it."""
        self._names.pop()
        if not self.plan.move_asyncpg_pools:
            return updated_node
        # found by the function it stands in: earlier codemods may have moved its line
        where = ".".join(self._names)
        moved = next((c for c in self.plan.pool_callbacks if c.code and c.defined_in == where
                      and c.name == original_node.name.value and c.origin.rsplit(":", 1)[0] == self.relative_path()),
                     None)
        if moved is None:
            return updated_node
        scope = self.get_metadata(ScopeProvider, original_node, None)
        if scope is None:
            return updated_node
        others = [access for access in scope.accesses[moved.name] if not self._is_callback_argument(access.node)]
        if others:
            return updated_node
        self.record(original_node, f"{moved.name}() moved into {self.plan.engine_module}, which runs it on every "
                                   f"{'new' if moved.keyword == 'init' else 'checked-out'} connection as "
                                   f"create_pool({moved.keyword}=...) did")
        RemoveImportsVisitor.remove_unused_import_by_node(self.context, original_node)
        self._removed.add(id(original_node))
        return cst.RemoveFromParent()

    def leave_IndentedBlock(self, original_node: cst.IndentedBlock, updated_node: cst.IndentedBlock):
        # the statement after a removed def opened the block: no blank line before it now
        if original_node.body and id(original_node.body[0]) in self._removed and updated_node.body:
            first = updated_node.body[0]
            return updated_node.with_changes(body=(first.with_changes(leading_lines=()), *updated_node.body[1:]))
        return updated_node

    def _is_callback_argument(self, node: cst.CSTNode) -> bool:
        arg = self.get_metadata(ParentNodeProvider, node, None)
        if not isinstance(arg, cst.Arg) or arg.keyword is None or arg.keyword.value not in ("init", "setup"):
            return False
        call = self.get_metadata(ParentNodeProvider, arg, None)
        return isinstance(call, cst.Call) and self._is(call.func, POOL_FACTORIES)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if not self.plan.move_asyncpg_pools or node.attr.value not in POOL_PRIVATE:
            return
        receiver = node.value
        name = receiver.attr.value if isinstance(receiver, cst.Attribute) else (
            receiver.value if isinstance(receiver, cst.Name) else None)
        if name in self._pool_names:
            self.leave_alone(
                node, f"{node.attr.value} is a private attribute of asyncpg's pool; the engine that replaces the "
                      "pool has no such attribute",
                "read the setting from the engine's pool instead (engine.pool.size(), engine.pool.checkedout()) "
                "or from the configuration", manual=True)

    def _replace_engine(self, call: cst.Call) -> cst.BaseExpression:
        options = [a.keyword.value for a in call.args if a.keyword is not None]
        moved = f" (options {', '.join(options)} moved there)" if options else ""
        self.record(call, f"create_async_engine() replaced by the shared engine of {self.plan.engine_module}{moved}")
        AddImportsVisitor.add_needed_import(
            self.context, self.plan.engine_module, "engine",
            asname=None if self._engine_name == "engine" else self._engine_name,
        )
        RemoveImportsVisitor.remove_unused_import(self.context, "sqlalchemy.ext.asyncio", "create_async_engine")
        for arg in call.args:  # imports only the old call used may become unused
            RemoveImportsVisitor.remove_unused_import_by_node(self.context, arg.value)
        return cst.Name(self._engine_name)

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        for item in self.plan.notes_by_path.get(self.relative_path(), []):
            self.left_alone.append(item)
        return updated_node



_SERVER_KEYWORDS = frozenset({"dsn", "host", "port", "user", "password", "database"})


def _server_argument(arg: cst.Arg) -> bool:
    """Whether a create_pool() argument says which server: the URL, a piece of it, or a
    `**settings` mapping that may hold them (use_database_url() takes the same names)."""
    if arg.star == "**":
        return True
    if arg.keyword is None:
        return arg.star == "" and True
    return arg.keyword.value in _SERVER_KEYWORDS
