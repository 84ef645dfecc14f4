"""Transactions on a connection the model is sure of: `async with conn.transaction():` becomes
`async with transaction(conn):` (BEGIN ... COMMIT as before, a savepoint when nested), and a
transaction driven by hand (`tr = conn.transaction(); await tr.start(); ...`) stays asyncpg's
own on the driver connection. Transactions on receivers that may be a pool or a connection
are in either.py.
"""

from __future__ import annotations

import libcst as cst
from libcst.metadata import ParentNodeProvider

from pgunify.rewrite.outcome import Risk

from .driver_names import DriverNames


class Transactions(DriverNames):
    """conn.transaction()."""

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
            self.record(original, "a transaction driven by hand (start(), commit(), rollback()) stays asyncpg's own, "
                                  "on the asyncpg connection under the engine's connection: BEGIN, COMMIT, ROLLBACK and "
                                  "savepoints as before", Risk.REVIEW)
            driver = self._driver_of(original, updated.func.value)  # type: ignore[attr-defined]
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
