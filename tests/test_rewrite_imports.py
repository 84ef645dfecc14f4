"""Scheduled imports: the same result as libcst's own Add/RemoveImportsVisitor passes over
the whole module, for every shape of import the codemods meet, and the one rule it adds."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest
from libcst.codemod import CodemodContext
from libcst.codemod.visitors import AddImportsVisitor, RemoveImportsVisitor

from pgunify.rewrite.imports import apply_scheduled_imports

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


# --------------------------------------------------------------------------- #
# Added imports in their sorted place and group (pgunify.rewrite.import_order)
# --------------------------------------------------------------------------- #


def _placed(source: str, added: list[tuple[str, str]], style) -> str:
    context = CodemodContext(full_module_name="app.repo", full_package_name="app")
    for module, name in added:
        AddImportsVisitor.add_needed_import(context, module, name)
    tree = cst.parse_module(textwrap.dedent(source).lstrip())
    return apply_scheduled_imports(tree, context, style).code


def test_added_imports_go_to_their_section_in_sorted_order(tmp_path) -> None:
    from pgunify.rewrite.import_order import ImportStyle

    (tmp_path / "app").mkdir()
    style = ImportStyle(roots=(tmp_path,))
    source = """
        '''Repository.'''

        import logging
        import os

        import asyncpg
        from pydantic import BaseModel

        from app.domain import Alert

        log = logging.getLogger(__name__)
    """
    added = [("sqlalchemy", "text"), ("app.db.raw_sql", "first_record"), ("contextlib", "suppress")]
    assert _placed(source, added, style) == textwrap.dedent("""\
        '''Repository.'''

        import logging
        import os
        from contextlib import suppress

        import asyncpg
        from pydantic import BaseModel
        from sqlalchemy import text

        from app.db.raw_sql import first_record
        from app.domain import Alert

        log = logging.getLogger(__name__)
    """)


def test_a_section_the_module_lacks_is_opened_and_long_imports_are_wrapped(tmp_path) -> None:
    from pgunify.rewrite.import_order import ImportStyle

    style = ImportStyle(line_length=60, first_party=frozenset({"app"}))
    source = """
        import os
        from typing import Any

        CONSTANT = 1
    """
    added = [("app.db.raw_sql", name) for name in ("first_value", "Record", "all_records", "binds")]
    added.append(("sqlalchemy.ext.asyncio", "AsyncEngine"))
    assert _placed(source, added, style) == textwrap.dedent("""\
        import os
        from typing import Any

        from sqlalchemy.ext.asyncio import AsyncEngine

        from app.db.raw_sql import (
            Record,
            all_records,
            binds,
            first_value,
        )

        CONSTANT = 1
    """)


def test_lines_that_were_there_stay_as_they_were(tmp_path) -> None:
    from pgunify.rewrite.import_order import ImportStyle

    # an unsorted legacy block is not sorted: only the added line finds its place
    source = """
        import sys
        import asyncio
        from sqlalchemy import select

        x = 1
    """
    placed = _placed(source, [("sqlalchemy", "text"), ("asyncpg", "Record")], ImportStyle())
    assert placed.startswith("import sys\nimport asyncio\n")
    # merged into the existing `from sqlalchemy import` line, which stays where it was
    assert "from sqlalchemy import select, text\n" in placed
    assert placed.index("\nfrom asyncpg import Record\n") < placed.index("\nfrom sqlalchemy import select, text\n")


def test_the_targets_line_length_and_own_modules_come_from_its_pyproject(tmp_path) -> None:
    from pgunify.rewrite.import_order import DEFAULT_LINE_LENGTH, import_style

    plain = tmp_path / "plain"
    plain.mkdir()
    assert import_style(plain, plain).line_length == DEFAULT_LINE_LENGTH == 88

    configured = tmp_path / "configured"
    configured.mkdir()
    (configured / "pyproject.toml").write_text(
        "[tool.black]\nline-length = 120\n"
        "[tool.ruff]\nline-length = 100\n"
        "[tool.ruff.lint.isort]\nknown-first-party = ['billing.core']\n"
    )
    style = import_style(configured, configured, ("svc.db.engine",))
    assert style.line_length == 100  # ruff's own setting wins over black's
    assert style.first_party == {"billing", "svc"}

    isort_only = tmp_path / "isort_only"
    isort_only.mkdir()
    (isort_only / "pyproject.toml").write_text("[tool.isort]\nline_length = 79\nknown_first_party = ['ledger']\n")
    style = import_style(isort_only, isort_only)
    assert (style.line_length, style.first_party) == (79, {"ledger"})
