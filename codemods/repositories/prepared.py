"""Prepared statements and cursors. `stmt = await conn.prepare(SQL)` becomes `stmt = text(SQL)`
(SQLAlchemy's asyncpg dialect prepares and caches statements per connection by itself) and
the statement's calls run it on the connection it was prepared on; `async for r in
conn.cursor(SQL, ...)` iterates `stream_records(await conn.stream(text(SQL), ...))`. Whatever
text() cannot carry stays an asyncpg prepared statement or cursor on the driver connection,
and so does a statement used for anything but the calls that move (`get_attributes()`,
`explain()`, returned, stored, handed to a function): text() has none of asyncpg's
PreparedStatement API.
These are the receivers this codemod still resolves by itself: the model leaves them open.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.metadata import (
    ParentNodeProvider,
    PositionProvider,
    ScopeProvider,
)

from pgunify.rewrite.outcome import Risk
from pgunify.sql.lexing import SqlLexError, shape

from .base import RESULT_HELPERS, Unsupported
from .binds import NO_SPACE_EQUAL, bind_dict, bind_rows, indent_of, laid_out
from .driver import Driver

# the calls of a prepared statement that move onto text(): each becomes the helper of its
# result run on the connection the statement was prepared on
MOVABLE = frozenset(RESULT_HELPERS) | {"executemany"}


class Prepared(Driver):
    """prepare(), the calls of a prepared statement, cursor()."""

    def _prepare(self, original: cst.Await, call: cst.Call, updated: cst.Await) -> cst.BaseExpression:
        """`stmt = await conn.prepare(SQL)` becomes `stmt = text(SQL)`: the asyncpg dialect
        prepares and caches statements per connection by itself. A statement that text()
        cannot stand in for stays asyncpg's, prepared on the asyncpg connection under the
        engine's connection, and so do all its calls."""
        positional = [a for a in call.args if a.keyword is None]
        sql = self._static_sql(positional[0].value) if len(positional) == 1 else None
        try:
            numbers = shape(sql).numbers if sql is not None else None
        except SqlLexError:
            numbers = None
        reason = self._prepared_stays(call, numbers)
        statement = names = None
        if reason is None:
            try:
                statement, names = self._statement(call, positional[0].value, updated.expression.args[0].value,  # type: ignore[attr-defined]
                                                   values=None, fixed_names=True)
            except Unsupported as refused:
                reason = str(refused)
        if names is None:  # SQL built at run time, a statement text() cannot carry, or used as asyncpg's
            # an asyncpg prepared statement, as before: its calls stay as they are
            return self._through_driver(call, updated.expression, "prepare", updated.expression.func.value,  # type: ignore[attr-defined]
                                        "prepare() runs on the asyncpg connection under the engine's connection, as "
                                        f"before, and so do the statement's calls: {reason or 'the SQL is built at run time'}")
        self._text_prepares.add(id(call))
        self.record(call, "prepare() becomes text(): SQLAlchemy's asyncpg dialect prepares and caches the statement "
                          "on each connection itself")
        return statement  # type: ignore[return-value]

    def _prepared_stays(self, call: cst.Call, numbers) -> str | None:
        """Why a prepare()'s statement must stay asyncpg's, or None when text() can stand in
        for it: it is assigned to a plain name, once, and every read of that name (after the
        prepare()) is an awaited fetch(), fetchrow(), fetchval() or executemany() whose
        arguments give the statement's placeholders (`numbers`, None when not known yet).
        Anything else (get_attributes(), explain(), cursor(), the statement returned, stored
        or handed to a function) needs asyncpg's PreparedStatement."""
        assign = self.get_metadata(ParentNodeProvider, self.get_metadata(ParentNodeProvider, call, None), None)
        if not (isinstance(assign, cst.Assign) and len(assign.targets) == 1 and isinstance(assign.targets[0].target, cst.Name)
                and assign.value is self.get_metadata(ParentNodeProvider, call, None)):
            return "the statement is not assigned to a plain name (it is returned, stored or handed on)"
        if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
            return "prepare() is given options (name=, timeout=, record_class=) text() has no equivalent of"
        target: cst.Name = assign.targets[0].target  # type: ignore[assignment]
        scope = self.get_metadata(ScopeProvider, target, None)
        assignments = list(scope[target.value]) if scope is not None else []
        if len(assignments) != 1:
            return f"{target.value} is assigned more than once"
        start = self.get_metadata(PositionProvider, call).start
        for access in assignments[0].references:
            reason = self._prepared_use(access.node, target.value, numbers, (start.line, start.column))
            if reason is not None:
                return reason
        return None

    def _prepared_use(self, node: cst.CSTNode, name: str, numbers, start: tuple[int, int]) -> str | None:
        """Why this read of a prepared statement's name needs asyncpg's PreparedStatement, or
        None when the call it makes moves onto text() (_run_prepared())."""
        where = self.get_metadata(PositionProvider, node).start
        if (where.line, where.column) < start:
            return f"{name} is read before its prepare() (in a loop or a nested function)"
        attr = self.get_metadata(ParentNodeProvider, node, None)
        if not (isinstance(attr, cst.Attribute) and attr.value is node):
            return f"{name} is used other than by calling its methods (it is returned, stored or handed on)"
        method = attr.attr.value
        call = self.get_metadata(ParentNodeProvider, attr, None)
        called = isinstance(call, cst.Call) and call.func is attr
        if not called or method not in MOVABLE:
            used = f"{name}.{method}()" if called else f"{name}.{method}"
            return f"{used} is asyncpg's PreparedStatement API, which a text() statement does not have"
        if not self._awaited(call):
            return f"{name}.{method}() is not awaited where it is called"
        values = [a for a in call.args if a.keyword is None]
        keywords = {a.keyword.value for a in call.args if a.keyword is not None}
        if keywords - ({"column"} if method == "fetchval" else set()) or any(a.star for a in call.args):
            return f"{name}.{method}() is given arguments that cannot be named"
        if method == "executemany" and len(values) != 1:
            return f"{name}.executemany() is given other than one sequence of arguments"
        if method != "executemany" and numbers is not None and len(values) != len(numbers):
            return f"{name}.{method}() is given {len(values)} arguments for {len(numbers)} placeholders"
        return None

    def _prepared_origin(self, receiver: cst.BaseExpression):
        """(connection expression, SQL node) of the prepare() a statement variable came from,
        where that prepare() became text(); None for asyncpg's own prepared statements."""
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
        if id(prepare_call) not in self._text_prepares:
            return None
        return prepare_call.func.value, prepare_call.args[0].value if prepare_call.args else None

    def _run_prepared(self, original: cst.Await, call: cst.Call, updated: cst.Await, method: str) -> cst.BaseExpression:
        origin = self._prepared_origin(call.func.value)
        if origin is None:
            # asyncpg's own prepared statement (on the driver connection, or of a connection that
            # stays asyncpg's): its calls stay as they are
            return updated
        sql = self._static_sql(origin[1]) if origin[1] is not None else None
        try:
            numbers = shape(sql).numbers if sql is not None else None
        except SqlLexError:
            numbers = None
        new_call: cst.Call = updated.expression  # type: ignore[assignment]
        values = [a for a in new_call.args if a.keyword is None]
        keywords = {a.keyword.value: a for a in new_call.args if a.keyword is not None}
        if numbers is None or self._prepared_use(call.func.value, "statement", numbers, (0, 0)) is not None:
            # a safeguard: _prepared_stays() lets a statement become text() only when every call moves
            raise RuntimeError(f"line {self.line_of(call)}: {method}() of a statement that became text() cannot be "
                               "moved; not rewritten")
        connection, statement = origin[0], new_call.func.value  # type: ignore[attr-defined]
        if method == "executemany":
            self._helper("execute_many")
            self.record(call, "executemany() of a prepared statement becomes execute_many(conn, statement, [...])")
            return cst.Await(cst.Call(cst.Name("execute_many"), [cst.Arg(connection), cst.Arg(statement),
                                                                 cst.Arg(bind_rows(numbers, values[0].value))]))
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
        """Any other call on a cursor outside an async function. (A prepared statement used
        for anything but the calls _run_prepared() moves stays asyncpg's, with all its calls.)"""
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
