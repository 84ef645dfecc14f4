"""The pool itself: `pool.acquire()` becomes `engine.connect()` (with `timeout=`, `connect(engine,
timeout=)`; kept for LISTEN/NOTIFY, `dedicated_connection(engine)`), `pool.release(conn)`
becomes `conn.close()`, `pool.close()` becomes `engine.dispose()` (or `close_pool(engine)` when
the application asks `is_closing()`), and the pool's introspection (`get_size()`, ...) reads
the engine's pool through the raw-SQL helpers.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import ScopeProvider

from pgunify.facts.receivers import Kind
from pgunify.rewrite.outcome import Risk

from .base import RepositoryPass

# asyncpg's pool introspection -> (raw-SQL helper on the engine's pool, what it reads)
POOL_STATE = {
    "get_size": ("pool_size", "the connections the engine's pool holds open, in use or idle"),
    "get_idle_size": ("pool_idle_size", "the idle connections of the engine's pool"),
    "get_max_size": ("pool_max_size", "the most connections the engine's pool opens"),
    "is_closing": ("pool_is_closing", "whether the application closed it (its pool.close() becomes close_pool())"),
}


class Pool(RepositoryPass):
    """acquire(), release(), close() and the state of a pool the model is sure of."""

    def _pool_state(self, original_node: cst.Call, updated_node: cst.Call, method: str) -> cst.BaseExpression:
        """pool.get_size(), get_idle_size(), get_max_size(), is_closing()."""
        if original_node.args:
            return updated_node
        kind, _ = self._kind(original_node.func.value)  # type: ignore[attr-defined]
        if kind is Kind.POOL:
            helper, meaning = POOL_STATE[method]
            self._helper(helper)
            self.record(original_node, f"pool.{method}() becomes {helper}(engine): {meaning}")
            return cst.Call(cst.Name(helper), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
        return updated_node

    def _pool_call(self, original_node: cst.Call, updated_node: cst.Call, method: str) -> cst.BaseExpression:
        """acquire(), release() or close() on a pool."""
        func = original_node.func
        if method == "acquire" and self._dedicated(func.value) and not original_node.args:
            self._helper("dedicated_connection")
            self.record(original_node, "pool.acquire() for a connection that keeps listeners (LISTEN/NOTIFY) becomes "
                                       "dedicated_connection(engine): asyncpg's own connection, opened by the engine and "
                                       "held outside its pool, so the calls on it stay asyncpg's", Risk.REVIEW)
            return cst.Call(cst.Name("dedicated_connection"), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
        if method == "acquire":
            if original_node.args:
                return self._acquire_within(original_node, updated_node)
            self.record(original_node, "pool.acquire() becomes engine.connect(): a pooled connection of the shared engine")
            return updated_node.with_changes(func=updated_node.func.with_changes(attr=cst.Name("connect")))
        if method == "release" and len(original_node.args) == 1:
            self.record(original_node, "pool.release(conn) becomes conn.close(), which returns it to the pool")
            return cst.Call(func=cst.Attribute(value=updated_node.args[0].value, attr=cst.Name("close")))
        if method == "close" and self.plan.tracks_closing:
            self._helper("close_pool")
            self.record(original_node, "pool.close() becomes close_pool(engine): engine.dispose(), noted for "
                                       "pool_is_closing(), which the application asks elsewhere")
            return cst.Call(cst.Name("close_pool"), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]
        if method == "close":
            self.record(original_node, "pool.close() becomes engine.dispose()")
            return updated_node.with_changes(func=updated_node.func.with_changes(attr=cst.Name("dispose")), args=())
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
