"""Settings of one run: [tool.pgunify] in the target's pyproject.toml, then command-line overrides."""

from __future__ import annotations

import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


class ConfigError(ValueError):
    """A setting that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class Settings:
    select: tuple[str, ...] = ()  # codemod names to run (empty: all but the opt-in ones)
    extend_select: tuple[str, ...] = ()  # opt-in codemods to run besides the selected ones
    ignore: tuple[str, ...] = ()  # codemod names not to run
    exclude: tuple[str, ...] = ()  # gitignore-style patterns
    respect_gitignore: bool = True
    jobs: int = 0  # 0: one process per core, up to 8
    engine_module: str | None = None  # dotted module of the shared engine, e.g. "app.db.engine"
    import_root: str | None = None  # directory (relative to the target) that top-level packages live in
    url_var: str | None = None  # the one environment variable with the database URL

    @property
    def workers(self) -> int:
        import os

        return self.jobs or max(1, min(os.cpu_count() or 1, 8))

    def with_overrides(self, **values: Any) -> "Settings":
        given = {k: v for k, v in values.items() if v is not None and v != () and v != []}
        for key in ("select", "extend_select", "ignore", "exclude"):
            if key in given:
                given[key] = tuple(given[key])
        return replace(self, **given)


_LIST_KEYS = {"select", "extend_select", "ignore", "exclude"}


# the sub-tables of [tool.pgunify], each read by its command; any other is an unknown key
SECTIONS = ("schema", "verify")


def find_pyproject(start: Path) -> Path:
    """The pyproject.toml that configures a run on `start`: the nearest one, from start upward,
    that has a [tool.pgunify] table (as ruff finds [tool.ruff]); start/pyproject.toml when none
    has. A file that does not parse on the way is an error, not a file to pass over."""
    start = start.resolve()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        pyproject = candidate / "pyproject.toml"
        if pyproject.is_file():
            tool = _read(pyproject).get("tool", {})
            if isinstance(tool, dict) and "pgunify" in tool:
                return pyproject
    return directory / "pyproject.toml"


def _read(pyproject: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{pyproject}: cannot read: {exc.strerror or exc}") from exc


def unify_table(root: Path, section: str | None = None) -> tuple[dict[str, Any], Path]:
    """[tool.pgunify], or its [tool.pgunify.SECTION], from the pyproject.toml find_pyproject picks
    for root, with that file to name in messages.

    An absent file or table reads as empty, so every command falls back to its defaults.
    """
    pyproject = find_pyproject(root)
    if not pyproject.is_file():
        return {}, pyproject
    data = _read(pyproject)
    table = data.get("tool", {}).get("pgunify", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.pgunify] must be a table")
    if section is not None:
        table = table.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{pyproject}: [tool.pgunify.{section}] must be a table")
    return table, pyproject


def load_settings(target: Path) -> Settings:
    """Read [tool.pgunify] (absent file or table: defaults) and check all of it, the sub-tables of
    other commands included: every command rejects the same unknown keys with the same message."""
    root = target if target.is_dir() else target.parent
    table, pyproject = unify_table(root)
    known = {f.name.replace("_", "-"): f.name for f in fields(Settings)}
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in SECTIONS:
            continue  # checked below, by the reader of each section
        name = known.get(key) or (key if key in known.values() else None)
        if name is None:
            raise ConfigError(f"{pyproject}: unknown key [tool.pgunify] {key!r}; "
                              f"known: {', '.join(sorted([*known, *SECTIONS]))}")
        if name in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{pyproject}: [tool.pgunify] {key} must be a list of strings")
            value = tuple(value)
        elif name == "jobs" and (not isinstance(value, int) or value < 1):
            raise ConfigError(f"{pyproject}: [tool.pgunify] jobs must be a positive integer")
        elif name == "respect_gitignore" and not isinstance(value, bool):
            raise ConfigError(f"{pyproject}: [tool.pgunify] respect-gitignore must be true or false")
        elif name in ("engine_module", "import_root", "url_var") and not isinstance(value, str):
            raise ConfigError(f"{pyproject}: [tool.pgunify] {key} must be a string")
        values[name] = value
    _check_sections(root)
    return Settings(**values)


def _check_sections(root: Path) -> None:
    from pgunify.verify.settings import load_verify_settings

    schema_settings(root)
    load_verify_settings(root)


def schema_settings(root: Path) -> dict:
    """[tool.pgunify.schema], checked (read here, so every command checks it without loading `pgunify schema`)."""
    table, pyproject = unify_table(root, "schema")
    unknown = set(table) - {"tables-module", "migrations-table"}
    if unknown:
        raise ConfigError(f"{pyproject}: unknown key [tool.pgunify.schema] {sorted(unknown)[0]!r}; "
                          "known: tables-module, migrations-table")
    choice = table.get("migrations-table")
    if choice is not None and choice not in ("take-over", "retire"):
        raise ConfigError(f"{pyproject}: [tool.pgunify.schema] migrations-table must be \"take-over\" or \"retire\"")
    value = table.get("tables-module")
    if value is not None and (not isinstance(value, str) or not all(p.isidentifier() for p in value.split("."))):
        raise ConfigError(f"{pyproject}: [tool.pgunify.schema] tables-module must be a dotted module name")
    return table
