"""Rows that reach the branches the SQL names (`pgunify verify --mutants`): which copies of
the seeded rows to add to each table, planned from the table's own facts.

A mutant of a filtered, ordered, paged query only shows when the rows it reads make it
show: more rows matching a filter than the page holds (`LIMIT n` against `LIMIT n + 1`),
rows that tie on the first sort key and differ in the next, and, for every condition, a
row that fails it and meets the others. So each table gets, in this order:

1. around each of its first two rows (the anchors): twins (the same values, so a filter
   by the anchor's values matches several rows; one twin with its free text changed, so
   rows tie on everything but the text a later sort key may name; one a second older, so
   the order by time and the order by key disagree; two three hours later, so the newest
   rows of the group tie too), and for every column a copy that
   differs from the anchor in that column alone (another parent, the other boolean, the
   neighbouring label or domain value, a value another row holds, a timestamp ten days
   earlier);
2. copies of the seeded rows across the column domains: each value of a column's domain in
   different numbers (1, 2, 3, 1, ... copies), so a count by one value differs from a count
   by its neighbour; both booleans; NULL in nullable columns; two copies for each of a few
   parents; every timestamp moved together by -45 days, -10 days, -2 days, -2 hours or
   +3 hours.

A copy whose unique key (primary key included) would repeat a row's gets a new value in
the last column of that key that no foreign key binds (a suffix for text, a large offset
for numbers, a microsecond for timestamps), so it keeps its other values: rows share a
`name` and differ in `version`. A table without rows first gets three made from its
column types. Everything here is pure and deterministic: the worker reads the facts and
inserts the rows, leaving out those the schema refuses (a CHECK).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

STAMP_TYPES = ("timestamptz", "timestamp", "date")
TEXT_TYPES = ("text", "varchar", "bpchar", "citext", "name")
PER_TABLE = 72  # copies at most
SOURCES = 24  # seeded rows the copies of step 2 are made from
SHIFTS = [dt.timedelta(hours=-2), dt.timedelta(days=-2), dt.timedelta(days=-45), dt.timedelta(hours=3),
          dt.timedelta(days=-10)]


@dataclass
class Column:
    name: str
    type: str  # pg_type.typname
    category: str  # pg_type.typcategory
    nullable: bool = True
    labels: list[str] = field(default_factory=list)  # enum labels, in their order
    length: int | None = None  # the longest text a varchar(n) or char(n) takes
    keys: dict[str, list[str]] = field(default_factory=dict)  # JSON keys the SQL reads: {"object"|"element": [...]}


@dataclass
class Reference:
    """A foreign key: the child's columns and a few key tuples of its parent."""

    columns: list[str]
    parents: list[tuple]


@dataclass
class Table:
    name: str
    columns: list[Column]
    rows: list[dict]  # every row it holds, as the server renders them in JSON, in key order
    server_key: str | None = None  # a single-column key the server assigns: left out of the copies
    unique: list[list[str]] = field(default_factory=list)  # unique keys (the primary key too), columns in order
    references: list[Reference] = field(default_factory=list)

    @property
    def key_columns(self) -> set[str]:
        """The columns of its unique keys."""
        return {k for key in self.unique for k in key}


def planned_rows(table: Table, domains: dict[str, list], per_table: int = PER_TABLE) -> list[dict]:
    """The rows to add to `table` (without its server-assigned key), in the order above."""
    columns = [c for c in table.columns if c.name != table.server_key]
    made = [] if table.rows else [_made_row(table, columns, n, domains) for n in range(3)]
    sources = (table.rows or made)[:SOURCES]
    copies: list[dict] = list(made)
    for anchor in sources[:2]:
        copies += _around(anchor, sources, table, columns, domains)
    copies += _across(sources, table, columns, domains)
    keys = _Keys(table)
    out: list[dict] = []
    for n, copy in enumerate(copies):
        if len(out) >= per_table:
            break
        row = {c.name: _fit(copy.get(c.name), c.length, n) for c in columns}
        if keys.admit(row, n):
            out.append(row)
    return out


def _around(anchor: dict, rows: list[dict], table: Table, columns: list[Column], domains: dict[str, list]) -> list[dict]:
    """Twins of one row, and a copy of it for every column that differs in that column alone."""
    stamps = [c.name for c in columns if c.type in STAMP_TYPES]
    texts = [c.name for c in columns if _free_text(c, table, domains) and isinstance(anchor.get(c.name), str)]
    later = {**anchor, **{name: _shifted(anchor.get(name), dt.timedelta(hours=3)) for name in stamps}}
    twins = [dict(anchor), {**anchor, **{name: f"{anchor[name]}~t" for name in texts}},
             {**anchor, **{name: _shifted(anchor.get(name), dt.timedelta(seconds=-1)) for name in stamps}},
             later, dict(later)]
    bound = {name for ref in table.references for name in ref.columns}
    fails: list[dict] = []
    for ref in table.references:
        current = tuple(anchor.get(name) for name in ref.columns)
        other = next((p for p in ref.parents if tuple(p) != current), None)
        if other is not None:
            fails.append({**anchor, **dict(zip(ref.columns, other))})
    pools = {c.name: _values(rows, c.name) for c in columns}
    for c in columns:
        if c.name in bound:
            continue
        value = _other(anchor.get(c.name), c, pools[c.name], domains)
        if c.type in STAMP_TYPES and anchor.get(c.name) is None:  # closed an hour after the row's latest time
            latest = max((anchor[n] for n in stamps if isinstance(anchor.get(n), str)), default=None)
            value = _shifted(latest, dt.timedelta(hours=1)) if latest else value
        if value is not _NONE:
            fails.append({**anchor, c.name: value})
        if c.nullable and anchor.get(c.name) is not None and c.name not in table.key_columns:
            fails.append({**anchor, c.name: None})
    keyed: list[dict] = []
    for c in columns:
        for form, keys in c.keys.items():
            for key in keys[:3]:
                for value, copies in ((f"{key}-a", [anchor]), (f"{key}-b", twins[2:])):
                    for source in copies:
                        keyed.append({**source, c.name: _with_key(source.get(c.name), form, key, value)})
    return twins + fails + keyed


def _with_key(value: Any, form: str, key: str, held: str) -> Any:
    """A JSON value that holds `held` under `key`: in one more element of an array, or in
    the object itself."""
    if form == "element":
        return [*(value if isinstance(value, list) else []), {key: held}]
    return {**(value if isinstance(value, dict) else {}), key: held}


def _across(sources: list[dict], table: Table, columns: list[Column], domains: dict[str, list]) -> list[dict]:
    """Copies of the seeded rows across the column domains, parents, NULLs and time."""
    unique_last = {key[-1] for key in table.unique}
    changes: list[dict] = []
    for ref in table.references:
        for parent in ref.parents:
            changes += [dict(zip(ref.columns, parent))] * 2  # two rows for each parent: an order can show
    for c in columns:
        values = c.labels or [v for v in domains.get(c.name, []) if isinstance(v, str)]
        if c.type == "bool":
            changes += [{c.name: True}, {c.name: False}]
        elif c.category in ("S", "E") and values and c.name not in unique_last:
            for k, value in enumerate(values[:8]):
                changes += [{c.name: value}] * (1 + k % 3)
        if c.nullable and c.name not in unique_last:
            changes.append({c.name: None})
    stamps = [c.name for c in columns if c.type in STAMP_TYPES]
    copies = [{**sources[i % len(sources)], **change} for i, change in enumerate(changes)]
    for i, shift in enumerate(SHIFTS * 3 if stamps else []):
        source = copies[i * 5 % len(copies)] if copies and i % 2 else sources[i % len(sources)]
        copies.append({**source, **{name: _shifted(source.get(name), shift) for name in stamps}})
    return copies


class _Keys:
    """The unique keys the table holds so far; a copy that would repeat one gets a new value
    in the last column of that key that no foreign key binds."""

    def __init__(self, table: Table) -> None:
        bound = {name for ref in table.references for name in ref.columns}
        self.types = {c.name: c.type for c in table.columns}
        self.lengths = {c.name: c.length for c in table.columns}
        self.keys = [(key, next((k for k in reversed(key) if k not in bound), None)) for key in table.unique
                     if table.server_key not in key]
        self.seen = [{tuple(row.get(k) for k in key) for row in table.rows} for key, _ in self.keys]

    def admit(self, row: dict, n: int) -> bool:
        for (key, free), seen in zip(self.keys, self.seen):
            value = tuple(row.get(k) for k in key)
            if any(v is None for v in value):
                continue  # NULLs never collide
            original, step = row.get(free), 0
            while value in seen:
                if free is None or step > 50:
                    return False
                row[free] = _fit(_distinct(original, self.types.get(free, ""), n + step), self.lengths.get(free), n + step)
                if row[free] is None:
                    return False
                value, step = tuple(row.get(k) for k in key), step + 1
        for (key, _), seen in zip(self.keys, self.seen):
            seen.add(tuple(row.get(k) for k in key))
        return True


_NONE = object()


def _free_text(c: Column, table: Table, domains: dict[str, list]) -> bool:
    """A text column that names no domain (no labels, no CHECK or compared literals) and
    no parent: what a sort may name after a tie (`display_name`)."""
    bound = {name for ref in table.references for name in ref.columns}
    return c.type in TEXT_TYPES and not c.labels and not domains.get(c.name) and c.name not in bound


def _values(rows: list[dict], name: str) -> list:
    seen: list = []
    for row in rows:
        value = row.get(name)
        if value is not None and value not in seen:
            seen.append(value)
            if len(seen) >= 12:
                break
    return seen


def _other(value: Any, c: Column, pool: list, domains: dict[str, list]) -> Any:
    """A value of column `c` other than `value`: the neighbouring label or domain value, the
    other boolean, a value another row holds, or one made from the type; _NONE if none."""
    if c.type == "bool":
        return not value if isinstance(value, bool) else True
    if c.type in STAMP_TYPES:
        if value is None:  # an open end (`ended_at IS NULL`): a time another row holds
            return next((v for v in pool if v is not None), _NONE)
        shifted = _shifted(value, dt.timedelta(days=-10))
        return shifted if shifted != value else _NONE
    choices = c.labels or [v for v in domains.get(c.name, []) if isinstance(v, str)]
    if choices:
        if value in choices:
            i = choices.index(value)
            return choices[i - 1] if i > 0 else (choices[1] if len(choices) > 1 else _NONE)
        return choices[0]
    if c.category == "N":  # a number the SQL compares the column with (`karma <> 0`)
        compared = [v for v in domains.get(c.name, []) if isinstance(v, int) and not isinstance(v, bool) and v != value]
        if compared:
            return compared[0]
    other = next((v for v in pool if v != value), _NONE)
    if other is not _NONE:
        return other
    if value is None:
        return _NONE
    made = _distinct(value, c.type, 0)
    return _NONE if made is None or made == value else made


def _distinct(value: Any, type_name: str, n: int) -> Any:
    """A value of the same type as `value` that differs from it, the `n`th of its kind; None
    when there is none to make."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value + 100000 + n
    if isinstance(value, float):
        return value + 1000.5 + n
    if isinstance(value, str):
        if type_name == "uuid":
            return str(uuid.uuid5(uuid.NAMESPACE_OID, f"{value}~{n}"))
        if type_name in STAMP_TYPES:
            step = dt.timedelta(days=n + 1) if len(value) == 10 else dt.timedelta(microseconds=n + 1)
            return _shifted(value, step)
        if type_name in TEXT_TYPES or type_name == "":
            return f"{value}~{n}"
    return None


def _fit(value: Any, length: int | None, n: int) -> Any:
    """A text cut to a column's length, its last character telling copies apart."""
    if not isinstance(value, str) or length is None or len(value) <= length:
        return value
    return value[:length - 1] + "0123456789abcdefghijklmnopqrstuvwxyz"[n % 36] if length > 1 else value[:length]


def _shifted(value: Any, shift: dt.timedelta) -> Any:
    """A timestamp (or date) as the server rendered it in JSON, moved by `shift`."""
    if not isinstance(value, str):
        return value
    try:
        if len(value) == 10:
            return (dt.date.fromisoformat(value) + shift).isoformat()
        return (dt.datetime.fromisoformat(value) + shift).isoformat()
    except ValueError:
        return value


def _made_row(table: Table, columns: list[Column], n: int, domains: dict[str, list]) -> dict:
    """A row of a table the creating methods left empty, the `n`th of a few: a value of each
    column's type (a parent's key in foreign key columns, an enum's first label, a value of
    the column's domain, which its CHECK allows, for text)."""
    now = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc) - dt.timedelta(days=n)
    row: dict = {}
    for ref in table.references:
        if ref.parents:
            row.update(zip(ref.columns, ref.parents[n % len(ref.parents)]))
    keyed = table.key_columns
    for c in columns:
        if c.name in row:
            continue
        domain = domains.get(c.name)
        if n == 0 and c.nullable and c.name not in keyed:
            row[c.name] = None  # the first made row leaves its optional columns empty, the others fill them
            continue
        if c.labels:
            row[c.name] = c.labels[0]
        elif c.type == "bool":
            row[c.name] = n % 2 == 1
        elif c.type in ("json", "jsonb"):
            row[c.name] = {}
        elif c.type in ("timestamptz", "timestamp"):
            row[c.name] = now.isoformat()
        elif c.type == "date":
            row[c.name] = now.date().isoformat()
        elif c.type == "uuid":
            row[c.name] = str(uuid.uuid5(uuid.NAMESPACE_OID, f"{table.name}.{c.name}.{n}"))
        elif c.category == "N":
            row[c.name] = n + 1
        elif c.category == "S" and domain:
            row[c.name] = domain[n % len(domain)]
        elif c.category == "S":
            row[c.name] = _fit(f"{c.name}-{n + 1}", c.length, n)
        elif c.category == "A":
            row[c.name] = []
    return row
