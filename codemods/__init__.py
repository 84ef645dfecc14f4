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
from .json_columns import JsonColumnsCodemod
from .repositories import RepositoryCodemod
from .schema_startup import SchemaStartupCodemod
from .statement_constants import StatementConstantsCodemod
from .test_patches import TestPatchesCodemod

# Order matters. `repositories` runs first, while receivers can still be traced to
# asyncpg.create_pool(); `json-columns` (opt-in) reads the statements it wrote where they are
# built; `statement-constants` then moves the fixed ones to module constants; `engine` then
# replaces the pools and engines themselves; `config`
# runs after them, when it can see which URL variables nothing reads any more; `schema-startup`
# only acts once `pgunify schema` has written the Alembic baseline; `test-patches` follows the
# engine codemod's replacements into the tests.
REGISTRY: tuple[type[UnifyCodemod], ...] = (
    RepositoryCodemod,
    JsonColumnsCodemod,
    StatementConstantsCodemod,
    EngineCodemod,
    ConfigCodemod,
    SchemaStartupCodemod,
    TestPatchesCodemod,
)


class UnknownCodemod(ValueError):
    pass


def by_name() -> dict[str, type[UnifyCodemod]]:
    return {codemod.info.name: codemod for codemod in REGISTRY}


def select(selected: tuple[str, ...] = (), ignored: tuple[str, ...] = (),
           extended: tuple[str, ...] = ()) -> list[type[UnifyCodemod]]:
    """The codemods to run, in registry order: the selected ones (none selected: every codemod
    that is not opt-in), plus the extended ones, less the ignored ones. Unknown names are an
    error, never ignored."""
    known = by_name()
    unknown = [n for n in list(selected) + list(ignored) + list(extended) if n not in known]
    if unknown:
        raise UnknownCodemod(f"unknown codemod {', '.join(repr(n) for n in unknown)}; known: {', '.join(known)}")

    def wanted(info: CodemodInfo) -> bool:
        if info.name in extended:
            return True
        return info.name in selected if selected else not info.opt_in

    return [c for c in REGISTRY if wanted(c.info) and c.info.name not in ignored]


__all__ = ["REGISTRY", "CodemodInfo", "UnifyCodemod", "UnknownCodemod", "by_name", "select"]
