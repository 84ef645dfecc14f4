"""Values as tagged JSON, so the two sides of a run can be compared by a third process.

A value crosses a process boundary as a small tagged tree: ``["int", 3]``, ``["str", "x"]``,
``["record", names, values]``, ``["obj", "pkg.mod:Class", [[field, value], ...]]``. The tag
keeps what a caller could tell apart (``str`` vs ``dict`` for JSON, ``Decimal`` vs ``float``,
the offset of a datetime, a record vs a mapping vs a tuple), and nothing it could not (the
class that implements a record). The same trees carry call arguments from the parent to
both sides, so both see the very same inputs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import math
import uuid
from typing import Any, Callable

JsonTree = Any  # None | list (tagged) | plain JSON inside the tags


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def load_class(path: str) -> Any:
    module, _, qualname = path.partition(":")
    target: Any = importlib.import_module(module)
    for part in qualname.split("."):
        target = getattr(target, part)
    return target


def _is_record_like(value: Any) -> bool:
    """A row: has keys(), positional and by-name access, but is not a dict."""
    return (not isinstance(value, (dict, str, bytes, list, tuple)) and hasattr(value, "keys")
            and hasattr(value, "__getitem__") and hasattr(value, "__len__") and hasattr(value, "__iter__"))


def encode(value: Any, depth: int = 0) -> JsonTree:
    """The tagged tree of a Python value; what a caller can observe, not how it is built."""
    if depth > 40:
        return ["repr", type(value).__name__, "<too deep>"]
    d = depth + 1
    if value is None:
        return None
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, enum.Enum):
        return ["enum", class_path(type(value)), encode(value.value, d)]
    if isinstance(value, int):
        return ["int", int(value)]
    if isinstance(value, float):
        return ["float", repr(value)]
    if isinstance(value, decimal.Decimal):
        return ["decimal", str(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return ["bytes", bytes(value).hex()]
    if isinstance(value, dt.datetime):
        offset = value.utcoffset()
        return ["datetime", value.isoformat(), None if offset is None else int(offset.total_seconds())]
    if isinstance(value, dt.date):
        return ["date", value.isoformat()]
    if isinstance(value, dt.time):
        return ["time", value.isoformat()]
    if isinstance(value, dt.timedelta):
        return ["timedelta", value.total_seconds()]
    if isinstance(value, uuid.UUID):
        return ["uuid", str(value)]
    if isinstance(value, dict):
        return ["dict", [[encode(k, d), encode(v, d)] for k, v in value.items()]]
    if isinstance(value, list):
        return ["list", [encode(v, d) for v in value]]
    if isinstance(value, tuple):
        return ["tuple", [encode(v, d) for v in value]]
    if isinstance(value, (set, frozenset)):
        items = [encode(v, d) for v in value]
        return ["set", sorted(items, key=repr)]
    if isinstance(value, BaseException):
        return encode_error(value)
    if _is_record_like(value):
        return _encode_record(value, d)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = [[f.name, encode(getattr(value, f.name), d)] for f in dataclasses.fields(value)]
        return ["obj", class_path(type(value)), fields]
    state = getattr(value, "__dict__", None)
    if isinstance(state, dict):  # plain objects and ORM instances: their loaded, public attributes
        attrs = sorted((k, v) for k, v in state.items() if not k.startswith("_"))
        return ["obj", class_path(type(value)), [[k, encode(v, d)] for k, v in attrs]]
    return ["repr", type(value).__name__, repr(value)]


def _encode_record(row: Any, depth: int) -> JsonTree:
    """A row as the caller sees it: its keys, values by position, by name and by iteration.

    Two rows are the same when all four agree, whatever class each one is."""
    try:
        names = [str(k) for k in row.keys()]
        by_position = [encode(row[i], depth) for i in range(len(row))]
        by_name = [encode(row[n], depth) for n in names]
        iterated = [encode(v, depth) for v in row]
    except Exception as exc:  # a row whose access rules are broken is a result of its own
        return ["record-error", type(exc).__name__, str(exc)]
    view: list = ["record", names, by_position]
    if by_name != [by_position[max(i for i, k in enumerate(names) if k == n)] for n in names]:
        view.append(["by-name", by_name])
    if iterated != by_position:
        view.append(["iterates", iterated])
    return view


def sqlstate(exc: BaseException) -> str | None:
    seen = 0
    while exc is not None and seen < 5:
        code = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
        if isinstance(code, str):
            return code
        exc = exc.__cause__ or getattr(exc, "orig", None)
        seen += 1
    return None


def encode_error(exc: BaseException) -> JsonTree:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return ["raise", class_path(type(exc)), sqlstate(exc), message[:300]]


# --------------------------------------------------------------------------- decoding


def decode(tree: JsonTree, resolve: Callable[[str], Any] | None = None) -> Any:
    """The Python value of a tagged tree (the call arguments both sides receive)."""
    if tree is None:
        return None
    if not isinstance(tree, list) or not tree:
        return tree  # plain JSON scalars are accepted as themselves
    tag = tree[0]
    if tag == "bool":
        return bool(tree[1])
    if tag == "int":
        return int(tree[1])
    if tag == "float":
        return float(tree[1])
    if tag == "decimal":
        return decimal.Decimal(tree[1])
    if tag == "str":
        return str(tree[1])
    if tag == "bytes":
        return bytes.fromhex(tree[1])
    if tag == "datetime":
        return dt.datetime.fromisoformat(tree[1])
    if tag == "date":
        return dt.date.fromisoformat(tree[1])
    if tag == "time":
        return dt.time.fromisoformat(tree[1])
    if tag == "timedelta":
        return dt.timedelta(seconds=tree[1])
    if tag == "uuid":
        return uuid.UUID(tree[1])
    if tag == "list":
        return [decode(v, resolve) for v in tree[1]]
    if tag == "tuple":
        return tuple(decode(v, resolve) for v in tree[1])
    if tag == "set":
        return {decode(v, resolve) for v in tree[1]}
    if tag == "dict":
        return {decode(k, resolve): decode(v, resolve) for k, v in tree[1]}
    if tag == "enum":
        return load_class(tree[1])(decode(tree[2], resolve))
    if tag == "obj":
        return load_class(tree[1])(**{k: decode(v, resolve) for k, v in tree[2]})
    if tag == "ref":
        if resolve is None:
            raise ValueError(f"reference {tree[1]!r} outside a scenario")
        return resolve(tree[1])
    raise ValueError(f"cannot decode a value tagged {tag!r}")


# --------------------------------------------------------------------------- rendering


def render(tree: JsonTree, limit: int = 400) -> str:
    """A Python-like, one-line rendering of a tagged tree, for counterexamples."""
    text = _render(tree)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _render(t: JsonTree) -> str:
    if t is None:
        return "None"
    if not isinstance(t, list) or not t:
        return repr(t)
    tag = t[0]
    if tag in ("bool", "int"):
        return repr(t[1])
    if tag == "float":
        return t[1]
    if tag == "str":
        return repr(t[1])
    if tag == "decimal":
        return f"Decimal({t[1]!r})"
    if tag == "bytes":
        return f"bytes.fromhex({t[1]!r})"
    if tag == "datetime":
        return f"datetime({t[1]})"
    if tag in ("date", "time", "uuid"):
        return f"{tag}({t[1]})"
    if tag == "timedelta":
        return f"timedelta(seconds={t[1]})"
    if tag == "list":
        return "[" + ", ".join(_render(v) for v in t[1]) + "]"
    if tag == "tuple":
        return "(" + ", ".join(_render(v) for v in t[1]) + ("," if len(t[1]) == 1 else "") + ")"
    if tag == "set":
        return "{" + ", ".join(_render(v) for v in t[1]) + "}" if t[1] else "set()"
    if tag == "dict":
        return "{" + ", ".join(f"{_render(k)}: {_render(v)}" for k, v in t[1]) + "}"
    if tag == "enum":
        return f"{t[1].rpartition(':')[2]}({_render(t[2])})"
    if tag == "obj":
        return f"{t[1].rpartition(':')[2]}(" + ", ".join(f"{k}={_render(v)}" for k, v in t[2]) + ")"
    if tag == "record":
        body = " ".join(f"{k}={_render(v)}" for k, v in zip(t[1], t[2]))
        extra = "".join(f" [{e[0]}: {', '.join(_render(v) for v in e[1])}]" for e in t[3:])
        return f"<Record {body}>{extra}"
    if tag == "raise":
        state = f" [SQLSTATE {t[2]}]" if t[2] else ""
        return f"raised {t[1].replace(':', '.')}{state}: {t[3]}"
    if tag == "ref":
        return "${" + t[1] + "}"
    if tag == "crash":
        return f"the process died ({t[1]})"
    return f"<{tag} {' '.join(str(x) for x in t[1:])}>"


def is_finite_number(tree: JsonTree) -> bool:
    return isinstance(tree, list) and tree[:1] == ["float"] and math.isfinite(float(tree[1]))
