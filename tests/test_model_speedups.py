"""Shortcuts the migration takes for speed give what the slower, standard way gives.

The parents of a libcst tree are read from the nodes' fields instead of libcst's
ParentNodeProvider, and the whole-program model cuts a node's source text from lines split
once per module instead of calling `ast.get_source_segment` each time.
"""

from __future__ import annotations

import ast
import textwrap
import gc
from pathlib import Path

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider

from pgunify.facts.flow import Program, Verdict, _calls_with_function, _children, _Module, _survey, walk
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


def _own_nodes(func_node):
    """A function's own code as the model has always gone through it: its body up to the
    functions, classes and lambdas nested there (those nodes themselves included), last to
    first, and every node of its parameters."""
    todo = list(func_node.body) + list(ast.walk(func_node.args))
    while todo:
        node = todo.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))


def _withs_around(call, parents):
    """The with statements around a call, innermost first, up to its function or lambda."""
    found, current = [], parents.get(call)
    while current is not None and not isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        if isinstance(current, (ast.With, ast.AsyncWith)):
            found.append(current)
        current = parents.get(current)
    return tuple(found)


SCOPE_SAMPLE = """
import a
def outer(x=lambda: (y := 1), *, z: int = (w := 2)):
    global g
    from . import b
    for i in range(3):
        def first(): pass
    class Inner:
        q: int = 1
        def method(self): v = 1
    def second(k=(u := 3)):
        async def third():
            async with p.acquire() as conn, q() as r:
                with s:
                    await conn.fetch(t())
        n: int = await pool.acquire()
    f = lambda: (m := 4)
    [j for j in ()]
    import c
"""


def test_one_pass_over_a_tree_finds_what_walking_it_finds():
    sources = [SCOPE_SAMPLE, *(p.read_text(encoding="utf-8") for p in SAMPLES)]
    for source in sources:
        tree = ast.parse(source)
        survey = _survey(tree)
        nodes = list(ast.walk(tree))
        assert survey.imports == [n for n in nodes if isinstance(n, (ast.Import, ast.ImportFrom))]
        parents = {child: node for node in nodes for child in ast.iter_child_nodes(node)}
        for node in nodes:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                own = list(_own_nodes(node))
                scope = survey.scopes[id(node)]
                assert scope.globals == {name for n in own if isinstance(n, ast.Global) for name in n.names}
                assert scope.stores == {n.id for n in own if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
                assert list(reversed(scope.nested)) == [n for n in own if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                assert survey.annotated.get(id(node), []) == [n for n in ast.walk(node) if isinstance(n, ast.AnnAssign)]
        calls = [c for c, _ in survey.calls]
        assert sorted(map(id, calls)) == sorted(id(n) for n in nodes if isinstance(n, ast.Call))
        for call in calls:
            assert survey.withs.get(id(call), ()) == _withs_around(call, parents)
        assert sorted(survey.awaited_acquires) == sorted(
            (n.value.lineno, n.value.col_offset) for n in nodes if isinstance(n, ast.Await)
            and isinstance(n.value, ast.Call) and isinstance(n.value.func, ast.Attribute) and n.value.func.attr == "acquire")
    # the sample has each case the pass tells apart
    sample = _survey(ast.parse(SCOPE_SAMPLE))
    assert sum(len(s.nested) for s in sample.scopes.values()) == 3
    assert len(sample.withs) == 4 and len(sample.awaited_acquires) == 1 and len(sample.imports) == 3
    assert {"y", "w", "i", "f", "j"} <= next(s for s in sample.scopes.values() if "g" in s.globals).stores


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


def test_the_model_built_while_the_workers_scan_is_the_one_the_plan_needs(monkeypatch):
    """The model is built before the plan names the modules the run generates; where a module
    of the tree bears such a name, it is built again with it, and gives what a build that knew
    the names from the start gives."""
    from pgunify.rewrite.model import LegacyModel

    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    sources = {
        "app/__init__.py": "",
        "app/engine.py": "import asyncpg\n\nengine = None\n\nasync def start(dsn):\n    global engine\n"
                         "    engine = await asyncpg.create_pool(dsn)\n",
        "app/repo.py": "from app.engine import engine\n\nasync def names():\n"
                       "    return await engine.fetch('SELECT name FROM t')\n",
    }

    def direct(generated):
        program = Program.build(Path("."), sources.items(), generated)
        return program.receivers

    model = LegacyModel(Path("."), sources)
    model.build(frozenset())
    assert model.learned["receivers"] == direct(())
    model.settle(frozenset({"app.raw_sql"}))  # no module of the tree bears it: nothing changes
    assert model.generated == frozenset()
    assert model.learned["receivers"] == direct({"app.raw_sql"})
    model.settle(frozenset({"app.engine"}))  # the application's own app/engine.py bears it
    assert model.generated == frozenset({"app.engine"})
    assert model.learned["receivers"] == direct({"app.engine"})
    assert direct({"app.engine"}) != direct(())  # the name changes what the model finds there

    marked = {**sources, "app/engine.py": "# Written by `pgunify migrate`\n" + sources["app/engine.py"]}
    model = LegacyModel(Path("."), marked)
    model.build(frozenset())
    model.settle(frozenset({"app.engine"}))  # generated by an earlier run: known by its marker either way
    assert model.generated == frozenset()
    assert model.learned["receivers"] == Program.build(Path("."), marked.items(), {"app.engine"}).receivers


def _everything(program: Program) -> dict:
    """What a model found, in a form two models can be compared by."""
    return {"slots": program.slots, "escapes": sorted(map(repr, program.escapes)), "sites": program.sites,
            "receivers": program.receivers, "annotations": program.asyncpg_annotations,
            "acquires": (program.escaped_acquires, program.driver_acquires, program.dedicated_acquires),
            "attributes": program.attr_index, "core": program.core_sites}


# values that travel the long way: through a class defined after its users, a property, a
# function returning another's result, an attribute set on an object the model cannot follow,
# and a connection handed to code outside the project (an escape); each takes another round
CHAIN = {
    "app/__init__.py": "",
    "app/users.py": textwrap.dedent("""\
        from app.service import Service
        import thirdparty

        async def handler(ctx):
            service = Service(make())
            rows = await service.store.pool.fetch("SELECT 1")
            async with ctx.db.acquire() as conn:
                thirdparty.run(conn)
                await conn.execute("SELECT 2")
            return rows

        def make():
            return build()

        def build():
            from app.db import open_pool
            return open_pool()
        """),
    "app/service.py": textwrap.dedent("""\
        class Store:
            def __init__(self, pool):
                self._pool = pool

            @property
            def pool(self):
                return self._pool


        class Service:
            def __init__(self, pool):
                self.store = Store(pool)
        """),
    "app/db.py": textwrap.dedent("""\
        import asyncpg

        async def open_pool():
            return await asyncpg.create_pool("postgresql://")

        async def setup(bot):
            bot.db = await open_pool()
        """),
}


def test_units_whose_slots_did_not_change_are_not_run_again(monkeypatch):
    """The fixed point runs again only the code whose slots changed; running every unit in
    every round finds the same slots, escapes, verdicts and acquire sites."""
    import pgunify.facts.flow as flow

    samples = [CHAIN, {rel: path.read_text(encoding="utf-8") for rel, path in
                       ((p.relative_to(ROOT / "examples/pepgmp").as_posix(), p)
                        for p in (ROOT / "examples/pepgmp").rglob("*.py"))}]
    runs: list[int] = []
    original = flow.Program._run_unit

    def counted(self, unit):
        runs.append(1)
        return original(self, unit)

    for sources in samples:
        monkeypatch.setattr(flow.Program, "_run_unit", counted)
        runs.clear()
        skipping = Program.build(Path("."), sources.items())
        skipped_runs = len(runs)
        monkeypatch.setattr(flow.Program, "_stale", lambda self, began, reads: True)
        runs.clear()
        every = Program.build(Path("."), sources.items())
        monkeypatch.undo()
        assert _everything(skipping) == _everything(every)
        assert skipped_runs < len(runs)  # some units were not run again
    assert any(site.verdict is Verdict.POOL for site in skipping.sites)
    chain = Program.build(Path("."), CHAIN.items())
    assert chain.escapes and chain.escaped_acquires  # the connection handed to thirdparty.run
    assert {s.receiver: s.verdict for s in chain.sites}["service.store.pool"] is Verdict.POOL
