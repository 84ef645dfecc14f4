"""isinstance() checks against asyncpg's Record. The calls this codemod moves onto Core return
the raw-SQL helpers' `Record`, which `isinstance(row, asyncpg.Record)` rejects: a check that
held before would turn False without an error. In a module this codemod rewrites, such a
check accepts both, `isinstance(row, (asyncpg.Record, Record))`; records that stay asyncpg's
(the driver fallbacks, connections of their own) still pass it.

The helpers' Record cannot pass for asyncpg's instead: asyncpg.Record is a C type whose
metaclass is `type`, so it takes no ABC registration; the type is immutable, so no
`__instancecheck__` can be added to it; and a Python subclass of it can neither declare
`__slots__` nor be instantiated outside asyncpg's protocol.

A check in a module this codemod does not rewrite is the closure check's: it stops the run
where the whole-program model sees the helpers' records reach it.
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor
from libcst.metadata import ParentNodeProvider, ScopeProvider

from pgunify.facts.api import RECORD_TYPES
from pgunify.facts.receivers import qualified_names
from pgunify.rewrite.outcome import Risk

from .base import RepositoryPass

ACCEPTS_BOTH = ("isinstance() against asyncpg.Record accepts the raw-SQL helpers' Record too: the rows of the calls "
                "moved onto Core are that Record, which asyncpg.Record does not accept (a C type, closed to ABC "
                "registration); rows that stay asyncpg's pass as before")
SUGGESTION = "accept both: isinstance(row, (asyncpg.Record, Record)) with Record from the raw-SQL helpers module"


class RecordChecks(RepositoryPass):
    """`isinstance(x, asyncpg.Record)`, `isinstance(x, Record)` with Record imported from
    asyncpg, `asyncpg.protocol.Record`, and tuples of classes naming one of them."""

    def _note_record_check(self, call: cst.Call) -> None:
        """During the visit: note an isinstance() call, by the order the visit leaves calls in.
        Whether the module is rewritten at all is known only afterwards (_widen_record_checks)."""
        index = self._isinstance_seen
        self._isinstance_seen += 1
        if len(call.args) != 2 or any(a.keyword is not None or a.star for a in call.args):
            return
        classes = call.args[1].value
        elements = [e.value for e in classes.elements] if isinstance(classes, cst.Tuple) else [classes]
        kinds = [self._record_kind(element) for element in elements]
        if "asyncpg" in kinds and "helpers" not in kinds:
            self._record_checks[index] = (call, elements, kinds)

    def _record_kind(self, node: cst.BaseExpression) -> str | None:
        """"asyncpg" for asyncpg's record type, "helpers" for the raw-SQL helpers' Record."""
        if not isinstance(node, (cst.Name, cst.Attribute)):
            return None
        names = qualified_names(self.get_metadata, node)
        if names & RECORD_TYPES:
            return "asyncpg"
        if any(self._helpers_record(name) for name in names):
            return "helpers"
        return None

    def _helpers_record(self, name: str) -> bool:
        """Whether a qualified name is the raw-SQL helpers' Record (imported absolutely or
        relatively)."""
        helpers = self.plan.raw_sql_module.rsplit(".", 1)[-1] if self.plan.raw_sql_module else None
        return helpers is not None and name.split(".")[-2:] == [helpers, "Record"]

    def _widen_record_checks(self, tree: cst.Module) -> cst.Module:
        """After the visit, in a module this codemod rewrites: each noted check accepts the
        helpers' Record too."""
        if not self._record_checks or not self.plan.raw_sql_module:
            return tree
        # rewritten: changes recorded, annotations retyped (an import added), review comments
        if not (self.changes or self._review or self.context.scratch.get(AddImportsVisitor.CONTEXT_KEY)):
            return tree
        refused = self._record_name_taken()
        if refused is not None:
            for call, _, _ in self._record_checks.values():
                self.leave_alone(call, refused, SUGGESTION)
            return tree
        edits = {index: (call, self.module_code(call.args[1].value), self._both(elements, kinds))
                 for index, (call, elements, kinds) in self._record_checks.items()}
        editor = _RecordCheckEditor(edits)
        tree = tree.visit(editor)
        for index, (call, _, _) in sorted(edits.items()):
            if index in editor.applied:
                self.record(call, ACCEPTS_BOTH, Risk.REVIEW)
            else:  # a safeguard: the visit changed the check's classes
                self.leave_alone(call, "isinstance() against asyncpg.Record could not be found again after the "
                                       "rewrite", SUGGESTION)
        if editor.applied:
            self._helper("Record")
        return tree

    def _both(self, elements: list[cst.BaseExpression], kinds: list[str | None]) -> cst.Tuple:
        """The classes with the helpers' Record after the last of asyncpg's; a bare `Record`
        imported from asyncpg is written `asyncpg.Record`, since `Record` is the helpers' now."""
        classes: list[cst.BaseExpression] = []
        for element, kind in zip(elements, kinds):
            if kind == "asyncpg" and isinstance(element, cst.Name) and element.value == "Record":
                self._drop_import_of(element)
                self._import_asyncpg()
                element = cst.Attribute(cst.Name("asyncpg"), cst.Name("Record"))
            classes.append(element)
        last = max(i for i, kind in enumerate(kinds) if kind == "asyncpg")
        classes.insert(last + 1, cst.Name("Record"))
        return cst.Tuple([cst.Element(c) for c in classes])

    def _import_asyncpg(self) -> None:
        """`import asyncpg` for `asyncpg.Record`, unless the module imports it already; then it
        is read, and must not go with the imports nothing else reads."""
        if self._module_imports_asyncpg():
            return
        AddImportsVisitor.add_needed_import(self.context, "asyncpg")
        # an import an added one rebinds goes even where it is read (pgunify.rewrite.imports): the
        # removal scheduled for `import asyncpg` once nothing reads it would take this one too
        scheduled = self.context.scratch.get(RemoveImportsVisitor.CONTEXT_KEY, [])
        self.context.scratch[RemoveImportsVisitor.CONTEXT_KEY] = [s for s in scheduled if s != ("asyncpg", None, None)]

    def _module_imports_asyncpg(self) -> bool:
        call = next(iter(self._record_checks.values()))[0]
        scope = self.get_metadata(ScopeProvider, call, None)
        return scope is not None and {q.name for q in scope.globals.get_qualified_names_for("asyncpg")} == {"asyncpg"}

    def _record_name_taken(self) -> str | None:
        """Why the helpers' `Record` cannot be imported into this module, or None: the name
        means something else here, or asyncpg's Record is read under it other than in
        annotations (which become the helpers' Record) and the checks widened here."""
        call = next(iter(self._record_checks.values()))[0]
        scope = self.get_metadata(ScopeProvider, call, None)
        if scope is None:
            return "isinstance() against asyncpg.Record where the module's names cannot be resolved"
        module = scope.globals
        bound = {q.name for q in module.get_qualified_names_for("Record")}
        bare = any(isinstance(e, cst.Name) and e.value == "Record" for _, elements, _ in self._record_checks.values()
                   for e in elements)
        if bare and "asyncpg" in module and {q.name for q in module.get_qualified_names_for("asyncpg")} != {"asyncpg"}:
            return "isinstance() against asyncpg.Record where `asyncpg` names something else in this module"
        if any(name not in RECORD_TYPES and not self._helpers_record(name) for name in bound):
            return ("isinstance() against asyncpg.Record where `Record` names something else in this module "
                    f"({', '.join(sorted(bound))}): the raw-SQL helpers' Record cannot be imported beside it")
        widened = {id(e) for _, elements, _ in self._record_checks.values() for e in elements}
        for assignment in module["Record"]:
            for access in assignment.references:
                if id(access.node) not in widened and not self._in_annotation(access.node):
                    return ("isinstance() against asyncpg.Record where asyncpg's `Record` is also read other than in "
                            f"annotations and isinstance() (line {self.line_of(access.node)}): importing the raw-SQL "
                            "helpers' Record would change what that name means")
        return None

    def _in_annotation(self, node: cst.CSTNode) -> bool:
        current = self.get_metadata(ParentNodeProvider, node, None)
        while current is not None and not isinstance(current, cst.BaseStatement):
            if isinstance(current, cst.Annotation):
                return True
            current = self.get_metadata(ParentNodeProvider, current, None)
        return False


class _RecordCheckEditor(cst.CSTTransformer):
    """Puts the widened classes into the isinstance() calls of the rewritten module, found by
    the order the codemod's visit left them in (no call is added or dropped by a rewrite)."""

    def __init__(self, edits: dict[int, tuple[cst.Call, str, cst.Tuple]]) -> None:
        super().__init__()
        self.edits = edits
        self.seen = 0
        self.applied: set[int] = set()

    def leave_Call(self, original_node: cst.Call, updated_node: cst.Call) -> cst.Call:
        if not (isinstance(updated_node.func, cst.Name) and updated_node.func.value == "isinstance"):
            return updated_node
        index = self.seen
        self.seen += 1
        edit = self.edits.get(index)
        if edit is None:
            return updated_node
        _, written, classes = edit
        if len(updated_node.args) != 2 or cst.Module(body=[]).code_for_node(updated_node.args[1].value) != written:
            return updated_node
        self.applied.add(index)
        return updated_node.with_changes(args=[updated_node.args[0], updated_node.args[1].with_changes(value=classes)])
