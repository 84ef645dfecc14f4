"""Shortcuts the migration takes for speed give what the slower, standard way gives.

The parents of a libcst tree are read from the nodes' fields instead of libcst's
ParentNodeProvider, and the whole-program model cuts a node's source text from lines split
once per module instead of calling `ast.get_source_segment` each time.
"""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider

from pgunify.facts.flow import Program, _Module
from pgunify.facts.parents import parent_map, resolve_parents

ROOT = Path(__file__).resolve().parents[1]
# every kind of source the migration reads: repositories, engines, tests, and pgunify itself
SAMPLES = sorted([*ROOT.glob("examples/*/**/*.py"), *ROOT.glob("codemods/**/*.py"), *ROOT.glob("pgunify/facts/*.py")])
# line ends Python's parser knows (\r\n, \r, \n) and characters str.splitlines() also breaks at
ODD = "x = 1\r\ny = (a,\r b)\n\x0cz = 'é' + f(\n  ñ, \x0c q)\rw = g('\x1cü\x1d\v')\nv = '''a\r\nb\rc\x85d'''\n"


def test_parents_from_fields_are_libcst_parents():
    assert len(SAMPLES) > 50
    for path in SAMPLES:
        module = cst.parse_module(path.read_bytes())
        expected = MetadataWrapper(module, unsafe_skip_copy=True).resolve(ParentNodeProvider)
        found = parent_map(module)
        assert len(found) == len(expected), path
        assert all(found[node] is parent for node, parent in expected.items()), path


def test_visitors_read_the_parents_given_to_the_wrapper():
    module = cst.parse_module("async def f(pool):\n    async with pool.acquire() as conn:\n        await conn.fetch('q')\n")
    wrapper = MetadataWrapper(module, unsafe_skip_copy=True)
    resolve_parents(wrapper)
    seen = []

    class Calls(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (ParentNodeProvider,)

        def visit_Call(self, node: cst.Call) -> None:
            seen.append(type(self.get_metadata(ParentNodeProvider, node)).__name__)

    wrapper.visit(Calls())
    assert seen == ["WithItem", "Await"]
    assert wrapper.resolve(ParentNodeProvider) is wrapper.resolve(ParentNodeProvider)


def test_source_segments_match_the_standard_library():
    for source in [ODD, *(p.read_text(encoding="utf-8") for p in SAMPLES[:40])]:
        tree = ast.parse(source)
        module = _Module("m", "m.py", tree, source)
        for node in ast.walk(tree):
            if isinstance(node, (ast.expr, ast.stmt)):
                assert module.segment(node) == (ast.get_source_segment(source, node) or ""), ast.dump(node)


def test_the_model_leaves_the_collector_as_it_found_it():
    gc.disable()
    try:
        Program.build(Path("."), [("a.py", "import asyncpg\npool = asyncpg.create_pool('x')\n")])
        assert not gc.isenabled()
    finally:
        gc.enable()
    Program.build(Path("."), [("a.py", "import asyncpg\npool = asyncpg.create_pool('x')\n")])
    assert gc.isenabled()
