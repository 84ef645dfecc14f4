"""The repositories codemod: one registered codemod, one visit of each file, composed of the
passes of this package. The libcst hooks below only say which pass handles what; each pass
keeps its own rewrites, descriptions and risk tiers.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import RemoveImportsVisitor
from libcst.metadata import ParentNodeProvider, ScopeProvider

from pgunify.facts.api import DRIVER_AWAITED, DRIVER_PLAIN
from pgunify.facts.receivers import Kind, ReceiverResolver, collect_class_attributes
from pgunify.rewrite.outcome import Risk
from pgunify.templates import render_raw_sql_module

from .._base import CodemodInfo, UnifyCodemod
from .annotations import Annotations
from .base import COPY_METHODS, MOVED, QUERY_METHODS, RESULT_HELPERS
from .either import Either
from .pool import POOL_STATE, Pool
from .prepared import Prepared
from .queries import Queries
from .records import RecordChecks
from .review import Review
from .transactions import Transactions


class RepositoryCodemod(Queries, Prepared, Either, Pool, Transactions, Annotations, RecordChecks, Review):
    """Every asyncpg call of the application's repositories onto Core on the shared engine.

    One codemod composed of passes (each a mixin of base.RepositoryPass, one module each):
    queries (fetch, fetchrow, fetchval, execute, executemany), sql (text() and its proof),
    driver (fallbacks onto the asyncpg connection, copy_*), driver_names (the driver
    connection bound to a name before its statement), prepared (prepare(), cursor()),
    either (receivers that may be a pool or a connection), pool (acquire, release, close, pool
    state), transactions, annotations, records (isinstance() against asyncpg.Record), review
    (the `# pgunify: review` comments). They share
    one visit and one state, because a statement's rewrite decides how its line is wrapped and
    how a SQL constant defined elsewhere is edited.
    """

    info = CodemodInfo(
        name="repositories",
        summary="Move every asyncpg call onto SQLAlchemy Core text() on the shared engine, each statement proven unchanged",
        risk=Risk.REVIEW,
        why="One engine for the whole application means the raw-SQL repositories must run on it too, with the same results.",
        moves_asyncpg_pools=True,
        needs_pools_moved=True,
    )
    METADATA_DEPENDENCIES = UnifyCodemod.METADATA_DEPENDENCIES + (ScopeProvider, ParentNodeProvider)

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
            judged.verdict in MOVED for judged in plan.receivers.get(rel, {}).values())

    @classmethod
    def generated_files(cls, plan) -> dict[str, str]:
        if not plan.raw_sql_path:
            return {}
        return {plan.raw_sql_path: (render_raw_sql_module(plan), "helpers that keep asyncpg's results, status strings "
                                                                  "and transactions for the raw-SQL repositories")}

    def transform_module_impl(self, tree: cst.Module) -> cst.Module:
        if self.in_generated_file():
            return tree
        collector = collect_class_attributes(tree)
        self.resolver = ReceiverResolver(self.get_metadata, collector.attributes, collector.imports_asyncpg,
                                         dict(self.plan.returns))
        self._imports_asyncpg = collector.imports_asyncpg
        tree = super().transform_module_impl(tree)
        tree = self._edit_constants(tree)  # sql.py
        return self._widen_record_checks(tree)  # records.py

    # -- calls not awaited in place: the driver, the pool, transactions, cursors ----------------
    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        func = original_node.func
        if isinstance(func, cst.Name) and func.value == "isinstance":
            self._note_record_check(original_node)  # records.py
            return updated_node
        if not isinstance(func, cst.Attribute):
            return updated_node
        method = func.attr.value
        if method in QUERY_METHODS | COPY_METHODS | {"prepare"} and not self._awaited(original_node):
            return self._not_awaited(original_node, updated_node, method)  # driver.py
        if method in DRIVER_PLAIN | DRIVER_AWAITED:
            return self._driver_method(original_node, updated_node, method)  # driver.py
        if method in POOL_STATE:
            return self._pool_state(original_node, updated_node, method)  # pool.py
        if method not in ("acquire", "release", "close", "transaction", "cursor"):
            return updated_node
        kind, _ = self._kind(func.value)
        if kind is Kind.CONNECTION and method == "cursor":
            return self._cursor(original_node, updated_node)  # prepared.py
        if kind is Kind.EITHER and method == "acquire":
            return self._either_acquire(original_node, updated_node)  # either.py
        if kind is Kind.POOL:
            return self._pool_call(original_node, updated_node, method)  # pool.py
        if kind is Kind.CONNECTION and method == "transaction":
            return self._transaction(original_node, updated_node)  # transactions.py
        return updated_node

    # -- awaited calls: the statements -----------------------------------------------------------
    def leave_Await(self, original_node: cst.Await, updated_node: cst.Await) -> cst.BaseExpression:
        call = original_node.expression
        if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)):
            return updated_node
        method = call.func.attr.value
        if method not in QUERY_METHODS | COPY_METHODS | {"prepare"}:
            return updated_node
        kind, resolution = self._kind(call.func.value)
        if method == "prepare" and kind is Kind.CONNECTION:
            return self._prepare(original_node, call, updated_node)  # prepared.py
        if kind is Kind.PREPARED and method in RESULT_HELPERS.keys() | {"executemany"}:
            return self._run_prepared(original_node, call, updated_node, method)  # prepared.py
        if kind is Kind.EITHER:
            return self._either(original_node, call, updated_node, method, resolution)  # either.py
        if kind is Kind.CURSOR and self._in_async_function(original_node):
            return updated_node  # a cursor bound to a name is asyncpg's own now (see _cursor)
        if kind is Kind.PREPARED:
            return updated_node  # a statement used this way stayed asyncpg's, with all its calls (prepared.py)
        if kind is Kind.CURSOR:
            self._prepared_elsewhere(call, method)  # prepared.py
            return updated_node
        if kind not in (Kind.POOL, Kind.CONNECTION):
            return updated_node
        return self._query(original_node, call, updated_node, method, kind)  # queries.py

    # -- statements: review comments, connections opened around them -----------------------------
    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine):
        node: cst.BaseStatement = updated_node
        reason = self._review.get(id(original_node))
        if reason is not None:
            node = self._with_review_comment(updated_node, reason)  # review.py
        wrap = self._wrap.get(id(original_node))
        if wrap is not None:
            # the driver connection is bound inside the connection opened for the statement
            self._forget_driver_names(original_node)  # driver_names.py
            return self._open_connection(self._driver_bindings_of(original_node, node), wrap)  # queries.py
        return self._with_driver_bindings(original_node, node)  # driver_names.py

    def visit_With(self, node: cst.With) -> None:
        self._open_either_transactions(node)  # either.py

    def leave_With(self, original_node: cst.With, updated_node: cst.With):
        updated = self._review_header(original_node, self._either_transactions(original_node, updated_node))
        return self._with_driver_bindings(original_node, updated)

    def leave_For(self, original_node: cst.For, updated_node: cst.For):
        return self._with_driver_bindings(original_node, self._review_header(original_node, updated_node))

    def leave_If(self, original_node: cst.If, updated_node: cst.If):
        return self._with_driver_bindings(original_node, self._review_header(original_node, updated_node))

    def leave_While(self, original_node: cst.While, updated_node: cst.While) -> cst.While:
        return self._review_header(original_node, updated_node)

    # -- functions, annotations, the module -------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._enter_function(node)  # annotations.py

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        self._leave_function()  # annotations.py
        return self._edit_locals(original_node, updated_node)  # sql.py

    def leave_Annotation(self, original_node: cst.Annotation, updated_node: cst.Annotation) -> cst.Annotation:
        return self._annotation(original_node, updated_node)  # annotations.py

    def leave_Module(self, original_node: cst.Module, updated_node: cst.Module) -> cst.Module:
        if self.changes:
            RemoveImportsVisitor.remove_unused_import(self.context, "asyncpg")
        return updated_node
