"""A MigrationPlan for codemod unit tests, without scanning a tree; the repositories codemod's
before/after harness; generated modules loaded from their source."""

from __future__ import annotations

import importlib.util
import sys
import textwrap
import uuid
from pathlib import Path

import libcst as cst
from libcst.codemod import CodemodContext, CodemodTest

from pgunify.codemods.repositories import RepositoryCodemod
from pgunify.rewrite.plan import MigrationPlan


def make_plan(**overrides) -> MigrationPlan:
    values = dict(
        root=Path("/app"),
        import_root=Path("/app"),
        url_var="DATABASE_URL",
        url_default=None,
        secondary_url_vars=frozenset({"ASYNC_DATABASE_URL"}),
        engine_module="app.db.engine",
        engine_path="app/db/engine.py",
    )
    values.update(overrides)
    return MigrationPlan(**values)


REPOSITORIES_PLAN = dict(raw_sql_module="app.db.raw_sql", raw_sql_path="app/db/raw_sql.py", move_asyncpg_pools=True)


class RepositoryCodemodTest(CodemodTest):
    """Before/after checks of the repositories codemod on a module of the application `app`."""

    TRANSFORM = RepositoryCodemod

    def run_codemod(self, source: str) -> RepositoryCodemod:
        """The codemod after a run over `source`, for its changes and the sites it left."""
        context = CodemodContext(filename="/app/app/repo.py", full_module_name="app.repo")
        codemod = RepositoryCodemod(context, make_plan(**REPOSITORIES_PLAN))
        codemod.transform_module(cst.parse_module(textwrap.dedent(source)))
        return codemod

    def check(self, before: str, after: str) -> None:
        context = CodemodContext(filename="/app/app/repo.py", full_module_name="app.repo")
        self.assertCodemod(before, after, make_plan(**REPOSITORIES_PLAN), context_override=context)
        # a second run over the result changes nothing
        self.assertCodemod(after, after, make_plan(**REPOSITORIES_PLAN), context_override=context)


def load_module(tmp_path: Path, name: str, source: str):
    """A module imported from `source` under a name of its own (a generated module, say)."""
    path = tmp_path / f"{name}_{uuid.uuid4().hex}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module
