"""Scenario files: stateful flows (create, update, list, delete) written as TOML.

    [[scenario]]
    name = "camera lifecycle"

    [[scenario.step]]
    call = "PostgreSQLCameraRepository.create"
    args = [{ "$new" = "src.domain.camera:Camera", name = "gate", status = "active" }]
    save = "cam"

    [[scenario.step]]
    call = "PostgreSQLCameraRepository.update_status"
    args = ["${cam.id}", "maintenance"]

A string that is exactly "${name.path}" refers to an earlier step's result (saved with
`save`), followed by attributes, keys and [indexes]. Tables with "$new", "$enum",
"$decimal", "$uuid", "$tuple" or "$bytes" build those values; see docs/verify.md.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pgunify.verify.codec import encode

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_REF = re.compile(r"^\$\{([A-Za-z_][^}]*)\}$")


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the file and the step."""


@dataclass(frozen=True)
class Step:
    target: str  # class name
    method: str
    args: list
    kwargs: dict
    save: str | None = None

    @property
    def call(self) -> str:
        return f"{self.target}.{self.method}"


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    steps: tuple[Step, ...] = field(default_factory=tuple)


def to_tree(value: Any, where: str) -> Any:
    """A TOML value as the tagged tree both sides decode."""
    if isinstance(value, (bool, int, float, dt.date, dt.time)):  # dt.date covers datetimes too
        return encode(value)
    if isinstance(value, str):
        match = _REF.match(value)
        return ["ref", match.group(1)] if match else ["str", value]
    if isinstance(value, list):
        return ["list", [to_tree(v, where) for v in value]]
    if isinstance(value, dict):
        if "$new" in value:
            return ["obj", str(value["$new"]), [[k, to_tree(v, where)] for k, v in value.items() if k != "$new"]]
        if "$enum" in value:
            return ["enum", str(value["$enum"]), to_tree(value.get("value"), where)]
        if "$decimal" in value:
            return ["decimal", str(value["$decimal"])]
        if "$uuid" in value:
            return ["uuid", str(value["$uuid"])]
        if "$bytes" in value:
            return ["bytes", str(value["$bytes"])]
        if "$tuple" in value:
            return ["tuple", [to_tree(v, where) for v in value["$tuple"]]]
        if "$none" in value:
            return None
        unknown = [k for k in value if k.startswith("$")]
        if unknown:
            raise ScenarioError(f"{where}: unknown constructor {unknown[0]!r} (known: $new, $enum, $decimal, $uuid, "
                                "$bytes, $tuple, $none)")
        return ["dict", [[["str", k], to_tree(v, where)] for k, v in value.items()]]
    raise ScenarioError(f"{where}: cannot use a value of type {type(value).__name__}")


def load_scenarios(folder: Path, root: Path) -> list[Scenario]:
    if not folder.is_dir():
        return []
    scenarios: list[Scenario] = []
    for path in sorted(folder.glob("*.toml")):
        rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ScenarioError(f"{rel}: not valid TOML: {exc}") from exc
        unknown = set(data) - {"scenario"}
        if unknown:
            raise ScenarioError(f"{rel}: unknown top-level key {sorted(unknown)[0]!r}; scenarios go in [[scenario]] tables")
        for number, raw in enumerate(data.get("scenario", []), start=1):
            where = f"{rel}, scenario {number}"
            if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
                raise ScenarioError(f"{where}: needs name = \"...\"")
            steps = []
            for index, step in enumerate(raw.get("step", []), start=1):
                here = f"{where} ({raw['name']}), step {index}"
                if not isinstance(step, dict) or not isinstance(step.get("call"), str) or "." not in step["call"]:
                    raise ScenarioError(f"{here}: needs call = \"Class.method\"")
                extra = set(step) - {"call", "args", "kwargs", "save"}
                if extra:
                    raise ScenarioError(f"{here}: unknown key {sorted(extra)[0]!r}; known: args, call, kwargs, save")
                args, kwargs = step.get("args", []), step.get("kwargs", {})
                if not isinstance(args, list) or not isinstance(kwargs, dict):
                    raise ScenarioError(f"{here}: args must be an array and kwargs a table")
                target, _, method = step["call"].rpartition(".")
                steps.append(Step(target, method, [to_tree(a, here) for a in args],
                                  {k: to_tree(v, here) for k, v in kwargs.items()}, step.get("save")))
            if not steps:
                raise ScenarioError(f"{where} ({raw['name']}): has no [[scenario.step]]")
            scenarios.append(Scenario(raw["name"], rel, tuple(steps)))
    return scenarios
