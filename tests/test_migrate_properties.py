"""Properties of the migration over generated repository modules, run as `pgunify migrate` runs
the codemods (transform_source, every codemod in registry order):

- the output always parses, and nothing fails;
- a second run over the output changes nothing;
- every statement that was rewritten compiles back to its original (the SQL proof), with
  each bind wired to the argument that carried its `$n`;
- a statement that was not rewritten is left exactly as it was, with a reason.
"""

from __future__ import annotations

import ast

from hypothesis import HealthCheck, given, settings

from codemod_helpers import make_plan
from repository_modules import RepositoryModule, Statement, repository_modules
from pgunify import codemods
from pgunify.rewrite.outcome import Changed, Unchanged
from pgunify.rewrite.runner import transform_source
from pgunify.sql.proof import prove

PROPERTY = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PLAN = make_plan(raw_sql_module="app.db.raw_sql", raw_sql_path="app/db/raw_sql.py", move_asyncpg_pools=True)
NAMES = tuple(c.info.name for c in codemods.REGISTRY)
FILENAME, REL = "/app/app/repo.py", "app/repo.py"


def migrate(source: bytes):
    return transform_source(source, FILENAME, REL, PLAN, NAMES)


def _constants(tree: ast.Module) -> dict[str, str]:
    return {node.targets[0].id: node.value.value for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def _method(tree: ast.Module, index: int) -> ast.AsyncFunctionDef:
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    (method,) = [n for n in cls.body if isinstance(n, ast.AsyncFunctionDef) and n.name == f"op_{index}"]
    return method


def _statement_constants(tree: ast.Module, constants: dict[str, str]) -> dict[str, str]:
    """Module constants that are a text() statement (statement-constants): name -> its SQL."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and _is_text(node.value):
            found[node.targets[0].id] = _text_sql(node.value, constants)
    return found


def _is_text(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "text"


def _text_sql(call: ast.Call, constants: dict[str, str]) -> str:
    (arg,) = call.args
    return constants[arg.id] if isinstance(arg, ast.Name) else arg.value


def _rewritten(method: ast.AsyncFunctionDef, constants: dict[str, str],
               statements: dict[str, str]) -> str | None:
    """The SQL given to text() in one migrated method, built there or as a module constant, or None."""
    for node in ast.walk(method):
        if _is_text(node):
            return _text_sql(node, constants)
        if isinstance(node, ast.Name) and node.id in statements:
            return statements[node.id]
    return None


def _bind_names(method: ast.AsyncFunctionDef, statement: Statement) -> dict[int, str] | None:
    """{n: bind name} read from the bind dict: the key whose value is the argument vN."""
    if statement.many or statement.placeholders == 0:
        return None
    for node in ast.walk(method):
        if isinstance(node, ast.Dict) and node.values and all(isinstance(v, ast.Name) for v in node.values):
            return {int(v.id[1:]): k.value for k, v in zip(node.keys, node.values)}
    raise AssertionError("a rewritten call with placeholders has no bind dict:\n" + ast.unparse(method))


def check_migration(module: RepositoryModule) -> tuple[int, int]:
    """The three properties for one module; (statements rewritten, statements left alone)."""
    outcome = migrate(module.source.encode())
    assert isinstance(outcome, Changed), f"{outcome!r}\n{module.source}"
    compile(outcome.new, FILENAME, "exec", dont_inherit=True, flags=ast.PyCF_ONLY_AST)
    again = migrate(outcome.new)
    assert isinstance(again, Unchanged), f"second run changed the output:\n{outcome.new.decode()}"

    tree = ast.parse(outcome.new)
    constants = _constants(tree)
    statements = _statement_constants(tree, constants)
    rewritten = left = 0
    for index, statement in enumerate(module.statements):
        method = _method(tree, index)
        sql = _rewritten(method, constants, statements)
        if sql is None:
            # left alone: the statement is still the original asyncpg call, with a reason
            assert statement.sql in constants.values() or statement.sql in {
                n.value for n in ast.walk(method) if isinstance(n, ast.Constant)}, ast.unparse(method)
            assert outcome.left_alone, f"statement {index} neither rewritten nor explained"
            left += 1
            continue
        proof = prove(statement.sql, sql, _bind_names(method, statement))
        assert proof.ok, f"{proof.detail}\noriginal: {statement.sql!r}\nrewritten: {sql!r}"
        assert outcome.proven >= 1
        rewritten += 1
    assert outcome.proven == rewritten - _shared_constants(module)
    return rewritten, left


def _shared_constants(module: RepositoryModule) -> int:
    return 0  # every generated constant serves one call: one proof per rewritten statement


@PROPERTY
@given(repository_modules())
def test_migrated_module_parses_is_stable_and_every_statement_is_proven(module):
    check_migration(module)


def test_generator_covers_every_call_form_and_the_migration_rewrites_most():
    """The generator reaches each form, and the codemod rewrites most generated statements
    (a regression that leaves everything alone would pass the properties vacuously)."""
    seen_methods, seen_forms, seen_literals = set(), set(), set()
    totals = [0, 0]

    @settings(max_examples=20, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(repository_modules())
    def collect(module):
        for s in module.statements:
            seen_methods.add(s.method)
            seen_forms.add(s.form)
            seen_literals.add(s.literal)
        rewritten, left = check_migration(module)
        totals[0] += rewritten
        totals[1] += left

    collect()
    assert seen_methods == {"fetch", "fetchrow", "fetchval", "execute", "execute_status", "executemany"}
    assert seen_forms == {"acquire", "pool", "transaction"}
    assert seen_literals == {"plain", "raw", "triple", "constant"}
    assert totals[0] > 2 * totals[1], totals
