"""The codemods of `pgunify migrate`, registered in the one place that fixes their order.

Installed as `pgunify.codemods`. To add one: write a module with a UnifyCodemod subclass
(its `info` carries name, summary, risk and docs) and add it to REGISTRY below. A codemod
too large for one module is a package composed of passes (`repositories/`), still one
entry here and one name for `--select`/`--ignore` and the reports.
"""

from __future__ import annotations

from ._base import CodemodInfo, UnifyCodemod
from .config import ConfigCodemod
from .engine import EngineCodemod
from .repositories import RepositoryCodemod
from .schema_startup import SchemaStartupCodemod
from .test_patches import TestPatchesCodemod

# Order matters. `repositories` runs first, while receivers can still be traced to
# asyncpg.create_pool(); `engine` then replaces the pools and engines themselves; `config`
# runs after them, when it can see which URL variables nothing reads any more; `schema-startup`
# only acts once `pgunify schema` has written the Alembic baseline; `test-patches` follows the
# engine codemod's replacements into the tests.
REGISTRY: tuple[type[UnifyCodemod], ...] = (
    RepositoryCodemod,
    EngineCodemod,
    ConfigCodemod,
    SchemaStartupCodemod,
    TestPatchesCodemod,
)


class UnknownCodemod(ValueError):
    pass


def by_name() -> dict[str, type[UnifyCodemod]]:
    return {codemod.info.name: codemod for codemod in REGISTRY}


def select(selected: tuple[str, ...] = (), ignored: tuple[str, ...] = ()) -> list[type[UnifyCodemod]]:
    """The codemods to run, in registry order. Unknown names are an error, never ignored."""
    known = by_name()
    unknown = [n for n in list(selected) + list(ignored) if n not in known]
    if unknown:
        raise UnknownCodemod(f"unknown codemod {', '.join(repr(n) for n in unknown)}; known: {', '.join(known)}")
    return [c for c in REGISTRY if (not selected or c.info.name in selected) and c.info.name not in ignored]


__all__ = ["REGISTRY", "CodemodInfo", "UnifyCodemod", "UnknownCodemod", "by_name", "select"]
