"""Calls aimed at one statement: with `--mutants`, more calls for each statement text the run reached.

A method that builds its SQL from the filters it was given (`WHERE camera_id = $1 AND
severity = ANY($2)` only when both came) sends a different statement for every
combination of present and absent arguments, so twenty generated calls reach each text
once or twice, and mostly with values no row holds: a mutant of that text survives for
want of a call, not because it cannot be told apart. For each statement, the run makes
further calls of the method that sent it:

- with the same arguments present and absent as a call that sent it (the pattern that
  produced that text), so the new calls send it too;
- the present ones taken from one seeded row of the statement's table, chosen from the
  largest groups of rows that agree on what the arguments would take from them (an
  argument named like a column gets that row's value, a datetime argument that row's
  timestamp, exactly or a small step to either side), so the filters match several rows
  and bounds fall on a row's timestamp (`>=` against `>`); page arguments from around the
  size of that group, so a page holds fewer rows than match, all of them, or one more;
- or drawn afresh from the method's strategy (another present value of each argument).

Everything here is pure: the calls are values; the run sends them.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

# a datetime argument anchored on a row's timestamp: the edge itself, a hair to either
# side, and windows that hold the row or leave it out
STEPS = [dt.timedelta(0), dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1),
         dt.timedelta(hours=1), dt.timedelta(hours=-1), dt.timedelta(days=3), dt.timedelta(days=-3),
         dt.timedelta(days=60), dt.timedelta(days=-60)]


# page arguments of an anchored call: the page size around the number of rows that match
# (fewer, all, one more), so a LIMIT + 1 and the rows past an OFFSET show
PAGES = ("limit", "page_size", "size", "per_page")
OFFSETS = ("offset", "skip")


def page_values(name: str, matching: int) -> list[int]:
    """Values of a page argument of an anchored call, when `matching` seeded rows agree with
    the anchor row on the call's other arguments."""
    if name in OFFSETS:
        return [0, 0, 1, 2] if matching > 2 else [0, 0, 1]
    return sorted({1, 2, max(1, matching - 1), max(1, matching), matching + 1})


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
    """The column of `row` an argument named `name` stands for: the same name, its singular
    or plural, without a `min_`/`max_` prefix, a count of it (`min_objects`: `object_count`),
    or `id` for `<table>_id`/`<table>_ids`."""
    bare = name
    for prefix in ("min_", "max_", "from_", "to_"):
        bare = bare.removeprefix(prefix)
    one = bare[:-1] if bare.endswith("s") else bare
    for candidate in (name, name[:-1] if name.endswith("s") else None, name + "s", bare,
                      *((f"{one}_count", f"{bare}_count") if bare != name else ())):
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
             sign: int | None = None, matching: int = 3, keys: Any = (), known: Any = ()) -> Any:
    """`value` (a present argument) made from `row`, or None when the row has nothing for it.
    `keys`: the keys of the row and of the rest of its group, for arguments named like an
    id that no column of any table is named after (`keep_id`, `duplicate_id`: one row each;
    `known`: the column names of all tables)."""
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
    if tag == "int" and name in PAGES + OFFSETS:
        return ["int", rng.choice(page_values(name, matching))]
    column = _column(name, row, table)
    if column is not None and _fits(tag, row[column]) is None and name.startswith(("min_", "max_")):
        column = None  # `min_objects` against a JSON `objects`: no value to take from it
    if column is None and tag == "dict" and isinstance(value[1], list) and value[1] \
            and all(isinstance(k, list) and k[:1] == ["int"] for k, _ in value[1]):
        # a mapping keyed by ids (`{reminder_id: minutes}`): the row's, its group's and a near row's
        ids = [k for k in keys if isinstance(k, int) and not isinstance(k, bool)]
        picked = [ids[0], *ids[-2:]] if ids else []
        return ["dict", [[["int", k], value[1][i % len(value[1])][1]] for i, k in enumerate(dict.fromkeys(picked))]] \
            if picked else None
    if column is None and name.endswith(("_id", "_ids")) and tag in ("int", "list", "tuple") and name not in known:
        key = next(iter(keys), None)
        if isinstance(key, int) and not isinstance(key, bool):
            return ["int", key] if tag == "int" else [tag, [["int", key]]]
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
    held = row[column]
    if tag in ("list", "tuple") and isinstance(value[1], list):
        item = value[1][0] if value[1] else None
        kind = item[0] if isinstance(item, list) and item and isinstance(item[0], str) else _kind(held)
        items = held[:3] if isinstance(held, list) else [held]
        made = [_scalar(kind, v) for v in items] if kind else []
        return [tag, made] if made and None not in made else None
    if isinstance(held, list) and held and tag in ("int", "str", "bool", "decimal", "float"):
        return _scalar(tag, rng.choice(held))  # a tag of the row's tags
    return _scalar(tag, held)


def _kind(value: Any) -> str | None:
    """The tag of the scalar items of a row's value (an empty argument list gets them)."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, bool):
        return "bool"
    return "int" if isinstance(value, int) else "str" if isinstance(value, str) else None


def _values(row: dict, names: list[str], table: str | None) -> list:
    """The values the arguments `names` would take from `row` (a column's value, or a value
    nested in the row's JSON under the key an argument is named after), None where none."""
    values = []
    for name in names:
        column = _column(name, row, table)
        nested = [] if column else _nested([v for v in row.values() if isinstance(v, (dict, list))], name)
        values.append(row.get(column) if column else nested[0] if nested else None)
    return values


def groups(rows: list[dict], names: list[str], table: str | None) -> list[list[dict]]:
    """The rows grouped by the values the arguments `names` would take from them: the rows a
    call anchored on a member of the group finds, whatever else it asks. Groups that give
    every argument a value come first, the largest first (then in the rows' order)."""
    found: dict[str, list[dict]] = {}
    complete: dict[str, bool] = {}
    for row in rows:
        values = _values(row, names, table)
        key = json.dumps(values, sort_keys=True, default=str)
        found.setdefault(key, []).append(row)
        complete[key] = None not in values
    return [found[k] for k in sorted(found, key=lambda k: (not complete[k], -len(found[k])))]


def _near(row: dict, rows: list[dict], names: list[str], table: str | None) -> list[dict]:
    """The rows that agree with `row` on all but one of the values the arguments take: each
    fails exactly one of the call's filters."""
    mine = _values(row, names, table)
    return [r for r in rows if sum(a != b for a, b in zip(_values(r, names, table), mine)) == 1]


def aimed_calls(sources: list[dict], pool: list[dict], rows: list[dict], table: str | None, stamps: list[str],
                count: int, rng: random.Random, positional: list[str] = (), pages: list[str] = (),
                known: Any = frozenset()) -> list[dict]:
    """`count` calls with the presence pattern of the `sources` (calls that sent one
    statement): two in three anchored on a seeded row, the rest recombined from `pool`
    (calls drawn from the method's strategy). The anchor rows come from the largest groups
    of rows that agree on the columns the call's arguments name, taken in turn, and page
    arguments from around the size of that group. `positional`: the names of the
    positional parameters; `pages`: the optional page parameters (`limit`, `offset`), which
    anchored calls always pass (their default is mostly larger than any group). An empty
    list or text (which a method may take for a filter, `camera_id = ANY('{}')`) is
    filled from the row in every other anchored call. Calls equal to a source or to each
    other are left out. `known`: the column names of all tables (an argument named like one
    is not taken for an unnamed id)."""
    out: list[dict] = []
    seen = {repr(s) for s in sources}
    first = sources[0]
    names = [positional[i] for i, v in enumerate(first.get("args", [])) if i < len(positional) and _keyed(v)]
    names += [name for name, v in first.get("kwargs", {}).items() if _keyed(v)]
    names = [n for n in names if n not in PAGES + OFFSETS]
    ranked = groups(rows, names, table)
    if len(ranked) > 3 and len(ranked[3]) == len(ranked[0]):  # no group stands out (keys): the first row
        ranked = [ranked[0], *rng.sample(ranked[1:], 2)]  # (most rows refer to it) and two from all over
    ranked = ranked[:3]
    anchors = 0
    for k in range(count * 3):
        if len(out) >= count:
            break
        source = sources[k % len(sources)]
        group = ranked[anchors % len(ranked)] if ranked and k % 3 != 2 else None
        row = rng.choice(group) if group else None
        anchors += group is not None
        donor = rng.choice(pool) if pool else {"args": [], "kwargs": {}}
        signs = iter(SIGNS[k % len(SIGNS)] + (None,) * 8) if row is not None else iter(())
        matching = len(group) if group else 3
        near = _near(row, rows, names, table)[:2] if row is not None and names else []
        keys = iter([r.get("id") for r in ([row] + [r for r in group if r is not row] + near if group else [])])
        fill = anchors % 2 == 0
        donor_args = donor.get("args", [])
        args = [_one(value, positional[i] if i < len(positional) else None,
                     donor_args[i] if i < len(donor_args) else None, row, table, stamps, rng, signs, matching, fill,
                     keys, known)
                for i, value in enumerate(source.get("args", []))]
        kwargs = {name: _one(value, name, donor.get("kwargs", {}).get(name), row, table, stamps, rng, signs, matching,
                             fill, keys, known)
                  for name, value in source.get("kwargs", {}).items()}
        if row is not None:
            for name in pages:
                if name not in kwargs and name not in positional[:len(args)]:
                    kwargs[name] = ["int", rng.choice(page_values(name, matching))]
        call = {"args": args, "kwargs": kwargs}
        if repr(call) not in seen:
            seen.add(repr(call))
            out.append(call)
    return out


def _keyed(value: Any) -> bool:
    """An argument a row's column can give, present or empty (filled in half the calls); not
    a datetime: windows are made around the row."""
    return value is not None and not (isinstance(value, list) and value[:1] == ["datetime"])


def _one(value: Any, name: str | None, other: Any, row: dict | None, table: str | None,
         stamps: list[str], rng: random.Random, signs: Any = (), matching: int = 3, fill: bool = False,
         keys: Any = (), known: Any = ()) -> Any:
    empty = value is not None and not present(value)
    if value is None or (empty and not (fill and row is not None)):
        return value  # absent stays absent: the statement text depends on it
    if row is not None and name is not None:
        sign = next(iter(signs), None) if isinstance(value, list) and value[:1] == ["datetime"] else None
        made = anchored(value, name, row, table, stamps, rng, sign, matching, keys, known)
        if made is not None:
            return made
    if empty:
        return value
    if present(other) and isinstance(other, list) and isinstance(value, list) and other[:1] == value[:1]:
        return other
    return value
