"""schema-startup: the application stops creating its schema when it starts.

Once `pgunify schema` has written the Alembic baseline, `alembic upgrade head` owns every table:
`metadata.create_all(...)`, `CREATE TABLE IF NOT EXISTS` executed from code, and the calls of
schema installers (init_db(), init_schema(), ...) in start-up hooks go. Before the baseline
exists every such site stays, with the reason, so no database is ever left without a schema.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import libcst as cst
import libcst.matchers as m
from libcst.codemod.visitors import RemoveImportsVisitor

from pgunify.rewrite.outcome import Risk

from ._base import CodemodInfo, UnifyCodemod

NO_BASELINE = "no Alembic baseline yet: run pgunify schema first"
_CREATE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+|UNIQUE\s+)?(TABLE|INDEX|TYPE|EXTENSION|SEQUENCE|VIEW|FUNCTION|TRIGGER)\b",
                     re.IGNORECASE)
_INSTALLER = re.compile(r"^(?:init|install|create|apply|ensure|setup)_(?:db|database|schema|tables)$")
_STARTUP_FUNCTIONS = {"lifespan", "startup", "on_startup", "app_startup"}
_EXECUTE = {"execute", "exec_driver_sql", "executescript"}


def _is_test_file(filename: str) -> bool:
    path = PurePosixPath(filename.replace("\\", "/"))
    return path.name.startswith("test_") or path.name == "conftest.py" or "tests" in path.parts


class SchemaStartupCodemod(UnifyCodemod):
    info = CodemodInfo(
        name="schema-startup",
        summary="Stop creating the schema at start-up (create_all, CREATE TABLE IF NOT EXISTS) once Alembic owns it",
        risk=Risk.REVIEW,
        why="A schema created at start-up drifts from the migration history; `alembic upgrade head` creates it now.",
    )

    def __init__(self, context, plan) -> None:
        super().__init__(context, plan)
        self._remove: set[int] = set()
        self._startup_depth = 0

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        return b"create_all" in source or re.search(rb"(?i)\bCREATE\s+(TABLE|INDEX|TYPE)", source) is not None \
            or re.search(rb"\b(init|install|create|apply|ensure|setup)_(db|database|schema|tables)\b", source) is not None

    def visit_Module(self, node: cst.Module) -> bool:
        return not self.in_generated_file() and not _is_test_file(self.context.filename or "")

    # --- start-up hooks ------------------------------------------------------------------

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        if self._is_startup(node):
            self._startup_depth += 1

    def leave_FunctionDef(self, original_node: cst.FunctionDef, updated_node: cst.FunctionDef):
        if self._is_startup(original_node):
            self._startup_depth -= 1
        return updated_node.with_changes(body=_not_empty(updated_node.body))

    def _is_startup(self, node: cst.FunctionDef) -> bool:
        if node.name.value in _STARTUP_FUNCTIONS:
            return True
        return any(m.matches(d.decorator, m.Call(func=m.Attribute(attr=m.Name("on_event")),
                                                 args=[m.Arg(value=m.SimpleString())]))
                   and "startup" in d.decorator.args[0].value.value for d in node.decorators)  # type: ignore[attr-defined]

    # --- the sites -----------------------------------------------------------------------

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) != 1 or not isinstance(node.body[0], cst.Expr):
            return
        expression = node.body[0].value
        call = expression.expression if isinstance(expression, cst.Await) else expression
        if not isinstance(call, cst.Call):
            return
        what = self._schema_creation(call)
        if what is None:
            return
        if not self.plan.alembic_baseline:
            self.leave_alone(node, f"{what} left in place: {NO_BASELINE}",
                             "run `pgunify schema` to write the Alembic baseline, then `pgunify migrate` again")
            return
        self._remove.add(id(node))
        self.record(node, f"{what} removed: `alembic upgrade head` creates the schema now (see MIGRATIONS.md)")

    def _schema_creation(self, call: cst.Call) -> str | None:
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value == "create_all":
            return f"{self._code(func)}() at start-up"
        if isinstance(func, cst.Attribute) and func.attr.value == "run_sync" and call.args:
            target = call.args[0].value
            if isinstance(target, cst.Attribute) and target.attr.value == "create_all":
                return f"{self._code(target)} at start-up"
        if isinstance(func, cst.Attribute) and func.attr.value in _EXECUTE and call.args:
            sql = _literal_sql(call.args[0].value)
            if sql is not None and _CREATE.match(sql):
                return f"`{' '.join(sql.split()[:5])} ...` executed at start-up"
        if self._startup_depth and not call.args:
            name = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
            if _INSTALLER.match(name):
                return f"the call of {self._code(func)}() in the start-up hook"
        return None

    def _code(self, node: cst.CSTNode) -> str:
        return cst.Module(body=[]).code_for_node(node)

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine):
        if id(original_node) in self._remove:
            RemoveImportsVisitor.remove_unused_import_by_node(self.context, original_node)
            return cst.RemoveFromParent()
        return updated_node

    # --- blocks the removals leave empty -------------------------------------------------

    def leave_With(self, original_node: cst.With, updated_node: cst.With):
        # `async with engine.begin() as conn:` existed only to run create_all
        return cst.RemoveFromParent() if _empty(updated_node.body) and not _empty(original_node.body) else updated_node

    def leave_Try(self, original_node: cst.Try, updated_node: cst.Try):
        # its handlers guarded the schema creation alone
        if _empty(updated_node.body) and not _empty(original_node.body):
            return cst.RemoveFromParent()
        return updated_node

    def leave_If(self, original_node: cst.If, updated_node: cst.If):
        return updated_node.with_changes(body=_not_empty(updated_node.body))

    def leave_For(self, original_node: cst.For, updated_node: cst.For):
        return updated_node.with_changes(body=_not_empty(updated_node.body))


def _empty(block: cst.BaseSuite) -> bool:
    return isinstance(block, cst.IndentedBlock) and not block.body


def _not_empty(block: cst.BaseSuite) -> cst.BaseSuite:
    if _empty(block):
        return block.with_changes(body=[cst.SimpleStatementLine(body=[cst.Pass()])])
    return block


def _literal_sql(node: cst.BaseExpression) -> str | None:
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "text" and node.args:
        node = node.args[0].value
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None
