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

from unify.facts.receivers import qualified_names
from unify.rewrite.outcome import Risk
from unify.templates import render_engine_module

from ._base import CodemodInfo, UnifyCodemod

ENGINE_FACTORIES = {"sqlalchemy.ext.asyncio.create_async_engine", "sqlalchemy.ext.asyncio.engine.create_async_engine"}
POOL_FACTORIES = {"asyncpg.create_pool", "asyncpg.pool.create_pool"}
CONNECT = {"asyncpg.connect", "asyncpg.connection.connect"}
_CONNECT_WORD = re.compile(rb"\bconnect\b")


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

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        return b"create_async_engine" in source or b"create_pool" in source or b"asyncpg" in source

    @classmethod
    def wants_file(cls, rel: str, source: bytes, plan) -> bool:
        # past the pools and engines themselves, only asyncpg.connect() and the plan's notes on
        # this path concern this codemod; both can be told without parsing
        return cls.wants(source, plan) and (
            b"create_async_engine" in source or b"create_pool" in source or rel in plan.notes_by_path
            or _CONNECT_WORD.search(source) is not None)

    @classmethod
    def generated_files(cls, plan) -> dict[str, str]:
        return {plan.engine_path: (render_engine_module(plan), "the one module that creates the database engine")}

    def _is(self, node: cst.CSTNode, names: set[str]) -> bool:
        return not qualified_names(self.get_metadata, node).isdisjoint(names)

    def visit_Module(self, node: cst.Module) -> bool:
        if self.in_generated_file():
            return False  # the engine module itself
        replaced_targets = set()
        for statement in node.body:
            if m.matches(statement, m.SimpleStatementLine(body=[m.Assign(
                    targets=[m.AssignTarget(target=m.Name("engine"))], value=m.Call())])):
                assign = statement.body[0]
                if self._is(assign.value.func, ENGINE_FACTORIES):
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
        if self.plan.move_asyncpg_pools and isinstance(call, cst.Call) and self._is(call.func, POOL_FACTORIES):
            self.record(call, f"asyncpg.create_pool() becomes use_database_url() of {self.plan.engine_module}: the shared "
                              "engine's pool on the same URL, each statement committing on its own and raising asyncpg's "
                              "exceptions, as the pool did (its options moved to the engine module)")
            AddImportsVisitor.add_needed_import(self.context, self.plan.engine_module, "use_database_url")
            url = next((a for a in call.args if a.keyword is None), None) or next(
                (a for a in call.args if a.keyword is not None and a.keyword.value == "dsn"), None)
            for arg in call.args:
                if arg is not url:
                    RemoveImportsVisitor.remove_unused_import_by_node(self.context, arg.value)
            RemoveImportsVisitor.remove_unused_import(self.context, "asyncpg")
            updated_call = updated_node.expression
            new_url = next((a for a in updated_call.args if a.keyword is None), None) or next(
                (a for a in updated_call.args if a.keyword is not None and a.keyword.value == "dsn"), None)
            args = [cst.Arg(new_url.value)] if new_url is not None else []
            return updated_node.with_changes(expression=cst.Call(cst.Name("use_database_url"), args))
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        if self._is(original_node.func, ENGINE_FACTORIES):
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
                "run `unify migrate` with the repository codemod selected",
            )
        elif self._is(original_node.func, CONNECT):
            self.leave_alone(
                original_node,
                "a single asyncpg.connect() is left as it is: it is not pooled and often belongs to scripts",
                f"use `async with engine.connect()` from {self.plan.engine_module} if it serves requests",
            )
        return updated_node

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
        for item in self.plan.notes_by_path.get(self._relative_path(), []):
            self.left_alone.append(item)
        return updated_node

    def _relative_path(self) -> str:
        filename = (self.context.filename or "").replace("\\", "/")
        root = str(self.plan.root).replace("\\", "/").rstrip("/") + "/"
        return filename[len(root):] if filename.startswith(root) else filename
