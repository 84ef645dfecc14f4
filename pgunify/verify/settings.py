"""[tool.pgunify.verify] in the target's pyproject.toml: what `pgunify verify` cannot discover.

Unknown keys are an error, as in [tool.pgunify]; every key is documented in docs/verify.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from pgunify.config import ConfigError, unify_table

ACCEPT_KINDS = ("result", "error", "state", "any")


@dataclass(frozen=True)
class Accepted:
    """A difference the user has looked at and declared harmless."""

    target: str  # fnmatch pattern on "Class.method" or "scenario:NAME"
    kind: str  # result | error | state | any
    reason: str

    def covers(self, target: str, kind: str) -> bool:
        return fnmatchcase(target, self.target) and self.kind in ("any", kind)


@dataclass(frozen=True)
class VerifySettings:
    examples: int = 20
    seed: int = 0
    scenarios: str = "verify"  # directory of scenario files, relative to the target
    schema: tuple[str, ...] = ()  # SQL files (relative paths) or "module:function" callables
    include: tuple[str, ...] = ()  # extra target classes, "module:Class"
    exclude: tuple[str, ...] = ()  # fnmatch patterns on "Class.method" not to call
    build: dict[str, str] = field(default_factory=dict)  # Class -> "module:factory" returning the instance
    env: dict[str, str] = field(default_factory=dict)  # extra environment for both sides
    seed_rows: int = 6  # examples of each creating method run to seed the template database
    clock_tolerance: float = 5.0
    accept: tuple[Accepted, ...] = ()

    def accepted(self, target: str, kind: str) -> Accepted | None:
        return next((a for a in self.accept if a.covers(target, kind)), None)

    def excluded(self, target: str) -> bool:
        return any(fnmatchcase(target, pattern) for pattern in self.exclude)


_KEYS = {"examples", "seed", "scenarios", "schema", "include", "exclude", "build", "env", "seed-rows",
         "clock-tolerance", "accept"}


def load_verify_settings(root: Path) -> VerifySettings:
    table, pyproject = unify_table(root, "verify")
    where = f"{pyproject}: [tool.pgunify.verify]"
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _KEYS:
            raise ConfigError(f"{where} unknown key {key!r}; known: {', '.join(sorted(_KEYS))}")
        name = key.replace("-", "_")
        if key in ("examples", "seed", "seed-rows"):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where} {key} must be a non-negative integer")
        elif key == "clock-tolerance":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where} clock-tolerance must be a non-negative number of seconds")
            value = float(value)
        elif key == "scenarios":
            if not isinstance(value, str):
                raise ConfigError(f"{where} scenarios must be a directory name")
        elif key in ("schema", "include", "exclude"):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where} {key} must be a list of strings")
            value = tuple(value)
        elif key in ("build", "env"):
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f"{where} {key} must be a table of strings")
        elif key == "accept":
            value = tuple(_accepted(item, where) for item in (value if isinstance(value, list) else [None]))
        values[name] = value
    return VerifySettings(**values)


def _accepted(item: Any, where: str) -> Accepted:
    if not isinstance(item, dict) or not isinstance(item.get("target"), str) or not isinstance(item.get("reason"), str) \
            or not item["reason"].strip():
        raise ConfigError(f"{where} accept entries need target = \"Class.method\" and a non-empty reason")
    unknown = set(item) - {"target", "kind", "reason"}
    if unknown:
        raise ConfigError(f"{where} accept: unknown key {sorted(unknown)[0]!r}; known: kind, reason, target")
    kind = item.get("kind", "any")
    if kind not in ACCEPT_KINDS:
        raise ConfigError(f"{where} accept kind must be one of {', '.join(ACCEPT_KINDS)}, not {kind!r}")
    return Accepted(item["target"], kind, item["reason"].strip())
