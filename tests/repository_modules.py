"""Hypothesis strategies for whole asyncpg repository modules, as legacy code writes them.

`repository_modules()` draws a module with one repository class whose methods each send one
statement (drawn from `sql_strategies.sql_statements`) in one of the usual call forms: inside
an `acquire()` block, on the pool itself, inside `conn.transaction()`, with fetch, fetchrow,
fetchval, execute (status read or not) and executemany. The SQL is written as a plain,
raw, triple-quoted or module-constant literal. Argument `vN` always carries `$N`, so a test
can tell which bind name the rewrite gave to which placeholder.

    from repository_modules import repository_modules

    @given(repository_modules())
    def test_something(module): module.source, module.statements
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st
from sql_strategies import sql_statements

from pgunify.sql.lexing import shape

__all__ = ["Statement", "RepositoryModule", "repository_modules", "call_forms", "METHODS"]

METHODS = ("fetch", "fetchrow", "fetchval", "execute", "execute_status", "executemany")
FORMS = ("acquire", "pool", "transaction")


@dataclass(frozen=True)
class Statement:
    sql: str
    method: str  # one of METHODS; execute_status reads the status string
    form: str  # one of FORMS
    literal: str  # plain | raw | triple | constant
    placeholders: int  # highest $n: the call passes v1..vN

    @property
    def many(self) -> bool:
        return self.method == "executemany"


@dataclass(frozen=True)
class RepositoryModule:
    source: str
    statements: tuple[Statement, ...]


def _python_literal(sql: str, style: str) -> str:
    if style == "raw" and "\\" in sql and "'" not in sql and "\n" not in sql and not sql.endswith("\\"):
        return "r'" + sql + "'"
    if style == "triple" and '"""' not in sql and "\\" not in sql and not sql.endswith('"'):
        return '"""' + sql + '"""'
    return repr(sql)


def _call(statement: Statement, receiver: str, sql_expr: str) -> str:
    method = "execute" if statement.method == "execute_status" else statement.method
    if statement.many:
        return f"await {receiver}.executemany({sql_expr}, rows)"
    args = "".join(f", v{n}" for n in range(1, statement.placeholders + 1))
    return f"await {receiver}.{method}({sql_expr}{args})"


def _body(statement: Statement, index: int, sql_expr: str) -> list[str]:
    """Lines of one method, indented for a class body."""
    params = "rows" if statement.many else ", ".join(f"v{n}" for n in range(1, statement.placeholders + 1))
    head = f"    async def op_{index}(self{', ' if params else ''}{params}):"
    receiver = "self.pool" if statement.form == "pool" else "conn"
    call = _call(statement, receiver, sql_expr)
    if statement.method == "execute_status":
        last = [f"status = {call}", "return status"]
    elif statement.method in ("execute", "executemany"):
        last = [call]
    else:
        last = [f"return {call}"]
    if statement.form == "pool":
        return [head] + [f"        {line}" for line in last]
    lines = [head, "        async with self.pool.acquire() as conn:"]
    depth = "            "
    if statement.form == "transaction":
        lines.append("            async with conn.transaction():")
        depth += "    "
    return lines + [depth + line for line in last]


@st.composite
def call_forms(draw, sql: str) -> Statement:
    numbers = shape(sql).numbers
    method = draw(st.sampled_from(METHODS))
    if method == "executemany" and not numbers:
        method = "execute"
    form = draw(st.sampled_from(FORMS))
    literal = draw(st.sampled_from(["plain", "plain", "raw", "triple", "constant"]))
    return Statement(sql, method, form, literal, max(numbers, default=0))


@st.composite
def repository_modules(draw, max_statements: int = 4, max_params: int = 4) -> RepositoryModule:
    sqls = draw(st.lists(sql_statements(max_params=max_params), min_size=1, max_size=max_statements))
    statements = tuple(draw(call_forms(sql)) for sql in sqls)
    constants, methods = [], []
    for index, statement in enumerate(statements):
        literal = _python_literal(statement.sql, statement.literal)
        if statement.literal == "constant":
            constants.append(f"QUERY_{index} = {literal}")
            literal = f"QUERY_{index}"
        methods += _body(statement, index, literal) + [""]
    source = "\n".join([
        "import asyncpg",
        "",
        *constants,
        "",
        "",
        "class Repository:",
        "    def __init__(self, pool: asyncpg.Pool):",
        "        self.pool = pool",
        "",
        *methods,
    ]).rstrip() + "\n"
    return RepositoryModule(source, statements)
