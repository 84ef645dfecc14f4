"""A MigrationPlan for codemod unit tests, without scanning a tree."""

from __future__ import annotations

from pathlib import Path

from unify.rewrite.plan import MigrationPlan


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
