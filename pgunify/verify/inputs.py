"""Generated calls: hypothesis strategies from a method's type hints and the reflected schema.

Strategies produce tagged trees (pgunify.verify.codec) rather than Python objects, so the
parent can send the very same call to both sides. Names carry meaning: a parameter or
field called `camera_id` draws ids that exist in the seeded `cameras` table as well as
ids that do not; `status` draws the values the table's CHECK constraint allows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

SERVER_ASSIGNED = {"id", "created_at", "updated_at"}
_TEXT = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")


@dataclass
class Hints:
    """What the seeded template database tells about plausible values."""

    columns: dict[str, list[Any]] = field(default_factory=dict)  # column name -> distinct values
    table_ids: dict[str, list[Any]] = field(default_factory=dict)  # table -> primary key values ("id")
    checks: dict[str, list[str]] = field(default_factory=dict)  # column -> literals its CHECK allows
    tables: dict[str, list[dict]] = field(default_factory=dict)  # table -> columns (name, type category, enum labels)
    stamps: list[dt.datetime] = field(default_factory=list)  # seeded timestamps, for window arguments
    owner: str = ""  # the class whose method is being called, e.g. DatasetDAO
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc).replace(microsecond=0))

    @classmethod
    def from_state(cls, state: dict, checks: dict[str, list[str]], tables: dict | None = None,
                   stamps: bool = False, now: dt.datetime | None = None) -> "Hints":
        """Hints from the seeded state; `stamps` (with --mutants) also keeps the rows'
        timestamps, which datetime arguments then draw from; `now`: the moment generated
        datetimes are near (default: this one, to the second)."""
        hints = cls(checks={k: sorted(set(v)) for k, v in checks.items()}, tables=tables or {})
        if now is not None:
            hints.now = now
        for table, rows in state.get("tables", {}).items():
            for row in rows:
                for column, value in row.items():
                    if isinstance(value, (int, str, float)) and not isinstance(value, bool):
                        bucket = hints.columns.setdefault(column, [])
                        if value not in bucket and len(bucket) < 30:
                            bucket.append(value)
                if isinstance(row.get("id"), int):
                    hints.table_ids.setdefault(table, []).append(row["id"])
            if not stamps:
                continue
            stamp_columns = {c["name"] for c in hints.tables.get(table, []) if c.get("type") in ("timestamptz", "timestamp")}
            for row in rows:
                for column in stamp_columns:
                    stamp = _parse_stamp(row.get(column))
                    if stamp is not None and stamp not in hints.stamps and len(hints.stamps) < 60:
                        hints.stamps.append(stamp)
        return hints

    def owner_table(self) -> list[dict]:
        """Columns of the table the calling class is named after (DatasetDAO: datasets)."""
        stem = self.owner.lower()
        for suffix in ("dao", "repository", "store", "repo"):
            stem = stem.removesuffix(suffix)
        stem = stem.removeprefix("postgresql")
        if not stem:
            return []
        for table, columns in self.tables.items():
            if table in (stem, stem + "s", stem + "es"):
                return columns
        return next((columns for table, columns in self.tables.items() if table.startswith(stem)), [])

    def ids_for(self, name: str) -> list[int]:
        base = name[:-3] if name.endswith("_id") else name[:-4] if name.endswith("_ids") else name
        found: list[int] = []
        for table, ids in self.table_ids.items():
            if base and (base in table or table.rstrip("s") in base):
                found.extend(ids)
        found.extend(v for v in self.columns.get(name, []) if isinstance(v, int))
        return sorted(set(found))


def _parse_stamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=dt.timezone.utc)


_STEPS = [dt.timedelta(0), dt.timedelta(microseconds=1), dt.timedelta(microseconds=-1), dt.timedelta(seconds=1),
          dt.timedelta(seconds=-1), dt.timedelta(hours=1), dt.timedelta(hours=-1)]


def _named(kind: str, name: str, hints: Hints) -> list[Any]:
    values = [v for v in hints.columns.get(name, []) if _fits(kind, v)]
    if kind == "str":
        values += hints.checks.get(name, [])
    return sorted(set(values), key=repr)


def _fits(kind: str, value: Any) -> bool:
    return (kind == "str" and isinstance(value, str)) or (kind == "int" and isinstance(value, int))


def tagged(kind: str, strategy: st.SearchStrategy) -> st.SearchStrategy:
    return strategy.map(lambda v: [kind, v])


def strategy_for(desc: dict, name: str, hints: Hints, depth: int = 0) -> st.SearchStrategy:
    """Values of the described type, as tagged trees; `name` is the parameter or field name."""
    k = desc.get("k")
    name = name or ""
    if depth > 4:
        return st.none()
    if k == "none":
        return st.none()
    if k == "bool":
        return tagged("bool", st.booleans())
    if k == "int":
        if name.endswith("_id") or name == "id":
            known = hints.ids_for(name)
            unknown = [max(known, default=0) + 1000, 0, -1]
            options = [st.sampled_from(known)] if known else []
            return tagged("int", st.one_of(*options, st.sampled_from(unknown)))
        if name in ("limit", "offset", "skip", "page", "size", "hours", "days", "minutes"):
            return tagged("int", st.one_of(st.sampled_from([0, 1, 2, 5, 100]), st.integers(0, 200)))
        known = _named("int", name, hints)
        boundary = [0, 1, -1, 2**31 - 1, -(2**31)]
        parts = [st.sampled_from(boundary), st.integers(-1000, 1000)]
        if known:
            parts.insert(0, st.sampled_from(known))
        return tagged("int", st.one_of(*parts))
    if k == "str":
        known = _named("str", name, hints)
        generic = st.one_of(st.from_regex(r"[a-z]{1,6}(-[0-9]{1,3})?", fullmatch=True),
                            st.sampled_from(["", " ", "Ünïcødé ✓", "x" * 64, "O'Brien; --"]), st.text(_TEXT, max_size=12))
        return tagged("str", st.one_of(st.sampled_from(known), generic) if known else generic)
    if k == "float":
        return tagged("float", st.one_of(st.sampled_from([0.0, 1.5, -2.25]),
                                         st.floats(-1e6, 1e6, allow_nan=False)).map(repr))
    if k == "decimal":
        return tagged("decimal", st.one_of(st.sampled_from(["0", "1", "0.5", "0.1234", "-1", "1.5"]),
                                           st.decimals(-10, 10, places=4).map(str)))
    if k == "datetime":
        now = hints.now
        near = [now, now - dt.timedelta(hours=1), now - dt.timedelta(days=1), now - dt.timedelta(days=30),
                now + dt.timedelta(days=1)]
        far = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=st.just(dt.timezone.utc))
        options = [st.sampled_from(near), far]
        if hints.stamps:  # the seeded rows' own timestamps, and a small step to either side: window edges
            stamps = sorted(hints.stamps)
            options[:0] = [st.sampled_from(stamps),
                           st.tuples(st.sampled_from(stamps), st.sampled_from(_STEPS)).map(lambda p: p[0] + p[1])]
        return st.one_of(*options).map(lambda v: ["datetime", v.isoformat(), 0])
    if k == "date":
        return st.dates(dt.date(2000, 1, 1), dt.date(2100, 1, 1)).map(lambda v: ["date", v.isoformat()])
    if k == "time":
        return st.times().map(lambda v: ["time", v.isoformat()])
    if k == "timedelta":
        return st.integers(0, 10**6).map(lambda v: ["timedelta", v])
    if k == "uuid":
        return st.uuids().map(lambda v: ["uuid", str(v)])
    if k == "bytes":
        return st.binary(max_size=8).map(lambda v: ["bytes", v.hex()])
    if k == "choice":
        return st.sampled_from(desc["of"])
    if k == "enum":
        return st.sampled_from(desc["values"]).map(lambda v, cls=desc["cls"]: ["enum", cls, v])
    if k == "union":
        return st.one_of(*[strategy_for(d, name, hints, depth + 1) for d in desc["of"]])
    if k == "list":
        item = strategy_for(desc["of"], name[:-1] if name.endswith("s") else name, hints, depth + 1)
        return st.lists(item, max_size=4).map(lambda v: ["list", v])
    if k == "tuple-of":
        return st.lists(strategy_for(desc["of"], name, hints, depth + 1), max_size=4).map(lambda v: ["tuple", v])
    if k == "tuple":
        return st.tuples(*[strategy_for(d, name, hints, depth + 1) for d in desc["of"]]).map(lambda v: ["tuple", list(v)])
    if k == "dict" and name in _ROW_DICTS and hints.owner_table():
        return _row_dict(hints.owner_table(), hints, depth)
    if k == "dict":
        keys = strategy_for(desc["key"], "key", hints, depth + 1)
        values = strategy_for(desc["value"], "", hints, depth + 1)
        return st.lists(st.tuples(keys, values), max_size=3, unique_by=lambda kv: repr(kv[0])).map(
            lambda pairs: ["dict", [list(p) for p in pairs]])
    if k == "any":
        return st.one_of(st.none(), tagged("bool", st.booleans()), tagged("int", st.integers(-5, 5)),
                         tagged("str", st.text(_TEXT, max_size=6)))
    if k == "dataclass":
        required = {f["name"]: strategy_for(f["type"], f["name"], hints, depth + 1)
                    for f in desc["fields"] if f["required"]}
        optional = {f["name"]: strategy_for(f["type"], f["name"], hints, depth + 1)
                    for f in desc["fields"] if not f["required"] and f["name"] not in SERVER_ASSIGNED}
        order = [f["name"] for f in desc["fields"]]
        return st.fixed_dictionaries(required, optional=optional).map(
            lambda kw, cls=desc["cls"]: ["obj", cls, sorted(([k, v] for k, v in kw.items()), key=lambda kv: order.index(kv[0]))])
    return st.none()  # a type we cannot build: None, which the method may well reject the same way on both sides


_ROW_DICTS = {"data", "values", "fields", "changes", "updates", "row", "record"}
_CATEGORY = {"S": {"k": "str"}, "B": {"k": "bool"}, "D": {"k": "datetime"}}


def _row_dict(columns: list[dict], hints: Hints, depth: int) -> st.SearchStrategy:
    """A dict of column values for a `data: dict[str, Any]` parameter of a DAO: the keys its
    table has (so the call gets past "unknown field" checks), values of each column's type."""
    optional, required = {}, {}
    for column in columns:
        name = column["name"]
        if name in SERVER_ASSIGNED:
            continue
        if column["labels"]:
            values = st.sampled_from(column["labels"]).map(lambda v: ["str", v])
        elif column["category"] == "N":
            kind = "decimal" if column["type"] == "numeric" else "float" if column["type"].startswith("float") else "int"
            values = strategy_for({"k": kind}, name, hints, depth + 1)
        elif column["type"] in ("json", "jsonb"):
            values = strategy_for({"k": "dict", "key": {"k": "str"}, "value": {"k": "any"}}, "", hints, depth + 1)
        else:
            values = strategy_for(_CATEGORY.get(column["category"], {"k": "any"}), name, hints, depth + 1)
        (required if column.get("required") else optional)[name] = values
    return st.fixed_dictionaries(required, optional=optional).map(
        lambda kw: ["dict", [[["str", k], v] for k, v in kw.items()]])


def call_strategy(method: dict, hints: Hints) -> st.SearchStrategy:
    """{"args": [...], "kwargs": {...}}: required parameters always, optional ones sometimes."""
    positional = [p for p in method["params"] if p["required"] and not p["keyword"]]
    keyword_required = {p["name"]: strategy_for(p["type"], p["name"], hints)
                        for p in method["params"] if p["required"] and p["keyword"]}
    optional = {p["name"]: strategy_for(p["type"], p["name"], hints) for p in method["params"] if not p["required"]}
    return st.fixed_dictionaries({
        "args": st.tuples(*[strategy_for(p["type"], p["name"], hints) for p in positional]).map(list),
        "kwargs": st.fixed_dictionaries(keyword_required, optional=optional),
    })


def is_creator(name: str) -> bool:
    return name.split("_")[0] in ("create", "add", "insert", "save", "register", "start") and "many" not in name
