"""Scheduled imports: the same result as libcst's own Add/RemoveImportsVisitor passes over
the whole module, for every shape of import the codemods meet, and the one rule it adds."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from unify.rewrite.imports import apply_scheduled_imports

ADD = [("app.db.raw_sql", "first_record"), ("sqlalchemy", "text")]
REMOVE = [("asyncpg", None, None), ("asyncpg", "Pool", None), ("asyncpg", "Connection", "Conn"),
          ("app.db.pool", "get_pool", None)]

MODULES = {
    "unused after the rewrite": """
        '''Docstring.'''
        import asyncpg
        from asyncpg import Pool

        async def get(engine):
            return 1
    """,
    "still read": """
        import asyncpg

        async def get(engine):
            try:
                return 1
            except asyncpg.UniqueViolationError:
                return None
    """,
    "read only in a string annotation": """
        from asyncpg import Pool

        def make(pool: "Pool") -> None:
            pass
    """,
    "exported through __all__": """
        from asyncpg import Pool

        __all__ = ["Pool"]
    """,
    "one alias of several, with comments and parentheses": """
        from asyncpg import (  # the driver
            Connection as Conn,  # aliased
            Pool,
            Record,
        )
        from sqlalchemy import select

        x: Record = select
    """,
    "several imports on one line": """
        import os; import asyncpg

        print(os.sep)
    """,
    "import inside a function": """
        def connect():
            import asyncpg
            return 1
    """,
    "import after code, and a conditional import": """
        import logging

        log = logging.getLogger(__name__)

        from asyncpg import Pool

        try:
            import asyncpg
        except ImportError:
            asyncpg = None
    """,
    "relative import": """
        from .pool import get_pool
        from . import pool

        async def f():
            return pool
    """,
    "shadowed by a local": """
        import asyncpg

        def f(asyncpg):
            return asyncpg
    """,
    "already imports what is added": """
        from sqlalchemy import text
        import asyncpg

        q = text("SELECT 1")
    """,
    "no imports at all": """
        x = 1
    """,
    "only a docstring": '''
        """Only this."""
    ''',
    "future import first": """
        from __future__ import annotations
        # the pool
        import asyncpg
        # code follows

        VALUE = 1
    """,
}


def _context() -> CodemodContext:
    return CodemodContext(filename="/app/app/repo/mod.py", full_module_name="app.db.mod", full_package_name="app.db")


def _schedule(context: CodemodContext, add: bool, remove: bool) -> None:
    if add:
        for module, obj in ADD:
            AddImportsVisitor.add_needed_import(context, module, obj)
    if remove:
        for module, obj, asname in REMOVE:
            RemoveImportsVisitor.remove_unused_import(context, module, obj, asname)


def _libcst_reference(tree: cst.Module, add: bool, remove: bool) -> str:
    """What libcst's CodemodCommand does after a codemod: both visitors over the whole module."""
    context = _context()
    _schedule(context, add, remove)
    if add:
        tree = AddImportsVisitor(context).transform_module(tree)
    if remove:
        tree = RemoveImportsVisitor(context).transform_module(tree)
    return tree.code


@pytest.mark.parametrize("add,remove", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_same_result_as_libcst_whole_module_passes(name, add, remove):
    tree = cst.parse_module(textwrap.dedent(MODULES[name]).lstrip("\n"))
    context = _context()
    _schedule(context, add, remove)
    ours = apply_scheduled_imports(tree, context).code
    reference = _libcst_reference(tree, add, remove)
    if name == "shadowed by a local" and remove:
        # conservative on purpose: a name read anywhere keeps its import
        assert "import asyncpg" in ours and "import asyncpg" not in reference
        return
    assert ours == reference


def test_import_rebound_by_an_added_import_goes_although_the_name_is_read():
    tree = cst.parse_module("from asyncpg import Pool, Record\n\n\ndef f(r: Record) -> Record:\n    return r\n")
    context = _context()
    AddImportsVisitor.add_needed_import(context, "app.db.raw_sql", "Record")
    RemoveImportsVisitor.remove_unused_import(context, "asyncpg", "Record")
    RemoveImportsVisitor.remove_unused_import(context, "asyncpg", "Pool")
    out = apply_scheduled_imports(tree, context).code
    assert "asyncpg" not in out
    assert out.startswith("from app.db.raw_sql import Record\n")
    assert "def f(r: Record) -> Record:" in out


def test_nothing_scheduled_leaves_the_tree_as_it_is():
    tree = cst.parse_module("import asyncpg\n")
    assert apply_scheduled_imports(tree, _context()) is tree
