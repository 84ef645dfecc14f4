"""Receivers that may be a pool, a connection or another object (a parameter annotated
`asyncpg.Pool | asyncpg.Connection`, a value the model found both ways): callers may now pass
an engine or still an asyncpg connection, so the calls run on the asyncpg connection under
whatever the receiver holds, opened by `asyncpg_connection(x)`, and stay asyncpg's.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import ParentNodeProvider

from pgunify.facts.receivers import Kind
from pgunify.rewrite.outcome import Risk

from .driver import Driver


class Either(Driver):
    """Awaited calls, acquire() and transaction() blocks on a receiver that may be either."""

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

    def _either_acquire(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        """`async with x.acquire() as conn:` -> `async with asyncpg_connection(x) as conn:`."""
        if not isinstance(self.get_metadata(ParentNodeProvider, original_node, None), cst.WithItem):
            return updated_node
        func = original_node.func
        self._helper("asyncpg_connection")
        self.record(original_node, f"acquire() on a receiver that may be a pool or a connection ({self._kind(func.value)[1].evidence}) "
                                   "becomes asyncpg_connection(): the asyncpg connection under whatever it holds, "
                                   "so the calls on it stay asyncpg's", Risk.REVIEW)
        return cst.Call(cst.Name("asyncpg_connection"), [cst.Arg(updated_node.func.value)])  # type: ignore[attr-defined]

    def _open_either_transactions(self, node: cst.With) -> None:
        """Before a `with` block: the receivers whose transaction() moves onto
        asyncpg_connection(); the calls in the block use the connection it opens, by name."""
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

