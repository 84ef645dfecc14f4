"""SQL onto `text()`: each static statement's `$n` placeholders become named binds with
PostgreSQL's own lexer, and the result is proven to compile back to the original before it
is offered. A literal held in a module constant or a local variable is edited where it is
defined, once every call that uses it converts; SQL built at run time is not touched here
(queries.py sends it to the driver as written).
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import AddImportsVisitor
from libcst.metadata import FunctionScope, GlobalScope, ParentNodeProvider, ScopeProvider

from pgunify.facts.constants import bound_literal, static_string
from pgunify.facts.receivers import Kind
from pgunify.rewrite.outcome import Change, Risk
from pgunify.sql.binds import RewriteRefused, to_named_binds
from pgunify.sql.lexing import SqlLexError, shape
from pgunify.sql.literals import LiteralRefused, rewrite_literal
from pgunify.sql.proof import prove

from .base import QUERY_METHODS, RepositoryPass, Unsupported
from .binds import bind_name

# the status string's command word, by the parsed statement's node type
STATEMENT_COMMANDS = {"InsertStmt": "INSERT", "UpdateStmt": "UPDATE", "DeleteStmt": "DELETE", "SelectStmt": "SELECT"}


def command_of(sql: str) -> str | None:
    import pglast

    try:
        statements = pglast.parse_sql(sql)
    except Exception:  # noqa: BLE001 - unparsable SQL simply has no known command
        return None
    if len(statements) != 1:
        return None
    return STATEMENT_COMMANDS.get(type(statements[0].stmt).__name__)


class SqlText(RepositoryPass):
    """Statements to proven text(), and the literals they are held in."""

    def _static_sql(self, node: cst.BaseExpression) -> str | None:
        if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
            return static_string(node)
        literal = self._constant_literal(node)
        return static_string(literal) if literal is not None else None

    def _constant_literal(self, node: cst.BaseExpression):
        bound = self._bound_statement(node)
        return bound[0] if bound is not None and self._editable[bound[1]] else None

    def _bound_statement(self, node: cst.BaseExpression):
        """(literal, key, uses) of a name bound once to a string literal: a module constant, or a
        local variable of the function whose calls use it; None for any other name."""
        if not isinstance(node, cst.Name):
            return None
        bound = bound_literal(self.get_metadata, node)
        if bound is None:
            return None
        literal, assignment = bound
        scope = assignment.scope
        if isinstance(scope, GlobalScope):
            if (self.plan.module_of(self.context.filename or ""), node.value) in self.plan.exported_names:
                return None  # other modules read it too
            key: tuple[int | None, str] = (None, node.value)
        elif isinstance(scope, FunctionScope) and isinstance(scope.node, cst.FunctionDef):
            key = (id(scope.node), node.value)
        else:
            return None
        if key not in self._editable:
            self._editable[key] = self._every_use_converts(literal, assignment)
        return literal, key, len(assignment.references)

    def _every_use_converts(self, literal, assignment) -> bool:
        """Whether every use of a SQL literal bound to a name is the statement of a call this
        codemod moves onto text(): only then can the literal be edited where it is defined.
        Otherwise each call sends it to the driver as written (exec_driver_sql)."""
        sql = static_string(literal)
        if sql is None or not assignment.references:
            return False
        try:
            numbers = shape(sql).numbers
            rewrite = to_named_binds(sql, {n: f"p{n}" for n in numbers})
            rewrite_literal(literal, rewrite)
        except (SqlLexError, RewriteRefused, LiteralRefused):
            return False
        if not prove(sql, rewrite.sql, rewrite.names).ok:
            return False
        local = not isinstance(assignment.scope, GlobalScope)
        for access in assignment.references:
            if local and self.get_metadata(ScopeProvider, access.node, None) is not assignment.scope:
                return False  # read in a nested function or comprehension
            arg = self.get_metadata(ParentNodeProvider, access.node, None)
            call = self.get_metadata(ParentNodeProvider, arg, None) if isinstance(arg, cst.Arg) else None
            if not (isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute)
                    and call.func.attr.value in QUERY_METHODS | {"prepare", "cursor"} and call.args[0] is arg
                    and arg.keyword is None):
                return False
            kind, resolution = self._kind(call.func.value)
            if kind not in (Kind.POOL, Kind.CONNECTION) or resolution.ambiguous:
                return False  # also used on a connection that stays on asyncpg
            if not self._converts(call, sql, numbers):
                return False
        return True

    def _converts(self, call: cst.Call, sql: str, numbers) -> bool:
        """Whether _rewrite_query() moves this call onto text() rather than the driver."""
        method = call.func.attr.value  # type: ignore[attr-defined]
        if method == "prepare":
            return self._prepared_stays(call, numbers) is None  # type: ignore[attr-defined]  # prepared.py
        if method == "cursor":
            return True
        if not isinstance(self.get_metadata(ParentNodeProvider, call, None), cst.Await):
            return False
        values = [a for a in call.args if a.keyword is None][1:]
        keywords = {a.keyword.value for a in call.args if a.keyword is not None}
        if keywords - ({"column"} if method == "fetchval" else set()) or any(v.star == "**" for v in values):
            return False
        if method == "executemany":
            return len(values) == 1 and not values[0].star
        if not any(v.star for v in values) and len(values) != len(numbers):
            return False
        if method == "execute":
            if not values and self._statements(sql) > 1:
                return False
            if not self._result_unused(call) and command_of(sql) is None:
                return False
        return True

    def _statement(self, call: cst.Call, original_sql: cst.BaseExpression, sql_expr: cst.BaseExpression, values,
                   fixed_names: bool = False):
        """text(...) for the call, and {n: bind name}; None binds mean the SQL is dynamic."""
        sql = self._static_sql(original_sql)
        star = values is not None and any(v.star for v in values)
        if sql is None:
            return sql_expr, None
        if star:
            fixed_names = True  # arguments passed as *args: binds(*args) names them p1, p2, ...
        bound = self._bound_statement(original_sql) if isinstance(original_sql, cst.Name) else None
        constant = bound is not None
        # a module constant, or a local variable read by several calls, serves them all with one set of names
        shared = constant and (bound[1][0] is None or bound[2] > 1)
        try:
            numbers = shape(sql).numbers
        except SqlLexError:
            raise Unsupported("the statement does not lex as PostgreSQL SQL") from None
        if values is not None and not fixed_names and len(values) != len(numbers):
            raise Unsupported(f"{len(values)} arguments for {len(numbers)} placeholders")
        if shared or fixed_names:
            names = {n: f"p{n}" for n in numbers}
        else:
            names, seen = {}, set()
            for n in numbers:
                name = bind_name(values[n - 1].value, n) if values is not None else f"p{n}"
                if name in seen:
                    name = f"{name}_{n}"
                names[n] = name
                seen.add(name)
        try:
            rewrite = to_named_binds(sql, names)
        except RewriteRefused as refused:
            raise Unsupported(f"the statement cannot be converted: {refused}") from None
        proof = prove(sql, rewrite.sql, rewrite.names)
        if not proof.ok:
            raise Unsupported(f"the converted statement does not compile back to the original: {proof.detail}")
        self.proven += 1
        text_name = self._text_name()
        if text_name == "text":
            AddImportsVisitor.add_needed_import(self.context, "sqlalchemy", "text")
        elif not self._text_alias_imported:  # an aliased import is not merged when asked for twice
            AddImportsVisitor.add_needed_import(self.context, "sqlalchemy", "text", text_name)
            self._text_alias_imported = True
        if constant:
            literal, key, _ = bound
            previous = self._constant_rewrites.get(key)
            if previous is not None and previous != rewrite.sql:
                raise Unsupported(f"{original_sql.value} is used with different placeholders")
            try:
                edit = rewrite_literal(literal, rewrite)
            except LiteralRefused as refused:
                raise Unsupported(f"the literal of {original_sql.value} cannot be edited in place: {refused}") from None
            if key[0] is None:
                self._constant_edits[original_sql.value] = edit
            else:
                self._local_edits.setdefault(key[0], {})[original_sql.value] = edit
            self._constant_rewrites[key] = rewrite.sql
            self._constant_lines[key] = (original_sql.value, self.line_of(literal))
            return cst.Call(cst.Name(text_name), [cst.Arg(sql_expr)]), names
        try:
            new_literal = rewrite_literal(sql_expr, rewrite)  # type: ignore[arg-type]
        except LiteralRefused as refused:
            raise Unsupported(f"the SQL literal cannot be edited in place: {refused}") from None
        return cst.Call(cst.Name(text_name), [cst.Arg(new_literal)]), names

    def _text_name(self) -> str:
        """The name sqlalchemy's text() is imported under in this module: `text`, unless the
        module binds `text` to something else anywhere (`for flag, text in ...:`, a parameter,
        a local), where `text(...)` would call that instead; then `sa_text`."""
        if self._text_name_chosen is None:
            taken: set[str] = set()
            for scope in set(self.context.wrapper.resolve(ScopeProvider).values()):
                if scope is None:
                    continue
                for assignment in scope.assignments:
                    node = getattr(assignment, "node", None)
                    if isinstance(node, cst.ImportFrom) and node.module is not None and \
                            cst.Module([]).code_for_node(node.module) == "sqlalchemy" and assignment.name == "text":
                        continue  # sqlalchemy's own text, as this codemod imports it
                    taken.add(assignment.name)
            self._text_name_chosen = next(name for name in ("text", "sa_text", "sqlalchemy_text", "sa_text_")
                                          if name not in taken)
        return self._text_name_chosen

    def _statements(self, sql: str) -> int:
        try:
            return shape(sql).statements
        except SqlLexError:
            return 1

    def _edit_locals(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef) -> cst.FunctionDef:
        edits = self._local_edits.pop(id(original_node), None)
        if edits:  # local SQL variables, edited where they are assigned once all their calls are rewritten
            return updated_node.with_changes(body=updated_node.body.visit(_ConstantEditor(edits)))
        return updated_node

    def _edit_constants(self, tree: cst.Module) -> cst.Module:
        """After the visit: the module constants whose every use converted, edited in place,
        each a change of its own."""
        conflicts = sorted(key[1] for key in self._driver_literals if key in self._constant_rewrites)
        if conflicts:  # a safeguard: _constant_literal() admits only literals whose every use converts
            raise RuntimeError(f"{', '.join(conflicts)}: the literal serves both text() and the driver; not rewritten")
        if self._constant_edits:
            # constants are defined above the calls that prove them, so they are edited afterwards
            tree = tree.visit(_ConstantEditor(self._constant_edits))
        for name, line in sorted(self._constant_lines.values(), key=lambda item: (item[1], item[0])):
            self.changes.append(Change(self.info.name, line, f"{name}: $n placeholders become named binds for text(); "
                                       "the statement is proven to compile back to the original", Risk.REVIEW))
        return tree


class _ConstantEditor(cst.CSTTransformer):
    """Puts the rewritten literals into module-level `NAME = "..."` assignments."""

    def __init__(self, edits: dict[str, cst.BaseExpression]) -> None:
        super().__init__()
        self.edits = edits

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False

    def leave_Assign(self, original_node: cst.Assign, updated_node: cst.Assign) -> cst.Assign:
        if len(updated_node.targets) == 1 and isinstance(updated_node.targets[0].target, cst.Name):
            edit = self.edits.get(updated_node.targets[0].target.value)
            if edit is not None:
                return updated_node.with_changes(value=edit)
        return updated_node
