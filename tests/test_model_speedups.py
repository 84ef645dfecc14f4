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

from pgunify.facts.flow import Program, _calls_with_function, _children, _Module, walk
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


def _calls_in_order(module, by_node):
    """The order the model has always used: calls depth first, each with its function."""

    def visit(node, func):
        for child in ast.iter_child_nodes(node):
            inner = by_node.get(id(child), func) if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
            if isinstance(child, ast.Call):
                yield child, inner
            yield from visit(child, inner)

    return list(visit(module.tree, None))


def test_the_model_walks_trees_in_the_standard_order():
    sources = [(path.relative_to(ROOT).as_posix(), path.read_text(encoding="utf-8")) for path in SAMPLES[::5]]
    program = Program.build(ROOT, sources)
    assert len(program.modules) > 10
    in_functions = 0
    for module in program.modules.values():
        assert [id(n) for n in walk(module.tree)] == [id(n) for n in ast.walk(module.tree)], module.path
        for node in ast.walk(module.tree):
            assert _children(node) == list(ast.iter_child_nodes(node))
        expected = _calls_in_order(module, program.functions_by_node(module.name))
        found = _calls_with_function(module, program)
        assert [(id(c), f and f.qualname) for c, f in found] == [(id(c), f and f.qualname) for c, f in expected]
        in_functions += sum(f is not None for _, f in found)
    assert in_functions > 100


def test_a_model_of_the_rewritten_tree_parses_only_what_changed():
    before = [("app/db.py", "import asyncpg\n\nasync def open_pool(dsn):\n    return await asyncpg.create_pool(dsn)\n"),
              ("app/repo.py", "async def names(pool):\n    return await pool.fetch('SELECT name FROM t')\n")]
    legacy = Program.build(Path("."), before)
    after = [before[0], ("app/repo.py", "async def names(conn):\n    return await conn.fetch('SELECT name FROM t')\n")]
    fresh = Program.build(Path("."), after)
    rebuilt = Program.build(Path("."), after, previous=legacy)
    assert rebuilt.modules["app.db"].tree is legacy.modules["app.db"].tree
    assert rebuilt.modules["app.repo"].tree is not legacy.modules["app.repo"].tree
    assert [s.receiver for s in rebuilt.sites] == [s.receiver for s in fresh.sites] == ["conn"]
    assert rebuilt.sites == fresh.sites
