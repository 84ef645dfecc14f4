"""Annotations: `asyncpg.Pool` becomes `AsyncEngine`, `asyncpg.Connection` (and the pool's
connection proxy) `AsyncConnection`, `asyncpg.Record` the raw-SQL helpers' `Record`, inside
`Optional[...]`, `X | None` and other subscripts; the asyncpg imports they no longer need go.
Left as they are: the parameters of a pool's init/setup callback (they get the asyncpg
connection under the engine's), annotations of values only ever given a connection of their
own (`asyncpg.connect()`), and unions of several asyncpg kinds (their calls are marked).
"""

from __future__ import annotations

import libcst as cst
from libcst.codemod.visitors import AddImportsVisitor

from pgunify.facts.api import RECORD_TYPES
from pgunify.facts.receivers import qualified_names

from .base import RepositoryPass

ANNOTATIONS = {
    "asyncpg.Pool": ("sqlalchemy.ext.asyncio", "AsyncEngine"),
    "asyncpg.pool.Pool": ("sqlalchemy.ext.asyncio", "AsyncEngine"),
    "asyncpg.Connection": ("sqlalchemy.ext.asyncio", "AsyncConnection"),
    "asyncpg.connection.Connection": ("sqlalchemy.ext.asyncio", "AsyncConnection"),
    "asyncpg.pool.PoolConnectionProxy": ("sqlalchemy.ext.asyncio", "AsyncConnection"),
}


class Annotations(RepositoryPass):
    """Annotations naming asyncpg's types."""

    def _enter_function(self, node: cst.FunctionDef) -> None:
        """Note whether the function is a pool's init/setup callback."""
        module = self.plan.module_of(self.context.filename or "")
        callbacks = {c.function or c.name for c in self.plan.pool_callbacks if c.module == module}
        self._callbacks.append(node.name.value in callbacks)

    def _annotation(self, original_node: cst.Annotation, updated_node: cst.Annotation) -> cst.Annotation:
        if any(self._callbacks):
            return updated_node  # a pool's init/setup callback gets the asyncpg connection under the engine's
        if self._span(original_node.annotation) in self.plan.asyncpg_annotations.get(self.relative_path(), ()):
            return updated_node  # only ever given a connection of its own (asyncpg.connect()): it stays
        named = self.resolver.annotation_kind(original_node.annotation)
        if named is not None and named.ambiguous:
            return updated_node  # the function keeps taking either; its calls are marked for review
        return updated_node.with_changes(annotation=self._retype(original_node.annotation, updated_node.annotation))

    def _retype(self, original: cst.BaseExpression, updated: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(original, (cst.Name, cst.Attribute)):
            names = qualified_names(self.get_metadata, original)
            for name in names:
                if name in ANNOTATIONS:
                    module, cls = ANNOTATIONS[name]
                    AddImportsVisitor.add_needed_import(self.context, module, cls)
                    self._drop_import_of(original)
                    return cst.Name(cls)
                if name in RECORD_TYPES:
                    self._helper("Record")
                    self._drop_import_of(original)
                    return cst.Name("Record")
            return updated
        if isinstance(original, cst.Subscript) and isinstance(updated, cst.Subscript):
            elements = []
            for old, new in zip(original.slice, updated.slice):
                if isinstance(old.slice, cst.Index) and isinstance(new.slice, cst.Index):
                    new = new.with_changes(slice=new.slice.with_changes(value=self._retype(old.slice.value, new.slice.value)))
                elements.append(new)
            return updated.with_changes(slice=elements)
        if isinstance(original, cst.BinaryOperation) and isinstance(updated, cst.BinaryOperation):
            return updated.with_changes(left=self._retype(original.left, updated.left),
                                        right=self._retype(original.right, updated.right))
        return updated

    def _leave_function(self) -> None:
        self._callbacks.pop()
