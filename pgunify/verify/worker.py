"""One side of a verify run: imports one tree of the application and calls into it.

Started by the parent as `python -m pgunify.verify.worker PLAN.json ROOT`, one process per
side, because the legacy and migrated trees use the same module names. The database URL
comes in the environment variable UNIFY_VERIFY_WORKER_URL, never on the command line, where
every user of the machine could read it. Requests and answers are JSON lines on stdin and on
a duplicate of the original stdout; whatever the application prints goes to stderr. Values travel as tagged trees (pgunify.verify.codec).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import enum
import importlib
import inspect
import json
import os
import re
import signal
import sys
import types
import typing
import uuid
from collections import abc
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from pgunify.verify.codec import class_path, decode, encode, encode_error, load_class
from pgunify.verify.process import SEED
from pgunify.verify.seeding import Column, Reference, Table, planned_rows

CALL_TIMEOUT = 60.0
_POOL_WORDS = re.compile(r"pool|engine|conn|database|db\b|datasource", re.I)


def _url(dsn: str, driver: str) -> str:
    url = make_url(dsn)
    url = url.set(drivername="postgresql+asyncpg" if driver == "asyncpg" else "postgresql")
    return url.render_as_string(hide_password=False)


async def _maybe(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


# --------------------------------------------------------------------------- types


_SCALARS = {int: "int", bool: "bool", str: "str", float: "float", bytes: "bytes", decimal.Decimal: "decimal",
            dt.datetime: "datetime", dt.date: "date", dt.time: "time", dt.timedelta: "timedelta", uuid.UUID: "uuid"}
_SEQUENCES = {list, set, frozenset, abc.Iterable, abc.Sequence, abc.Collection, abc.MutableSequence, abc.Set,
              abc.AsyncIterable, typing.Iterable, typing.Sequence, typing.List, typing.Set}


def describe_type(tp: Any, depth: int = 0) -> dict:
    """A JSON description of a type hint the parent can build generators from."""
    if depth > 6 or tp is Any or tp is object or tp is inspect.Parameter.empty:
        return {"k": "any"}
    if tp is None or tp is type(None):
        return {"k": "none"}
    if tp in _SCALARS:
        return {"k": _SCALARS[tp]}
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return {"k": "union", "of": [describe_type(a, depth + 1) for a in args]}
    if origin is typing.Literal:
        return {"k": "choice", "of": [encode(a) for a in args]}
    if origin in (dict, abc.Mapping, abc.MutableMapping) or tp in (dict, abc.Mapping):
        return {"k": "dict", "key": describe_type(args[0], depth + 1) if args else {"k": "str"},
                "value": describe_type(args[1], depth + 1) if len(args) > 1 else {"k": "any"}}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"k": "tuple-of", "of": describe_type(args[0], depth + 1)}
        return {"k": "tuple", "of": [describe_type(a, depth + 1) for a in args]}
    if origin in _SEQUENCES or tp in _SEQUENCES:
        return {"k": "list", "of": describe_type(args[0], depth + 1) if args else {"k": "any"}}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return {"k": "enum", "cls": class_path(tp), "values": [encode(m.value) for m in tp]}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        try:
            hints = typing.get_type_hints(tp)
        except Exception:
            hints = {}
        fields = []
        for f in dataclasses.fields(tp):
            if not f.init:
                continue
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            fields.append({"name": f.name, "type": describe_type(hints.get(f.name, Any), depth + 1),
                           "required": required})
        return {"k": "dataclass", "cls": class_path(tp), "fields": fields}
    return {"k": "unknown", "repr": getattr(tp, "__qualname__", repr(tp))}


def _session_parameter(fn: Any) -> str | None:
    for name, param in inspect.signature(fn).parameters.items():
        if "Session" in str(param.annotation):
            return name
    return None


def describe_method(fn: Any, skip: set[str]) -> dict:
    try:
        hints = typing.get_type_hints(fn)
    except Exception:
        hints = {}
    params = []
    for name, param in inspect.signature(fn).parameters.items():
        if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        params.append({"name": name, "type": describe_type(hints.get(name, Any)),
                       "required": param.default is param.empty,
                       "keyword": param.kind is param.KEYWORD_ONLY})
    return {"params": params}


# --------------------------------------------------------------------------- statements on the wire


class Statements:
    """The statements the application sends to the server during one call, and at most
    one substitution (a mutant in place of the statement it was made from, see
    pgunify.verify.mutants). Installed on asyncpg's connection, where every query of
    asyncpg and of SQLAlchemy's asyncpg dialect passes, and on the dialect's own cache of
    prepared statements, which would otherwise answer before asyncpg sees the text."""

    def __init__(self) -> None:
        self.trace: set[str] | None = None
        self.swap: dict[str, str] = {}
        self.own: Any = None  # the harness's own connection: never traced, never changed
        self.installed = False

    def see(self, conn: Any, query: Any) -> Any:
        if not isinstance(query, str) or conn is self.own:
            return query
        if self.trace is not None:
            self.trace.add(query)
        return self.swap.get(query, query)

    def install(self) -> None:
        if self.installed:
            return
        self.installed = True
        statements = self
        connection = asyncpg.connection.Connection
        get_statement, execute = connection._get_statement, connection.execute

        async def _get_statement(self, query, *args, **kwargs):
            return await get_statement(self, statements.see(self, query), *args, **kwargs)

        async def _execute(self, query, *args, **kwargs):
            return await execute(self, statements.see(self, query), *args, **kwargs)

        connection._get_statement, connection.execute = _get_statement, _execute
        try:
            from sqlalchemy.dialects.postgresql import asyncpg as dialect
        except ImportError:  # pragma: no cover - SQLAlchemy is a dependency
            return
        adapted = getattr(dialect, "AsyncAdapt_asyncpg_connection", None)
        prepare = getattr(adapted, "_prepare", None)
        if prepare is not None:
            async def _prepare(self, operation, *args, **kwargs):
                return await prepare(self, statements.see(self, operation), *args, **kwargs)

            adapted._prepare = _prepare


STATEMENTS = Statements()


# --------------------------------------------------------------------------- the side


class Side:
    def __init__(self, plan: dict, root: Path, dsn: str) -> None:
        self.plan = plan
        self.root = root
        self.dsn = dsn
        self.admin: asyncpg.Connection | None = None
        self.resource: Any = None
        self.resource_ready = False
        self.instances: dict[str, Any] = {}
        self.classes: dict[str, tuple[type, str]] = {}
        self.results: dict[str, Any] = {}
        self.seed_state: str | None = None
        self.seed_print: str | None = None  # the change print of the seed state, see prepare_state
        self.print_query = ""
        self.table_scripts: list[str] = []  # per table (then the sequences): how to restore the seed
        self.state_queries: list[str] = []

    # -- database bookkeeping (a connection of our own, never the application's) --

    async def connect(self) -> None:
        self.admin = await asyncpg.connect(_url(self.dsn, "plain"))
        STATEMENTS.own = self.admin
        try:  # a database of this run only: commits need not wait for the disk
            name = await self.admin.fetchval("SELECT current_database()")
            await self.admin.execute(f"ALTER DATABASE {_quote(name)} SET synchronous_commit = off")
            await self.admin.execute("SET synchronous_commit = off")
        except asyncpg.PostgresError:
            pass

    async def _tables(self) -> list[dict]:
        rows = await self.admin.fetch(
            """
            SELECT c.oid, n.nspname AS schema, c.relname AS name,
                   (SELECT array_agg(quote_ident(a.attname) ORDER BY array_position(i.indkey, a.attnum))
                      FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                     WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
                   (SELECT array_agg(quote_ident(a.attname) ORDER BY a.attnum) FROM pg_attribute a
                     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS cols
              FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'
             ORDER BY n.nspname, c.relname
            """)
        deps = await self.admin.fetch("SELECT conrelid, confrelid FROM pg_constraint WHERE contype = 'f'")
        tables = [dict(r) for r in rows]
        by_oid = {t["oid"]: t for t in tables}
        ordered: list[dict] = []
        visiting: set[int] = set()

        def visit(oid: int) -> None:
            table = by_oid.get(oid)
            if table is None or table in ordered or oid in visiting:
                return
            visiting.add(oid)
            for d in deps:
                if d["conrelid"] == oid and d["confrelid"] != oid:
                    visit(d["confrelid"])
            ordered.append(table)

        for t in tables:
            visit(t["oid"])
        return ordered

    async def prepare_state(self, seed: dict | None = None) -> dict:
        """Build the state query and the restore script from what the database holds now,
        or from `seed` (a recorded state), which is then restored."""
        tables = await self._tables()
        self.seed_print = None
        parts = []
        for t in tables:
            qualified = f"{_quote(t['schema'])}.{_quote(t['name'])}"
            key = t["name"] if t["schema"] == "public" else f"{t['schema']}.{t['name']}"
            order = ", ".join(f"t.{c}" for c in (t["pk"] or t["cols"] or []))
            agg = f"json_agg(t ORDER BY {order})" if order else "json_agg(t)"
            parts.append(f"'{key.replace(chr(39), chr(39) * 2)}', (SELECT coalesce({agg}, '[]'::json) FROM {qualified} t)")
        sequences_json = ("(SELECT coalesce(json_object_agg(schemaname || '.' || sequencename, last_value"
                          " ORDER BY schemaname, sequencename), '{}'::json) FROM pg_sequences"
                          " WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))")
        if len(parts) <= 40:  # the usual case: the whole state in one round trip, rendered by the server
            self.state_queries = [f"SELECT json_build_object('tables', json_build_object({', '.join(parts)}),"
                                  f" 'sequences', {sequences_json})::text"]
        else:  # json_build_object takes at most 100 arguments
            self.state_queries = [f"SELECT json_build_object({', '.join(parts[i:i + 40])})::text"
                                  for i in range(0, len(parts), 40)]
            self.state_queries.append(f"SELECT {sequences_json}::text")
        # what changes with any committed write: each table's row count and newest row version,
        # and the sequences (a fraction of the cost of rendering the state)
        prints = [f"(SELECT count(*) || ':' || coalesce(max(xmin::text::bigint), 0) FROM "
                  f"{_quote(t['schema'])}.{_quote(t['name'])})" for t in tables]
        prints.append("(SELECT coalesce(string_agg(last_value::text, ',' ORDER BY schemaname, sequencename), '')"
                      " FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))")
        self.print_query = "SELECT ARRAY[" + ", ".join(prints) + "]"
        state_text = json.dumps(seed) if seed is not None else await self.state_text()
        state = json.loads(state_text)
        sequences = [dict(r) for r in await self.admin.fetch(
            "SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename) AS name, last_value, start_value,"
            " schemaname || '.' || sequencename AS key"
            " FROM pg_sequences WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")]
        if seed is not None:
            for s in sequences:
                s["last_value"] = seed.get("sequences", {}).get(s["key"])
        # DELETE is cheaper than TRUNCATE on the few rows a run holds; foreign keys are not
        # checked during a reset (session_replication_role), so each table is restored alone
        self.table_scripts = []
        for t in tables:
            key = t["name"] if t["schema"] == "public" else f"{t['schema']}.{t['name']}"
            qualified = f"{_quote(t['schema'])}.{_quote(t['name'])}"
            rows = state["tables"].get(key) or []
            restore = f"DELETE FROM {qualified};"
            if rows:
                cols = ", ".join(t["cols"])
                tag = "$unify_seed$"
                restore += (f"\nINSERT INTO {qualified} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM "
                            f"json_populate_recordset(NULL::{qualified}, {tag}{json.dumps(rows)}{tag}::json);")
            self.table_scripts.append(restore)
        self.table_scripts.append("\n".join(
            f"SELECT setval('{s['name']}', {s['start_value']}, false);" if s["last_value"] is None
            else f"SELECT setval('{s['name']}', {s['last_value']}, true);" for s in sequences))  # the sequences
        self.seed_state = state_text
        if seed is not None:
            await self.reset()
            self.seed_print = None
            self.seed_state = await self.state_text()
        self.seed_print = await self.admin.fetchval(self.print_query)
        checks = await self.admin.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint WHERE contype = 'c'")
        literals: dict[str, list[str]] = {}
        for c in checks:
            text = c["def"]
            columns = re.findall(r"\(\(?\s*([a-z_][a-z0-9_]*)\s*(?:=|IN|\)|::)", text)
            values = re.findall(r"'((?:[^']|'')*)'::text", text)
            for column in set(columns):
                literals.setdefault(column, []).extend(v.replace("''", "'") for v in values)
        columns = await self.admin.fetch(
            """
            SELECT c.relname AS table_name, a.attname AS name, t.typcategory::text AS category, t.typname AS type,
                   a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AS required,
                   (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                     WHERE e.enumtypid = t.oid) AS labels
              FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
              JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
               AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'
             ORDER BY c.relname, a.attnum
            """)
        tables: dict[str, list[dict]] = {}
        for c in columns:
            tables.setdefault(c["table_name"], []).append(
                {"name": c["name"], "category": c["category"], "type": c["type"], "labels": list(c["labels"] or []),
                 "required": c["required"]})
        unique: dict[str, list[str]] = {}
        for r in await self.admin.fetch(
                "SELECT c.relname AS table_name, a.attname AS name FROM pg_index i"
                " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                " WHERE i.indisunique AND i.indnatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'"):
            unique.setdefault(r["table_name"], []).append(r["name"])
        notnull: dict[str, list[str]] = {}
        for r in await self.admin.fetch(
                "SELECT c.relname AS table_name, a.attname AS name FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE a.attnum > 0 AND a.attnotnull AND NOT a.attisdropped AND c.relkind IN ('r', 'p')"
                " AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_%'"):
            notnull.setdefault(r["table_name"], []).append(r["name"])
        references = [[r["table_name"], list(r["columns"]), r["parent"], list(r["parent_columns"])] for r in await self.admin.fetch(
            "SELECT cl.relname AS table_name, p.relname AS parent,"
            " array_agg(a.attname ORDER BY k.n) AS columns, array_agg(pa.attname ORDER BY k.n) AS parent_columns"
            " FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(ck, pk, n)"
            " JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class p ON p.oid = c.confrelid"
            " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.ck"
            " JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pk"
            " WHERE c.contype = 'f' GROUP BY c.oid, c.conrelid, cl.relname, p.relname ORDER BY c.oid")]
        return {"state": state, "seed_text": self.seed_state, "checks": literals, "columns": tables, "unique": unique,
                "notnull": notnull,
                "references": references}

    async def enrich(self, domains: dict[str, list], keys: dict[str, dict] | None = None) -> dict[str, int]:
        """Rows that reach the branches the statements name, added to the seed: the copies
        pgunify.verify.seeding plans from each table's facts (columns, unique keys, foreign
        keys, rows), parents before children. A copy the schema refuses is left out."""
        added: dict[str, int] = {}
        columns = await self.admin.fetch(
            """
            SELECT a.attrelid AS oid, a.attname AS name, t.typname AS type,
                   CASE WHEN t.typtype = 'd' THEN (SELECT b.typcategory FROM pg_type b WHERE b.oid = t.typbasetype)
                        ELSE t.typcategory END::text AS category,
                   NOT a.attnotnull AS nullable, a.attidentity <> '' OR a.atthasdef AS has_default,
                   CASE WHEN t.typname IN ('varchar', 'bpchar') AND a.atttypmod > 4 THEN a.atttypmod - 4 END AS length,
                   (SELECT array_agg(e.enumlabel ORDER BY e.enumsortorder) FROM pg_enum e
                     WHERE e.enumtypid = t.oid) AS labels
              FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
             ORDER BY a.attrelid, a.attnum
            """)
        by_table: dict[int, list] = {}
        for c in columns:
            by_table.setdefault(c["oid"], []).append(c)
        unique: dict[int, list[list[str]]] = {}
        for r in await self.admin.fetch(
                "SELECT i.indrelid AS oid, array_agg(a.attname ORDER BY k.n) AS cols FROM pg_index i"
                " CROSS JOIN LATERAL unnest(i.indkey[0:i.indnkeyatts - 1]) WITH ORDINALITY AS k(attnum, n)"
                " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                " WHERE i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL"
                " GROUP BY i.indexrelid, i.indrelid ORDER BY i.indexrelid"):
            unique.setdefault(r["oid"], []).append(list(r["cols"]))
        references: dict[int, list[Reference]] = {}
        for fk in await self.admin.fetch(
                "SELECT c.conrelid AS oid,"
                " array_agg(a.attname ORDER BY k.n) AS child, array_agg(quote_ident(p.attname) ORDER BY k.n) AS parent,"
                " quote_ident(n.nspname) || '.' || quote_ident(r.relname) AS parent_table"
                " FROM pg_constraint c CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(ck, pk, n)"
                " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.ck"
                " JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = k.pk"
                " JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace n ON n.oid = r.relnamespace"
                " WHERE c.contype = 'f' GROUP BY c.oid, c.conrelid, n.nspname, r.relname ORDER BY c.conname, c.oid"):
            parent = ", ".join(fk["parent"])
            parents = [tuple(json.loads(r[0])) for r in await self.admin.fetch(
                f"SELECT json_build_array({parent})::text FROM (SELECT DISTINCT {parent} FROM {fk['parent_table']}"
                f" ORDER BY {parent} LIMIT 6) t")]
            references.setdefault(fk["oid"], []).append(Reference(list(fk["child"]), parents))
        for t in await self._tables():
            cols = by_table.get(t["oid"], [])
            pk = [c.strip('"') for c in t["pk"] or []]
            key = next((c for c in cols if pk == [c["name"]] and c["category"] == "N" and c["has_default"]), None)
            qualified = f"{_quote(t['schema'])}.{_quote(t['name'])}"
            order = ", ".join(t["pk"] or ["1"])
            rows = [json.loads(r[0]) for r in await self.admin.fetch(
                f"SELECT row_to_json(t)::text FROM {qualified} t ORDER BY {order} LIMIT 2000")]
            table = Table(t["name"], [Column(c["name"], c["type"], c["category"], c["nullable"], list(c["labels"] or []),
                                             c["length"], (keys or {}).get(c["name"], {})) for c in cols], rows, key["name"] if key else None,
                          unique.get(t["oid"], []), references.get(t["oid"], []))
            names = ", ".join(_quote(c.name) for c in table.columns if c.name != table.server_key)
            statement = (f"INSERT INTO {qualified} ({names}) OVERRIDING SYSTEM VALUE SELECT {names} FROM "
                         f"json_populate_record(NULL::{qualified}, $1::json)")
            done = 0
            for row in planned_rows(table, domains):
                try:
                    async with self.admin.transaction():
                        await self.admin.execute(statement, json.dumps(row))
                    done += 1
                except asyncpg.PostgresError:
                    continue
            added[t["name"]] = done
        return added

    async def state_text(self) -> str:
        """The state as JSON text: the seed's own text when no table and no sequence changed
        since the seed was (re)stored, else rendered by the server."""
        if self.seed_print is not None and await self.admin.fetchval(self.print_query) == self.seed_print:
            return self.seed_state
        if len(self.state_queries) == 1:
            return await self.admin.fetchval(self.state_queries[0])
        tables: dict = {}
        for q in self.state_queries[:-1]:
            tables.update(json.loads(await self.admin.fetchval(q)))
        sequences = json.loads(await self.admin.fetchval(self.state_queries[-1]))
        return json.dumps({"tables": tables, "sequences": sequences}, sort_keys=False)

    async def reset(self) -> None:
        """Back to the seed state: only the tables (and the sequences) whose change print
        differs from the seed's are restored, in one round trip."""
        if not self.table_scripts:
            return
        current = await self.admin.fetchval(self.print_query) if self.seed_print is not None else None
        changed = [script for i, script in enumerate(self.table_scripts)
                   if current is None or len(current) != len(self.seed_print) or current[i] != self.seed_print[i]]
        if not changed:
            return
        async with self.admin.transaction():
            try:
                await self.admin.execute("SET LOCAL session_replication_role = replica")
            except asyncpg.PostgresError:
                pass
            await self.admin.execute("\n".join(changed))
        self.seed_print = await self.admin.fetchval(self.print_query)

    # -- the application --

    async def build_resource(self) -> Any:
        if self.resource_ready:
            return self.resource
        holder = self.plan.get("holder")
        if holder:
            module = importlib.import_module(holder["module"])
            if holder.get("class"):
                cls = getattr(module, holder["class"])
                kwargs = {}
                for name, param in list(inspect.signature(cls).parameters.items()):
                    if param.default is param.empty and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                        kwargs[name] = _url(self.dsn, "plain")
                obj = cls(**kwargs)
                await _maybe(getattr(obj, holder["method"])())
                self.resource = getattr(obj, holder["attr"])
            elif holder.get("function"):
                opener = getattr(module, holder["function"])
                kwargs = {name: _url(self.dsn, "plain") for name, param in inspect.signature(opener).parameters.items()
                          if param.default is param.empty and param.kind not in (param.VAR_KEYWORD, param.VAR_POSITIONAL)}
                self.resource = await _maybe(opener(**kwargs))
            else:
                self.resource = getattr(module, holder["attr"])
        self.resource_ready = True
        return self.resource

    async def target(self, name: str) -> tuple[Any, str]:
        if name in self.instances:
            return self.instances[name], self.classes[name][1]
        spec = next((t for t in self.plan["targets"] if t["class"] == name), None)
        if spec is None:
            raise LookupError(f"no target class {name!r}")
        cls = getattr(importlib.import_module(spec["module"]), spec["class"])
        factory = self.plan.get("build", {}).get(name)
        if factory:
            instance = await _maybe(load_class(factory)())
        elif spec["kind"] == "dao":
            instance = cls
            try:
                if any(not isinstance(inspect.getattr_static(cls, m), (staticmethod, classmethod))
                       for m in _public_async(cls)):
                    instance = cls()
            except TypeError:
                instance = cls
        else:
            kwargs = {}
            for pname, param in inspect.signature(cls).parameters.items():
                if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                    continue
                if _POOL_WORDS.search(pname) or _POOL_WORDS.search(str(param.annotation)):
                    kwargs[pname] = await self.build_resource()
                elif param.default is param.empty:
                    raise TypeError(f"cannot build {name}: do not know what to pass as {pname!r}; "
                                    f"configure [tool.pgunify.verify] build.{name} = \"module:factory\"")
            instance = cls(**kwargs)
        self.instances[name] = instance
        self.classes[name] = (cls, spec["kind"])
        return instance, spec["kind"]

    async def start(self) -> dict[str, str]:
        """Build every target the way the first call would; what could not be built, and why."""
        errors = {}
        for spec in self.plan["targets"]:
            try:
                await self.target(spec["class"])
            except Exception as exc:
                errors[spec["class"]] = f"{type(exc).__name__}: {exc}"
        return errors

    def describe(self) -> dict:
        out = []
        for spec in self.plan["targets"]:
            try:
                cls = getattr(importlib.import_module(spec["module"]), spec["class"])
            except Exception as exc:
                out.append({"class": spec["class"], "error": f"{type(exc).__name__}: {exc}"})
                continue
            methods = {}
            for name in _public_async(cls):
                fn = getattr(cls, name)
                skip = {"self", "cls"}
                if spec["kind"] == "dao":
                    session = _session_parameter(fn)
                    if session is None:
                        continue
                    skip.add(session)
                methods[name] = describe_method(fn, skip)
            out.append({"class": spec["class"], "kind": spec["kind"], "methods": methods})
        return {"targets": out}

    async def apply_schema(self) -> list[str]:
        done = []
        for item in self.plan.get("schema", []):
            if "sql" in item:
                await self.admin.execute((self.root / item["sql"]).read_text(encoding="utf-8"))
                done.append(item["sql"])
            else:
                await _maybe(load_class(item["call"])())
                done.append(item["call"])
        return done

    def resolve(self, path: str) -> Any:
        match = re.match(r"[A-Za-z_][A-Za-z0-9_]*", path)
        if not match or match.group(0) not in self.results:
            raise LookupError(f"no earlier result named {path.split('.')[0].split('[')[0]!r}")
        value = self.results[match.group(0)]
        for part in re.finditer(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]|\[\"?'?([^\]'\"]+)'?\"?\]", path[match.end():]):
            attr, index, key = part.groups()
            if attr is not None:
                mapping = isinstance(value, dict) or (hasattr(value, "keys") and hasattr(value, "__getitem__"))
                value = value[attr] if mapping and attr in value.keys() else getattr(value, attr)
            elif index is not None:
                value = value[int(index)]
            else:
                value = value[key]
        return value

    async def call(self, request: dict) -> dict:
        answer: dict = {}
        if request.get("trace") or request.get("mutate"):
            STATEMENTS.install()
        STATEMENTS.trace = set() if request.get("trace") else None
        STATEMENTS.swap = dict([request["mutate"]]) if request.get("mutate") else {}
        try:
            instance, kind = await self.target(request["target"])
            args = [decode(a, self.resolve) for a in request.get("args", [])]
            kwargs = {k: decode(v, self.resolve) for k, v in request.get("kwargs", {}).items()}
            method = getattr(instance, request["method"])
            if kind == "dao":
                factory = await self._sessions()
                async with factory() as session:
                    value = await asyncio.wait_for(method(session, *args, **kwargs), CALL_TIMEOUT)
                    answer["result"] = encode(value)
            else:
                value = await asyncio.wait_for(method(*args, **kwargs), CALL_TIMEOUT)
                answer["result"] = encode(value)
            if request.get("save"):
                self.results[request["save"]] = value
        except Exception as exc:
            answer["result"] = encode_error(exc)
        finally:
            if STATEMENTS.trace is not None:
                answer["sql"] = sorted(STATEMENTS.trace)
            STATEMENTS.trace, STATEMENTS.swap = None, {}
        if request.get("state"):
            state = await self.state_text()
            answer["state"] = state
            if request.get("reset") and state is not self.seed_state and state != self.seed_state:
                await self.reset()
        return answer

    async def _sessions(self) -> Any:
        spec = self.plan.get("sessions")
        if not spec:
            raise LookupError("no ORM session factory found; DAO methods cannot be called")
        return getattr(importlib.import_module(spec["module"]), spec["attr"])

    async def handle(self, request: dict) -> dict:
        op = request["op"]
        if op == "describe":
            return self.describe()
        if op == "start":
            return {"errors": await self.start()}
        if op == "schema":
            return {"applied": await self.apply_schema()}
        if op == "prepare":
            return await self.prepare_state()
        if op == "enrich":
            return {"added": await self.enrich(request["domains"], request.get("keys"))}
        if op == "call":
            return await self.call(request)
        if op == "state":
            return {"state": await self.state_text()}
        if op == "reset":
            self.results.clear()
            state = await self.state_text()
            if state != self.seed_state:
                await self.reset()
            return {}
        if op == "close":
            await self.close()
            return {}
        raise ValueError(f"unknown request {op!r}")

    async def close(self) -> None:
        resource, self.resource = self.resource, None
        for closer in ("dispose", "close"):
            fn = getattr(resource, closer, None)
            if fn is not None:
                try:
                    await _maybe(fn())
                except Exception:
                    pass
                break
        sessions = self.plan.get("sessions")
        if sessions:
            module = sys.modules.get(sessions["module"])
            factory = getattr(module, sessions["attr"], None) if module else None
            bind = getattr(factory, "kw", {}).get("bind") if factory is not None else None
            if bind is not None and hasattr(bind, "dispose"):
                try:
                    await bind.dispose()
                except Exception:
                    pass
        if self.admin is not None:
            await self.admin.close()
            self.admin = None


def _public_async(cls: type) -> list[str]:
    names = []
    for name in dir(cls):
        if name.startswith("_"):
            continue
        try:
            value = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        fn = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
        if inspect.iscoroutinefunction(fn):
            names.append(name)
    return names


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def serve(plan: dict, root: Path, dsn: str, channel: Any) -> None:
    side = Side(plan, root, dsn)
    await side.connect()
    channel.write(json.dumps({"ready": True}) + "\n")
    channel.flush()
    try:
        while True:
            line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            request = json.loads(line)
            try:
                answer = await side.handle(request)
            except Exception as exc:
                answer = {"failed": encode_error(exc)}
            if answer.get("state") is side.seed_state and side.seed_state is not None:
                answer["state"] = SEED  # the parent has the seed's text from "prepare"
            channel.write(json.dumps(answer) + "\n")
            channel.flush()
            if request["op"] == "close":
                break
    finally:
        await side.close()


def main(argv: list[str]) -> None:
    plan = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    root = Path(argv[1]).resolve()
    # taken out of the environment at once: the application's own child processes never see it
    dsn = os.environ.pop("UNIFY_VERIFY_WORKER_URL", "")
    if not dsn:
        sys.exit("pgunify.verify.worker: UNIFY_VERIFY_WORKER_URL is not set")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when this side stops
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for name, driver in plan.get("env", {}).items():
        os.environ[name] = _url(dsn, driver)
    os.environ.update(plan.get("extra_env", {}))
    os.chdir(root)
    sys.path.insert(0, str((root / plan.get("import_root", ".")).resolve()))
    asyncio.run(serve(plan, root, dsn, channel))


if __name__ == "__main__":
    main(sys.argv[1:])
