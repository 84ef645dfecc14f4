"""The driver connection bound to a name, as a person writes it: a call that stays asyncpg's
runs on `raw`, bound on the line before its statement (`raw = await driver_connection(conn)`),
rather than on `(await driver_connection(conn))` nested inside the call. Later statements of
the same block that use the driver connection of the same `conn` reuse the name, as long as
nothing between rebinds, closes or invalidates `conn`.

Where no line can hold the binding with the same behaviour, the nested form stays: a call
evaluated only sometimes (the right of `and`/`or`, a branch of `x if c else y`, a
comprehension, a lambda), a `while` or `elif` test (evaluated again and again, or only after
the `if` test), a one-line suite (`if x: await ...`).
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.metadata import FunctionScope, ParentNodeProvider, ScopeProvider

from .base import RepositoryPass

# the expressions whose parts Python may evaluate only sometimes, or in a scope of their own
_CONDITIONAL = (cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp, cst.IfExp,
                cst.BooleanOperation)
# the methods after which a SQLAlchemy connection may stand on another asyncpg connection
_RECONNECTING = frozenset({"close", "invalidate", "detach"})


def driver_of(connection: cst.BaseExpression) -> cst.Await:
    """`(await driver_connection(conn))`: the asyncpg connection under the engine's connection."""
    return cst.Await(cst.Call(cst.Name("driver_connection"), [cst.Arg(connection)]),
                     lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _binding(name: str, connection: cst.BaseExpression) -> cst.SimpleStatementLine:
    """`raw = await driver_connection(conn)`."""
    return cst.SimpleStatementLine([cst.Assign(
        [cst.AssignTarget(cst.Name(name))],
        cst.Await(cst.Call(cst.Name("driver_connection"), [cst.Arg(connection)])))])


def _rebinds(nodes, name: str) -> bool:
    """Whether any of `nodes` binds `name` again or may change the asyncpg connection under it
    (`conn.close()`, `conn.invalidate()`)."""
    target = m.Name(name)
    rebinding = (m.AssignTarget(target=target) | m.AnnAssign(target=target) | m.AugAssign(target=target)
                 | m.AsName(name=target) | m.NamedExpr(target=target) | m.For(target=target) | m.Del(target=target)
                 | m.CompFor(target=target) | m.NameItem(name=target)  # global, nonlocal
                 | m.Call(func=m.Attribute(value=target, attr=m.OneOf(*(m.Name(n) for n in _RECONNECTING)))))
    return any(m.findall(node, rebinding) for node in nodes)


class DriverNames(RepositoryPass):
    """The name the driver connection is bound to, and the line that binds it."""

    def _driver_of(self, call: cst.Call, connection: cst.BaseExpression) -> cst.BaseExpression:
        """The asyncpg connection under `connection`, for `call` (the original call, on the
        receiver the code had): a name bound before the statement, or the nested form where no
        line can hold that binding."""
        self._helper("driver_connection")
        statement = self._binding_statement(call, connection)
        block = self.get_metadata(ParentNodeProvider, statement, None) if statement is not None else None
        function = self._enclosing_function(call)
        if not isinstance(block, cst.IndentedBlock) or function is None:
            return driver_of(connection)
        code = self.module_code(connection)
        name = self._driver_name(function, code, call)
        if name is None:
            return driver_of(connection)
        index = next(i for i, s in enumerate(block.body) if s is statement)
        local = isinstance(connection, cst.Name) and m.matches(call.func, m.Attribute(value=m.Name(connection.value))) \
            and self._local_name(call.func.value)  # type: ignore[attr-defined]
        bound = self._driver_bound.setdefault(id(block), {})
        earlier = bound.get(code)
        if earlier is not None and (earlier == index or local and not _rebinds(block.body[earlier:index], code)):
            return cst.Name(name)  # bound already: in this statement, or in an earlier one of the block
        self._driver_bindings.setdefault(id(statement), []).append((name, connection))
        bound[code] = index
        return cst.Name(name)

    def _binding_statement(self, call: cst.Call, connection: cst.BaseExpression) -> cst.CSTNode | None:
        """The statement in a block the binding line can go before: the call is evaluated
        exactly once each time the statement runs, and nothing in the statement before the
        call rebinds a name of the receiver."""
        node: cst.CSTNode = call
        while True:
            parent = self.get_metadata(ParentNodeProvider, node, None)
            if parent is None or isinstance(parent, (cst.FunctionDef, cst.ClassDef)):
                return None
            if isinstance(parent, _CONDITIONAL) and not (
                    isinstance(parent, cst.IfExp) and node is parent.test
                    or isinstance(parent, cst.BooleanOperation) and node is parent.left):
                return None
            if isinstance(parent, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                break
            node = parent
        names = {n.value for n in m.findall(connection, m.Name())}
        if isinstance(parent, cst.SimpleStatementLine):
            # `conn = await (await driver_connection(conn)).fetch(...)` binds conn after the call;
            # `(conn := ...)`, or `conn = x; await conn.copy_to_table(...)`, before it
            rebound = any(m.findall(parent, m.NamedExpr(target=m.Name(name))) for name in names) or \
                len(parent.body) > 1 and any(_rebinds(parent.body, name) for name in names)
        elif isinstance(parent, cst.If) and node is parent.test or isinstance(parent, cst.For) and node is parent.iter:
            rebound = any(_rebinds([node], name) for name in names)
        elif isinstance(parent, cst.With) and node in parent.items:
            rebound = any(_rebinds(parent.items, name) for name in names)  # `with a as conn, conn.x():`
        else:
            return None  # a `while` test, a `match` subject, a one-line suite
        return None if rebound else parent

    def _driver_name(self, function: cst.FunctionDef, code: str, call: cst.Call) -> str | None:
        """One name per receiver in a function: `raw`, or `raw_<receiver>` for a second
        receiver; never a name the function already uses or sees."""
        names = self._driver_names.setdefault(id(function), {})
        if code not in names:
            taken = set(names.values())
            last = code.rsplit(".", 1)[-1].strip("_")
            candidates = ["raw"] if not names else []
            if last.isidentifier():
                candidates.append(f"raw_{last}")
            candidates += [f"raw_{n}" for n in range(2, 10)]
            chosen = self._free_name(call, [c for c in candidates if c not in taken])
            if chosen is None:
                return None
            names[code] = chosen
        return names[code]

    def _local_name(self, name: cst.Name) -> bool:
        """Whether `name` is a local of its function (a parameter, or assigned in it), so
        nothing but the function's own statements can rebind it."""
        scope = self.get_metadata(ScopeProvider, name, None)
        return isinstance(scope, FunctionScope) and any(a.scope is scope for a in scope.assignments[name.value])

    def _driver_bindings_of(self, original: cst.CSTNode, updated: cst.BaseStatement) -> list[cst.BaseStatement]:
        """The binding lines that go before `original`, then the statement; the statement's
        blank lines and comments go before the first binding."""
        bindings = self._driver_bindings.get(id(original))
        if not bindings:
            return [updated]
        lines = [_binding(name, connection) for name, connection in bindings]
        lines[0] = lines[0].with_changes(leading_lines=updated.leading_lines)
        return [*lines, updated.with_changes(leading_lines=())]

    def _forget_driver_names(self, original: cst.CSTNode) -> None:
        """The statement's bindings go inside a block opened around it: later statements bind
        their own."""
        block = self.get_metadata(ParentNodeProvider, original, None)
        index = next((i for i, s in enumerate(getattr(block, "body", ())) if s is original), None)
        bound = self._driver_bound.get(id(block), {})
        for code in [code for code, at in bound.items() if at == index]:
            del bound[code]

    def _with_driver_bindings(self, original: cst.CSTNode, updated: cst.BaseStatement):
        lines = self._driver_bindings_of(original, updated)
        return lines[0] if len(lines) == 1 else cst.FlattenSentinel(lines)
