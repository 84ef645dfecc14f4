"""Calls aimed at one statement: with `--mutants`, more calls for each statement text the run reached.

A method that builds its SQL from the filters it was given (`WHERE camera_id = $1 AND
severity = ANY($2)` only when both came) sends a different statement for every
combination of present and absent arguments, so twenty generated calls reach each text
once or twice, and mostly with values no row holds: a mutant of that text survives for
want of a call, not because it cannot be told apart. For each statement, the run makes
further calls of the method that sent it:

- with the same arguments present and absent as a call that sent it (the pattern that
  produced that text), so the new calls send it too;
- the present ones taken from one seeded row of the method's table (an argument named
  like a column gets that row's value, a datetime argument that row's timestamp, exactly
  or a small step to either side), so the filters match rows, several when seed copies
  share the values, and bounds fall on a row's timestamp (`>=` against `>`);
- or drawn afresh from the method's strategy (another present value of each argument).

Everything here is pure: the calls are values; the run sends them.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

# a datetime argument anchored on a row's timestamp: the edge itself, a hair to either
# side, and windows that hold the row or leave it out
STEPS = [dt.timedelta(0), dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1),
         dt.timedelta(hours=1), dt.timedelta(hours=-1), dt.timedelta(days=3), dt.timedelta(days=-3),
         dt.timedelta(days=60), dt.timedelta(days=-60)]


# page arguments of an anchored call: small, so the rows that match outnumber the page
LIMITS = {"limit": [1, 2, 3], "page_size": [1, 2, 3], "size": [1, 2, 3], "per_page": [1, 2, 3],
          "offset": [0, 0, 1], "skip": [0, 0, 1]}


SIZES = [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(hours=1), dt.timedelta(days=3)]
# signs of the steps of the datetime arguments of one anchored call, in their order: a
# window [first, second) around the row, its edges, and windows that leave the row out
SIGNS = [(-1, 1), (0, 1), (-1, 0), (0, 0), (1, -1), (-1, -1), (1, 1)]


def present(value: Any) -> bool:
    """Whether an encoded argument counts as given: not None and not empty (`if severity:`
    treats "" and [] like None, so they belong with the absent ones)."""
    if value is None:
        return False
    if isinstance(value, list) and len(value) >= 2:
        tag, inner = value[0], value[1]
        if tag == "str" and inner == "":
            return False
        if tag in ("list", "tuple", "dict") and isinstance(inner, list) and not inner:
            return False
    return True


def pattern(call: dict) -> tuple:
    """The presence pattern of a call: which positional and keyword arguments are given."""
    return (tuple(present(a) for a in call.get("args", [])),
            tuple(sorted((k, present(v)) for k, v in call.get("kwargs", {}).items())))


def table_of(owner: str, tables: list[str]) -> str | None:
    """The table a class is named after (PostgreSQLDetectionRecordRepository: detection_records)."""
    stem = owner.lower()
    for suffix in ("dao", "repository", "store", "repo"):
        stem = stem.removesuffix(suffix)
    stem = stem.removeprefix("postgresql")
    if not stem:
        return None
    flat = {t: t.split(".")[-1].replace("_", "").lower() for t in tables}
    for table, name in flat.items():
        if name in (stem, stem + "s", stem + "es"):
            return table
    return next((t for t, name in flat.items() if name.startswith(stem)), None)


def _column(name: str, row: dict, table: str | None) -> str | None:
    """The column of `row` an argument named `name` stands for: the same name, its singular,
    or `id` for `<table>_id`/`<table>_ids`."""
    bare = name
    for prefix in ("min_", "max_", "from_", "to_"):
        bare = bare.removeprefix(prefix)
    for candidate in (name, name[:-1] if name.endswith("s") else None, bare):
        if candidate and candidate in row:
            return candidate
    if table:
        stem = table.split(".")[-1].rstrip("s")
        if name in (f"{stem}_id", f"{stem}_ids") and "id" in row:
            return "id"
    return None


def _stamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.timezone.utc)


def _scalar(tag: str, value: Any) -> list | None:
    """A row's value encoded like an argument of kind `tag`, or None when it does not fit."""
    if value is None:
        return None
    if tag == "int" and isinstance(value, int) and not isinstance(value, bool):
        return ["int", value]
    if tag == "str" and isinstance(value, str) and value != "":
        return ["str", value]
    if tag == "bool" and isinstance(value, bool):
        return ["bool", value]
    if tag == "decimal" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return ["decimal", str(value)]
    if tag == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return ["float", repr(float(value))]
    return None


def _fits(tag: str, value: Any) -> Any:
    return _scalar(tag, value) if tag in ("int", "str", "bool", "decimal", "float") else value


def _nested(value: Any, name: str) -> list[str]:
    """Strings inside a JSON value under a key the argument is named after (`object_class`:
    the `class` of `[{"class": "person"}]`)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if isinstance(inner, str) and (name == key or name.endswith("_" + key)):
                found.append(inner)
            else:
                found += _nested(inner, name)
    elif isinstance(value, list):
        for inner in value:
            found += _nested(inner, name)
    return found


def anchored(value: Any, name: str, row: dict, table: str | None, stamps: list[str], rng: random.Random,
             sign: int | None = None) -> Any:
    """`value` (a present argument) made from `row`, or None when the row has nothing for it."""
    if not (isinstance(value, list) and value and isinstance(value[0], str)):
        return None
    tag = value[0]
    if tag == "datetime":
        column = _column(name, row, table)
        choices = [column] if column and _stamp(row.get(column)) else [c for c in stamps if _stamp(row.get(c))]
        if not choices:
            return None
        stamp = _stamp(row[rng.choice(choices)]) + (rng.choice(STEPS) if sign is None else sign * rng.choice(SIZES))
        return ["datetime", stamp.isoformat(), *value[2:]]
    if tag == "int" and name in LIMITS:
        return ["int", rng.choice(LIMITS[name])]
    column = _column(name, row, table)
    if column is not None and _fits(tag, row[column]) is None and name.startswith(("min_", "max_")):
        column = None  # `min_objects` against a JSON `objects`: no value to take from it
    if column is None and tag in ("int", "decimal", "float") and name.startswith("min_"):
        return _scalar(tag, rng.choice([0, 1]))  # a lower bound most rows meet
    if column is None:
        nested = _nested([v for v in row.values() if isinstance(v, (dict, list))], name) if tag == "str" else []
        if nested:
            return ["str", rng.choice(nested)]
        if tag == "str":  # a search text: a piece of one of the row's text values
            texts = [v for v in row.values() if isinstance(v, str) and v and _stamp(v) is None]
            if texts:
                text = rng.choice(texts)
                return ["str", text[:max(1, len(text) // 2)] if rng.random() < 0.5 else text]
        return None
    if tag == "enum" and len(value) == 3 and isinstance(value[2], list) and value[2][:1] == ["str"]:
        return ["enum", value[1], ["str", row[column]]] if isinstance(row[column], str) else None
    if tag in ("list", "tuple") and isinstance(value[1], list) and value[1]:
        item = value[1][0]
        if isinstance(item, list) and item and isinstance(item[0], str):
            made = _scalar(item[0], row[column])
            return [tag, [made]] if made is not None else None
        return None
    return _scalar(tag, row[column])


def aimed_calls(sources: list[dict], pool: list[dict], rows: list[dict], table: str | None, stamps: list[str],
                count: int, rng: random.Random, positional: list[str] = ()) -> list[dict]:
    """`count` calls with the presence pattern of the `sources` (calls that sent one
    statement): two in three anchored on a seeded row, the rest recombined from `pool`
    (calls drawn from the method's strategy). `positional`: the names of the positional
    parameters. Calls equal to a source or to each other are left out."""
    out: list[dict] = []
    seen = {repr(s) for s in sources}
    for k in range(count * 3):
        if len(out) >= count:
            break
        source = sources[k % len(sources)]
        row = rng.choice(rows) if rows and k % 3 != 2 else None
        donor = rng.choice(pool) if pool else {"args": [], "kwargs": {}}
        signs = iter(SIGNS[k % len(SIGNS)] + (None,) * 8) if row is not None else iter(())
        donor_args = donor.get("args", [])
        args = [_one(value, positional[i] if i < len(positional) else None,
                     donor_args[i] if i < len(donor_args) else None, row, table, stamps, rng, signs)
                for i, value in enumerate(source.get("args", []))]
        kwargs = {name: _one(value, name, donor.get("kwargs", {}).get(name), row, table, stamps, rng, signs)
                  for name, value in source.get("kwargs", {}).items()}
        call = {"args": args, "kwargs": kwargs}
        if repr(call) not in seen:
            seen.add(repr(call))
            out.append(call)
    return out


def _one(value: Any, name: str | None, other: Any, row: dict | None, table: str | None,
         stamps: list[str], rng: random.Random, signs: Any = iter(())) -> Any:
    if not present(value):
        return value  # absent stays absent: the statement text depends on it
    if row is not None and name is not None:
        sign = next(signs, None) if isinstance(value, list) and value[:1] == ["datetime"] else None
        made = anchored(value, name, row, table, stamps, rng, sign)
        if made is not None:
            return made
    if present(other) and isinstance(other, list) and isinstance(value, list) and other[:1] == value[:1]:
        return other
    return value
