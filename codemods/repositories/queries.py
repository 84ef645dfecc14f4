"""The statements: `fetch`, `fetchrow`, `fetchval`, `execute` and `executemany` on a pool or a
connection of a migrated pool, onto `conn.execute(text(...))` with the raw-SQL helpers that
keep what callers saw (`first_record`, `all_records`, `first_value`, `command_status`,
`execute_many`). SQL built at run time goes to the driver as written (`exec_driver_sql`).
A pool-level call is given a connection: the statement is wrapped in
`async with engine.connect() as conn:`, or, where no statement can hold one, runs through
`execute_on(engine, ...)`.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m

from pgunify.facts.receivers import Kind
from pgunify.rewrite.outcome import Risk

from .base import COPY_METHODS, RESULT_HELPERS, Unsupported, already_migrated
from .binds import NO_SPACE_EQUAL, bind_dict, bind_rows, indent_of, laid_out, parameter_tuple
from .driver import Driver
from .sql import command_of


class Queries(Driver):
    """Awaited query calls on a pool or a connection the model is sure of."""

    def _query(self, original_node: cst.Await, call: cst.Call, updated_node: cst.Await, method: str, kind) \
            -> cst.BaseExpression:
        """`await pool.fetchrow(...)` or `await conn.fetchrow(...)`, a pool's or a connection's."""
        if already_migrated(call):
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

    def _rewrite_query(self, call: cst.Call, new_call: cst.Call, method: str, connection: cst.BaseExpression) -> cst.BaseExpression:
        positional = [a for a in new_call.args if a.keyword is None]
        keywords = {a.keyword.value: a for a in new_call.args if a.keyword is not None}
        if method in COPY_METHODS:
            return self._copy(call, new_call, method, connection)
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
                rows = bind_rows(sorted(binds), values[0].value)
            return cst.Await(cst.Call(cst.Name("execute_many"), [cst.Arg(connection), cst.Arg(statement), cst.Arg(rows)]))

        command = None
        if method == "execute" and not self._result_unused(call):
            # decided before the statement is converted: a status string the row count cannot give comes from the driver
            sql = self._static_sql(original_sql_node)
            command = command_of(sql) if sql is not None else None
            if command is None:
                raise Unsupported("the status string of execute() is read, and it cannot be built from the row count "
                                  "(the statement is not one INSERT, UPDATE, DELETE or SELECT known ahead of time)")
        statement, binds = self._statement(call, original_sql_node, sql_arg.value, values=values)
        run = "execute"
        if binds is None:  # SQL built at run time: to the driver as written, $n placeholders and all
            run = "exec_driver_sql"
            new_values = [sql_arg.value]
            parameters = parameter_tuple(values)
            if parameters is not None:
                new_values.append(parameters)
        elif any(v.star for v in values):
            self._helper("binds")
            new_values = [statement, cst.Call(cst.Name("binds"), [cst.Arg(v.value, star=v.star) for v in values])]
        else:
            new_values = [statement]
            if binds:
                new_values.append(bind_dict([(binds[n], values[n - 1].value) for n in sorted(binds)],
                                             indent_of(list(new_call.args))))
        executed = cst.Await(cst.Call(cst.Attribute(connection, cst.Name(run)), laid_out(list(new_call.args), new_values),
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
                args.append(cst.Arg(keywords["column"].value, keyword=cst.Name("column"), equal=NO_SPACE_EQUAL))
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

    def _open_connection(self, lines: list[cst.BaseStatement], wrap: tuple[cst.BaseExpression, str, str]) -> cst.With:
        """The statement of pool-level calls (with the lines that go before it) inside
        `async with engine.connect() as conn:` (or `asyncpg_connection(x)` for receivers that
        may be either, see either.py)."""
        source, name, how = wrap
        opened = cst.Call(cst.Attribute(source, cst.Name("connect"))) if how == "connect" else \
            cst.Call(cst.Name(how), [cst.Arg(source)])
        return cst.With(
            asynchronous=cst.Asynchronous(),
            items=[cst.WithItem(opened, asname=cst.AsName(cst.Name(name)))],
            body=cst.IndentedBlock(body=[lines[0].with_changes(leading_lines=()), *lines[1:]]),
            leading_lines=lines[0].leading_lines,
        )


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

