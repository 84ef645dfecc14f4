"""The legacy schema as PostgreSQL itself understands it: DDL applied to a scratch database,
then read back from the catalog. The server is the parser; nothing here interprets DDL text."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from pgunify.dsn import redact_text
from pgunify.schema.model import DdlScript, RawObject


@dataclass
class TableShape:
    """One table as the inspector reports it."""

    name: str
    columns: list[dict[str, Any]]
    pk: dict[str, Any]
    foreign_keys: list[dict[str, Any]]
    uniques: list[dict[str, Any]]
    checks: list[dict[str, Any]]
    indexes: list[dict[str, Any]]
    comment: str | None = None


@dataclass
class Catalog:
    tables: dict[str, TableShape] = field(default_factory=dict)  # in creation order
    raw_objects: list[RawObject] = field(default_factory=list)


def plain_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def apply_scripts(url: str, scripts: list[DdlScript]) -> list[str]:
    """Run each script in its own transaction; a failing one is reported, the rest still run."""

    async def run() -> list[str]:
        problems = []
        conn = await asyncpg.connect(plain_url(url))
        try:
            for script in scripts:
                try:
                    async with conn.transaction():
                        await conn.execute(script.sql)
                except asyncpg.PostgresError as exc:
                    problems.append(f"{script.origin}: PostgreSQL rejected the DDL: {type(exc).__name__}: {exc}")
        finally:
            await conn.close()
        return problems

    return [redact_text(p) for p in asyncio.run(run())]


def read_catalog(url: str, skip: frozenset[str] = frozenset()) -> Catalog:
    """Tables (except `skip` and alembic_version) and the objects MetaData cannot express."""

    async def run() -> Catalog:
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        try:
            async with engine.connect() as conn:
                names = [r[0] for r in (await conn.exec_driver_sql(
                    "SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
                    "AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.oid")).all()]
                names = [n for n in names if n not in skip and n != "alembic_version"]
                tables = await conn.run_sync(lambda sync: _shapes(sync, names))
            raw = await _raw_objects(plain_url(url), skip)
        finally:
            await engine.dispose()
        return Catalog({t.name: t for t in tables}, raw)

    return asyncio.run(run())


def _shapes(sync_conn, names: list[str]) -> list[TableShape]:
    inspector = inspect(sync_conn)
    shapes = []
    for name in names:
        shapes.append(TableShape(
            name=name,
            columns=inspector.get_columns(name),
            pk=inspector.get_pk_constraint(name),
            foreign_keys=inspector.get_foreign_keys(name),
            uniques=inspector.get_unique_constraints(name),
            checks=inspector.get_check_constraints(name),
            indexes=[i for i in inspector.get_indexes(name) if not i.get("duplicates_constraint")],
            comment=inspector.get_table_comment(name).get("text"),
        ))
    return shapes


_NOT_FROM_EXTENSION = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"


async def _raw_objects(url: str, skip: frozenset[str]) -> list[RawObject]:
    conn = await asyncpg.connect(url)
    try:
        found: list[RawObject] = []
        for row in await conn.fetch("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY oid"):
            name = row["extname"]
            found.append(RawObject("extension", name, f'CREATE EXTENSION IF NOT EXISTS "{name}"',
                                   f'DROP EXTENSION IF EXISTS "{name}"'))
        for row in await conn.fetch(
                "SELECT p.proname, pg_get_functiondef(p.oid) AS definition, "
                "pg_get_function_identity_arguments(p.oid) AS args, p.prokind FROM pg_proc p "
                "WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p') AND "
                + _NOT_FROM_EXTENSION.format(oid="p.oid") + " ORDER BY p.oid"):
            kind = "PROCEDURE" if row["prokind"] == "p" else "FUNCTION"
            signature = f"{row['proname']}({row['args']})"
            create = row["definition"].strip().replace("CREATE OR REPLACE FUNCTION public.", "CREATE FUNCTION ", 1) \
                .replace("CREATE OR REPLACE PROCEDURE public.", "CREATE PROCEDURE ", 1)
            found.append(RawObject("function", signature, create, f"DROP {kind} {signature}"))
        for row in await conn.fetch(
                "SELECT c.relname, c.relkind, pg_get_viewdef(c.oid, true) AS definition FROM pg_class c "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm') AND "
                + _NOT_FROM_EXTENSION.format(oid="c.oid") + " ORDER BY c.oid"):
            what = "MATERIALIZED VIEW" if row["relkind"] == "m" else "VIEW"
            body = row["definition"].strip().rstrip(";")
            found.append(RawObject("view", row["relname"], f"CREATE {what} {_ident(row['relname'])} AS\n{body}",
                                   f"DROP {what} {_ident(row['relname'])}"))
        for row in await conn.fetch(
                "SELECT t.tgname, c.relname, pg_get_triggerdef(t.oid, true) AS definition FROM pg_trigger t "
                "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal "
                "AND c.relnamespace = 'public'::regnamespace ORDER BY t.oid"):
            if row["relname"] in skip:
                continue
            found.append(RawObject("trigger", f"{row['tgname']} on {row['relname']}", row["definition"],
                                   f"DROP TRIGGER {_ident(row['tgname'])} ON {_ident(row['relname'])}"))
        for row in await conn.fetch(
                "SELECT c.relname, s.seqtypid::regtype::text AS type, s.seqstart, s.seqincrement, s.seqmin, s.seqmax, "
                "s.seqcache, s.seqcycle FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid "
                "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S' "
                "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i', 'e')) "
                "ORDER BY c.oid"):
            name = row["relname"]
            found.append(RawObject("sequence", name, f"CREATE SEQUENCE {_ident(name)}{_sequence_options(row)}",
                                   f"DROP SEQUENCE {_ident(name)}"))
        return found
    finally:
        await conn.close()


_TYPE_MAX = {"smallint": 32767, "integer": 2147483647, "bigint": 9223372036854775807}


def _sequence_options(row) -> str:
    """The options of CREATE SEQUENCE that differ from what PostgreSQL would choose itself."""
    options = []
    ascending = row["seqincrement"] > 0
    if row["type"] != "bigint":
        options.append(f"AS {row['type']}")
    if row["seqincrement"] != 1:
        options.append(f"INCREMENT BY {row['seqincrement']}")
    default_min = 1 if ascending else -_TYPE_MAX[row["type"]] - 1
    default_max = _TYPE_MAX[row["type"]] if ascending else -1
    if row["seqmin"] != default_min:
        options.append(f"MINVALUE {row['seqmin']}")
    if row["seqmax"] != default_max:
        options.append(f"MAXVALUE {row['seqmax']}")
    if row["seqstart"] != (row["seqmin"] if ascending else row["seqmax"]):
        options.append(f"START WITH {row['seqstart']}")
    if row["seqcache"] != 1:
        options.append(f"CACHE {row['seqcache']}")
    if row["seqcycle"]:
        options.append("CYCLE")
    return (" " + " ".join(options)) if options else ""


def _ident(name: str) -> str:
    import re

    return name if re.fullmatch(r"[a-z_][a-z0-9_$]*", name) else '"' + name.replace('"', '""') + '"'
