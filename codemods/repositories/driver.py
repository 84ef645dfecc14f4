"""The driver fallbacks: what stays asyncpg's own call, made on the asyncpg connection under
the engine's connection (`raw.method(...)` after `raw = await driver_connection(conn)`), with the reason in
the change. `copy_*` (SQLAlchemy has no COPY API), asyncpg-only methods (`fetchmany`,
`set_type_codec`, `get_server_pid`, ...), statements `text()` cannot carry, and calls not
awaited where they are made (`on_driver(x).fetch(...)`).
"""

from __future__ import annotations

import libcst as cst

from pgunify.facts.api import DRIVER_AWAITED
from pgunify.facts.receivers import Kind
from pgunify.rewrite.outcome import Risk

from .base import already_migrated
from .driver_names import DriverNames
from .sql import SqlText


_CORE_CONSTRUCTS = frozenset({"select", "insert", "update", "delete", "text", "values", "where", "returning",
                              "order_by", "limit", "union", "union_all"})


def _sqlalchemy_statement(call: cst.Call) -> bool:
    """Whether the call's first argument is a SQLAlchemy statement being built
    (`t.update().where(...)`, `select(...)`): asyncpg takes SQL text only."""
    first = call.args[0].value if call.args and call.args[0].keyword is None else None
    if not isinstance(first, cst.Call):
        return False
    func = first.func
    name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
    return name in _CORE_CONSTRUCTS


class Driver(SqlText, DriverNames):
    """Calls that stay asyncpg's, on the driver connection under the engine's."""

    def _not_awaited(self, original_node: cst.Call, updated_node: cst.Call, method: str) -> cst.BaseExpression:
        """A query, copy or prepare() call not awaited where it is made (passed to gather(),
        wait_for(), stored)."""
        if not self._in_async_function(original_node) or _sqlalchemy_statement(original_node):
            # asyncpg's API is coroutines: a call neither awaited nor in async code is some
            # synchronous API of the same name (SQLAlchemy's own `conn.execute(table.update())`)
            return updated_node
        kind, resolution = self._kind(original_node.func.value)  # type: ignore[attr-defined]
        if kind in (Kind.POOL, Kind.CONNECTION, Kind.EITHER) and not already_migrated(original_node):
            return self._on_driver(original_node, updated_node, method,
                                   f"{method}() is not awaited where it is called (passed to gather(), wait_for(), "
                                   "stored)")
        # a prepared statement's call not awaited in place keeps the whole statement asyncpg's,
        # on the driver connection (prepared.py): it stays as it is
        return updated_node

    def _driver_method(self, original_node: cst.Call, updated_node: cst.Call, method: str) -> cst.BaseExpression:
        """asyncpg's connection methods SQLAlchemy's connection lacks (pgunify.facts.api's
        DRIVER_PLAIN and DRIVER_AWAITED), on a connection in an async function."""
        if not (self._kind(original_node.func.value)[0] is Kind.CONNECTION  # type: ignore[attr-defined]
                and self._in_async_function(original_node)):
            return updated_node
        if method in DRIVER_AWAITED and not self._awaited(original_node):
            return updated_node  # not awaited in place: left for the closure check to list
        self.record(original_node, f"{method}() runs on the asyncpg connection under the engine's connection: "
                                   "SQLAlchemy's connection has no such method", Risk.REVIEW)
        driver = self._driver_of(original_node, updated_node.func.value)  # type: ignore[attr-defined]
        return updated_node.with_changes(func=updated_node.func.with_changes(value=driver))  # type: ignore[attr-defined]

    def _copy(self, call: cst.Call, new_call: cst.Call, method: str, connection: cst.BaseExpression) -> cst.BaseExpression:
        """copy_records_to_table(), copy_to_table(), copy_from_table(), copy_from_query()."""
        return self._through_driver(call, new_call, method, connection,
                                    f"{method}() runs on the asyncpg connection under the engine's connection "
                                    "(SQLAlchemy has no COPY API); same pool, same behaviour")

    def _through_driver(self, call, new_call, method, connection, description) -> cst.BaseExpression:
        """`await conn.method(...)` -> `await raw.method(...)`, `raw` the driver connection
        (driver_names.py)."""
        self.record(call, description, Risk.REVIEW)
        sql = call.args[0].value if call.args and call.args[0].keyword is None else None
        bound = self._bound_statement(sql) if isinstance(sql, cst.Name) else None
        if bound is not None:
            self._driver_literals.add(bound[1])
        return cst.Await(cst.Call(cst.Attribute(self._driver_of(call, connection), cst.Name(method)), list(new_call.args),
                                  whitespace_before_args=new_call.whitespace_before_args))

    def _on_driver(self, call: cst.Call, updated: cst.Call, method: str, why: str) -> cst.Call:
        """`x.fetch(...)` -> `on_driver(x).fetch(...)`: the same asyncpg call, made when the
        coroutine runs, on the asyncpg connection under whatever x is now."""
        self._helper("on_driver")
        self.record(call, f"{why}: on_driver() makes the same asyncpg call, when it runs, on the asyncpg connection "
                          "under the engine's connection", Risk.REVIEW)
        return updated.with_changes(func=updated.func.with_changes(  # type: ignore[attr-defined]
            value=cst.Call(cst.Name("on_driver"), [cst.Arg(updated.func.value)])))  # type: ignore[attr-defined]
