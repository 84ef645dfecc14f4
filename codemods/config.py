"""config: the application reads one database URL.

A second variable such as ASYNC_DATABASE_URL, whose default pointed at localhost, goes away
when nothing uses it any more; where something still does, it becomes the shared engine's
URL, derived from the one variable, so it can never fall back to localhost again.
"""

from __future__ import annotations

import libcst as cst
import libcst.matchers as m
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import ParentNodeProvider, ScopeProvider

from pgunify.facts.receivers import qualified_names
from pgunify.rewrite.outcome import Risk

from ._base import CodemodInfo, UnifyCodemod

ENV_READS = {"os.getenv", "os.environ.get"}


class ConfigCodemod(UnifyCodemod):
    info = CodemodInfo(
        name="config",
        summary="Read one DATABASE_URL; derive or drop second URL variables such as ASYNC_DATABASE_URL",
        risk=Risk.REVIEW,
        why="A second URL variable with a localhost default is how one module ends up on the wrong server.",
        needs_pools_moved=True,
    )
    METADATA_DEPENDENCIES = UnifyCodemod.METADATA_DEPENDENCIES + (ScopeProvider, ParentNodeProvider)

    def __init__(self, context, plan) -> None:
        super().__init__(context, plan)
        self._remove: set[int] = set()

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        return any(name.encode() in source for name in plan.secondary_url_vars)

    def _secondary_read(self, node: cst.CSTNode) -> str | None:
        """The variable name if `node` reads a secondary database URL from the environment."""
        if isinstance(node, cst.Call):
            if qualified_names(self.get_metadata, node.func).isdisjoint(ENV_READS):
                return None
            args = [a for a in node.args if a.keyword is None]
            key = args[0].value if args else None
        elif isinstance(node, cst.Subscript):
            if isinstance(self.get_metadata(ParentNodeProvider, node, None), (cst.AssignTarget, cst.Del, cst.AugAssign)):
                return None  # os.environ["X"] = ... sets the variable; only reads are rewritten
            if "os.environ" not in qualified_names(self.get_metadata, node.value):
                return None
            key = node.slice[0].slice.value if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index) else None
        else:
            return None
        if isinstance(key, cst.SimpleString) and key.evaluated_value in self.plan.secondary_url_vars:
            return key.evaluated_value  # type: ignore[return-value]
        return None

    def visit_Module(self, node: cst.Module) -> bool:
        if self.in_generated_file():
            return False
        return True

    def visit_SimpleStatementLine(self, node: cst.SimpleStatementLine) -> None:
        if len(node.body) != 1 or not m.matches(node.body[0], m.Assign(targets=[m.AssignTarget(target=m.Name())])):
            return
        assign = node.body[0]
        variable = self._secondary_read(assign.value)
        if variable is None:
            return
        target = assign.targets[0].target
        scope = self.get_metadata(ScopeProvider, target, None)
        used_here = scope is not None and any(a.references for a in scope.assignments[target] if a.node is target)
        used_elsewhere = (self._module_name(), target.value) in self.plan.exported_names
        if not used_here and not used_elsewhere:
            self._remove.add(id(node))
            self.record(node, f"{target.value} = <{variable} from the environment> removed: nothing reads it now, "
                              f"the shared engine takes its URL from {self.plan.url_var}")

    def leave_SimpleStatementLine(self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine):
        if id(original_node) in self._remove:
            RemoveImportsVisitor.remove_unused_import_by_node(self.context, original_node)
            return cst.RemoveFromParent()
        return updated_node

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.BaseExpression:
        return self._derive(original_node, updated_node)

    def leave_Subscript(self, original_node: cst.Subscript, updated_node: cst.Subscript) -> cst.BaseExpression:
        return self._derive(original_node, updated_node)

    def _derive(self, original, updated):
        variable = self._secondary_read(original)
        if variable is None or self._inside_removed(original):
            return updated
        self.record(original, f"{variable} is now derived from {self.plan.url_var} through the shared engine "
                              "instead of being read with its own (localhost) default")
        AddImportsVisitor.add_needed_import(self.context, self.plan.engine_module, "database_url")
        RemoveImportsVisitor.remove_unused_import_by_node(self.context, original)
        return cst.parse_expression("database_url().render_as_string(hide_password=False)")

    def _inside_removed(self, node: cst.CSTNode) -> bool:
        assign = self.get_metadata(ParentNodeProvider, node, None)
        statement = self.get_metadata(ParentNodeProvider, assign, None) if assign is not None else None
        return statement is not None and id(statement) in self._remove

    def _module_name(self) -> str:
        filename = (self.context.filename or "").replace("\\", "/")
        return self.plan.module_of(filename)
