"""Prepared statements and cursors. `stmt = await conn.prepare(SQL)` becomes `stmt = text(SQL)`
(SQLAlchemy's asyncpg dialect prepares and caches statements per connection by itself) and
the statement's calls run it on the connection it was prepared on; `async for r in
conn.cursor(SQL, ...)` iterates `stream_records(await conn.stream(text(SQL), ...))`. Whatever
text() cannot carry stays an asyncpg prepared statement or cursor on the driver connection.
These are the receivers this codemod still resolves by itself: the model leaves them open.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.metadata import ParentNodeProvider, ScopeProvider

from pgunify.rewrite.outcome import Risk
from pgunify.sql.lexing import SqlLexError, shape

from .base import RESULT_HELPERS, Unsupported
from .binds import NO_SPACE_EQUAL, bind_dict, bind_rows, indent_of, laid_out
from .driver import Driver


class Prepared(Driver):
    """prepare(), the calls of a prepared statement, cursor()."""

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
                                                                 cst.Arg(bind_rows(numbers, values[0].value))]))
        if len(values) != len(numbers):
            self._mark_review(call, f"{len(values)} arguments for {len(numbers)} placeholders")
            return updated
        new_values: list[cst.BaseExpression] = [statement]
        if numbers:
            new_values.append(bind_dict([(f"p{n}", values[n - 1].value) for n in numbers], indent_of(list(new_call.args))))
        executed = cst.Await(cst.Call(cst.Attribute(connection, cst.Name("execute")),
                                      laid_out(list(new_call.args) or [cst.Arg(statement)], new_values)))
        helper = RESULT_HELPERS[method]
        self._helper(helper)
        args = [cst.Arg(executed)]
        if "column" in keywords:
            args.append(cst.Arg(keywords["column"].value, keyword=cst.Name("column"), equal=NO_SPACE_EQUAL))
        self.record(call, f"{method}() of a prepared statement becomes {helper}(await conn.execute(statement, ...))")
        return cst.Call(cst.Name(helper), args)

    def _prepared_elsewhere(self, call: cst.Call, method: str) -> None:
        """Any other call on a prepared statement or a cursor."""
        self._mark_review(call, f"{method}() on a prepared statement or cursor used this way is not migrated",
                          "execute text() on the connection; SQLAlchemy's asyncpg dialect caches prepared statements")

    def _cursor(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        """`async for r in conn.cursor(SQL, a)` becomes iteration over a streamed result."""
        parent = self.get_metadata(ParentNodeProvider, original, None)
        positional = [a for a in original.args if a.keyword is None]
        keywords = {a.keyword.value: a for a in updated.args if a.keyword is not None}
        if not (isinstance(parent, cst.For) and parent.asynchronous is not None and parent.iter is original) or \
                set(keywords) - {"prefetch"} or not positional:
            if self._in_async_function(original):
                # `cur = await conn.cursor(SQL)`, then cur.fetch(n), cur.forward(n): asyncpg's
                # own cursor, whose API SQLAlchemy's results do not have
                self.record(original, "cursor() used other than directly in `async for` stays asyncpg's, on the "
                                      "asyncpg connection under the engine's connection: fetch(n), fetchrow() and "
                                      "forward(n) as before", Risk.REVIEW)
                driver = self._driver_of(original, updated.func.value)  # type: ignore[attr-defined]
                return updated.with_changes(func=cst.Attribute(driver, cst.Name("cursor")))
            self._mark_review(original, "cursor() used other than directly in `async for`",
                              "iterate `await conn.stream(text(SQL), binds)` instead")
            return updated
        new_values = [a for a in updated.args if a.keyword is None]
        try:
            statement, binds = self._statement(original, positional[0].value, new_values[0].value, values=new_values[1:])
        except Unsupported as reason:
            statement, binds = None, reason
        if not isinstance(binds, dict):  # SQL built at run time, or a statement text() cannot carry
            self.record(original, "cursor() runs on the asyncpg connection under the engine's connection, as before: "
                                  f"{binds or 'the SQL is built at run time'}", Risk.REVIEW)
            driver = self._driver_of(original, updated.func.value)  # type: ignore[attr-defined]
            return updated.with_changes(func=cst.Attribute(driver, cst.Name("cursor")))
        args = [cst.Arg(statement)]
        if binds:
            args.append(cst.Arg(bind_dict([(binds[n], new_values[n].value) for n in sorted(binds)], None)))
        if "prefetch" in keywords:  # rows fetched per round trip, as cursor(prefetch=) did
            args.append(cst.Arg(cst.Dict([cst.DictElement(cst.SimpleString('"yield_per"'), keywords["prefetch"].value)]),
                                keyword=cst.Name("execution_options"), equal=NO_SPACE_EQUAL))
        stream = cst.Await(cst.Call(cst.Attribute(updated.func.value, cst.Name("stream")), args))  # type: ignore[attr-defined]
        self._helper("stream_records")
        self.record(original, "cursor() iteration becomes stream_records(await conn.stream(text(...))): a server-side "
                              "cursor as before, rows as Records")
        return cst.Call(cst.Name("stream_records"), [cst.Arg(stream)])
