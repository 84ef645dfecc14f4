"""Two databases compared object by object, from PostgreSQL's own catalog.

The proof of a baseline: one database built the way the legacy application builds its
schema, one built by `alembic upgrade`, and every object of the `public` schema read back
with the server's own functions (`format_type`, `pg_get_expr`, `pg_get_constraintdef`,
`pg_get_indexdef`, `pg_get_functiondef`, `pg_get_triggerdef`, `pg_get_viewdef`). Nothing
here reads DDL text; what the server stored is what is compared.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg

from pgunify.schema.catalog import plain_url

# kind -> {object name -> {property -> value}}
Snapshot = dict[str, dict[str, dict[str, object]]]

KINDS = ("extension", "enum type", "domain", "sequence", "function", "table", "column", "constraint", "index",
         "view", "trigger")

_PUBLIC = "'public'::regnamespace"
_NOT_FROM_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"


@dataclass(frozen=True, order=True)
class Difference:
    """One object that is not the same in the two databases."""

    kind: str  # one of KINDS
    name: str  # "orders", "orders.total", "orders_pkey on orders", "stamp_shipped()"
    detail: str

    def describe(self) -> str:
        return f"{self.kind} {self.name}: {self.detail}"


_QUERIES: dict[str, str] = {
    "extension": "SELECT extname AS name FROM pg_extension WHERE extname <> 'plpgsql'",
    "enum type": (
        "SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text AS labels "
        f"FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid WHERE t.typnamespace = {_PUBLIC} GROUP BY t.typname"),
    "domain": (
        "SELECT t.typname AS name, format_type(t.typbasetype, t.typtypmod) AS type, t.typnotnull AS not_null, "
        "t.typdefault AS default, (SELECT string_agg(pg_get_constraintdef(c.oid), ' ' ORDER BY c.conname) "
        "FROM pg_constraint c WHERE c.contypid = t.oid) AS checks "
        f"FROM pg_type t WHERE t.typtype = 'd' AND t.typnamespace = {_PUBLIC}"),
    "sequence": (
        "SELECT c.relname AS name, s.seqtypid::regtype::text AS type, s.seqstart AS start, "
        "s.seqincrement AS increment, s.seqmin AS min, s.seqmax AS max, s.seqcache AS cache, s.seqcycle AS cycle, "
        "(SELECT t.relname || '.' || a.attname FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid "
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid "
        " WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')) AS owned_by "
        f"FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid WHERE c.relkind = 'S' AND c.relnamespace = {_PUBLIC}"),
    "function": (
        "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')' AS name, "
        "pg_get_functiondef(p.oid) AS definition FROM pg_proc p "
        f"WHERE p.pronamespace = {_PUBLIC} AND p.prokind IN ('f', 'p') AND "
        + _NOT_FROM_EXTENSION.format(oid="p.oid")),
    "table": (
        "SELECT c.relname AS name, c.relkind::text AS kind, obj_description(c.oid, 'pg_class') AS comment "
        f"FROM pg_class c WHERE c.relkind IN ('r', 'p') AND c.relnamespace = {_PUBLIC} AND "
        + _NOT_FROM_EXTENSION.format(oid="c.oid")),
    "column": (
        "SELECT c.relname || '.' || a.attname AS name, c.relname AS owner, "
        "row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum) AS position, "
        "format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null, "
        "pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity::text AS identity, "
        "a.attgenerated::text AS generated, col_description(c.oid, a.attnum) AS comment "
        "FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        f"WHERE c.relkind IN ('r', 'p') AND c.relnamespace = {_PUBLIC} AND a.attnum > 0 AND NOT a.attisdropped"),
    "constraint": (
        "SELECT con.conname || ' on ' || c.relname AS name, c.relname AS owner, con.contype::text AS type, "
        "pg_get_constraintdef(con.oid, true) AS definition, con.condeferrable AS deferrable, "
        "con.condeferred AS deferred FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid "
        f"WHERE c.relnamespace = {_PUBLIC}"),
    "index": (
        "SELECT i.relname || ' on ' || c.relname AS name, c.relname AS owner, pg_get_indexdef(i.oid) AS definition "
        "FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid "
        f"WHERE c.relnamespace = {_PUBLIC}"),
    "view": (
        "SELECT c.relname AS name, c.relkind::text AS kind, pg_get_viewdef(c.oid, true) AS definition "
        f"FROM pg_class c WHERE c.relkind IN ('v', 'm') AND c.relnamespace = {_PUBLIC} AND "
        + _NOT_FROM_EXTENSION.format(oid="c.oid")),
    "trigger": (
        "SELECT t.tgname || ' on ' || c.relname AS name, c.relname AS owner, "
        "pg_get_triggerdef(t.oid, true) AS definition, t.tgenabled::text AS enabled "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        f"WHERE NOT t.tgisinternal AND c.relnamespace = {_PUBLIC}"),
}


def snapshot(url: str, leave_out: frozenset[str] = frozenset({"alembic_version"})) -> Snapshot:
    """Every object of the `public` schema; tables in `leave_out` go with their columns,
    constraints, indexes, triggers and owned sequences."""

    async def run() -> Snapshot:
        conn = await asyncpg.connect(plain_url(url))
        try:
            found: Snapshot = {}
            for kind, query in _QUERIES.items():
                objects: dict[str, dict[str, object]] = {}
                for row in await conn.fetch(query):
                    values = dict(row)
                    name = values.pop("name")
                    owner = values.get("owner")
                    if kind == "table" and name in leave_out or owner in leave_out:
                        continue
                    if kind == "sequence" and values["owned_by"] and values["owned_by"].split(".")[0] in leave_out:
                        continue
                    objects[name] = values
                found[kind] = objects
            return found
        finally:
            await conn.close()

    return asyncio.run(run())


def _show(value: object) -> str:
    if value is None:
        return "none"
    text = str(value)
    return text if len(text) <= 160 and "\n" not in text else " ".join(text.split())[:160] + " ..."


def _owner(kind: str, values: dict[str, object]) -> str | None:
    if kind == "sequence":
        return str(values["owned_by"]).split(".")[0] if values.get("owned_by") else None
    return values.get("owner")  # type: ignore[return-value]


def compare(expected: Snapshot, actual: Snapshot, expected_label: str = "in the legacy schema",
            actual_label: str = "after alembic upgrade") -> list[Difference]:
    """Every object missing on one side, and every property that differs, by kind and name.
    A table missing on one side is one difference: its columns, constraints, indexes,
    triggers and owned sequences are counted in it, not listed one by one."""
    tables_left, tables_right = expected.get("table", {}), actual.get("table", {})
    only_left = set(tables_left) - set(tables_right)
    only_right = set(tables_right) - set(tables_left)
    folded: dict[str, dict[str, int]] = {}
    differences: list[Difference] = []
    for kind in KINDS:
        left, right = expected.get(kind, {}), actual.get(kind, {})
        for name in sorted(set(left) | set(right)):
            if kind != "table" and (name not in right or name not in left):
                owner = _owner(kind, left.get(name) or right.get(name) or {})
                if owner in (only_left if name not in right else only_right):
                    counts = folded.setdefault(owner, {})
                    counts[kind] = counts.get(kind, 0) + 1
                    continue
            if name not in right:
                differences.append(Difference(kind, name, f"{expected_label}, missing {actual_label}"))
            elif name not in left:
                differences.append(Difference(kind, name, f"{actual_label}, not {expected_label}"))
            else:
                for prop in left[name]:
                    a, b = left[name][prop], right[name].get(prop)
                    if prop != "owner" and a != b:
                        differences.append(Difference(
                            kind, name, f"{prop.replace('_', ' ')} is {_show(a)} {expected_label}, "
                                        f"{_show(b)} {actual_label}"))
    for index, item in enumerate(differences):
        if item.kind == "table" and item.name in folded:
            parts = ", ".join(f"{n} {k}{'' if n == 1 else ('es' if k.endswith('x') else 's')}"
                              for k, n in folded[item.name].items())
            differences[index] = Difference(item.kind, item.name, f"{item.detail} (with {parts})")
    return differences


def count(snap: Snapshot) -> dict[str, int]:
    return {kind: len(snap.get(kind, {})) for kind in KINDS if snap.get(kind)}
