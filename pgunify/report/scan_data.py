"""The scan as plain data: the documented JSON schema (docs/scan-json.md), version 1."""

from __future__ import annotations

import dataclasses
from enum import Enum
from typing import Any

from pgunify import __version__
from pgunify.facts.model import Inventory, Location

SCHEMA_VERSION = 1


def _plain(value: Any) -> Any:
    if isinstance(value, Location):
        return {"path": value.path, "line": value.line, "column": value.column}
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.metadata.get("secret")}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def summary(inv: Inventory) -> dict[str, Any]:
    factories = inv.all("factories")
    calls = inv.all("calls")
    by_severity = {"error": 0, "warning": 0, "info": 0}
    for finding in inv.findings:
        by_severity[finding.severity.value] += 1
    return {
        "files_scanned": inv.files_scanned,
        "files_with_database_access": len(inv.files),
        "files_skipped": len(inv.problems),
        "asyncpg_pools": sum(1 for f in factories if f.stack == "asyncpg" and f.kind == "pool"),
        "asyncpg_connects": sum(1 for f in factories if f.stack == "asyncpg" and f.kind == "connection"),
        "sqlalchemy_engines": sum(1 for f in factories if f.kind == "engine"),
        "session_factories": sum(1 for f in factories if f.kind == "session-factory"),
        "engines_and_pools": sum(1 for f in factories if f.kind in ("pool", "engine")),
        "acquire_sites": sum(1 for a in inv.all("acquires") if a.form != "release"),
        "sql_calls": len(calls),
        "static_sql_calls": sum(1 for c in calls if c.sql is not None),
        "dynamic_sql_calls": sum(1 for c in calls if c.sql_origin == "dynamic"),
        "database_env_vars": sorted({e.name for e in inv.all("env_reads") if e.database_url}),
        "findings": by_severity,
    }


def to_data(inv: Inventory) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "pgunify", "version": __version__},
        "root": inv.root,
        "summary": summary(inv),
        "factories": _plain(inv.all("factories")),
        "acquires": _plain(inv.all("acquires")),
        "calls": _plain(inv.all("calls")),
        "env_reads": _plain(inv.all("env_reads")),
        "deployment_files": list(inv.deployment_files),
        "deployment_settings": _plain(inv.deployment),
        "schema_sources": _plain(list(inv.sql_files) + inv.all("schema_sources")),
        "orm_tables": [{"path": f.path, "class": c, "table": t} for f in inv.files for c, t in f.orm_tables],
        "except_clauses": _plain(inv.all("except_clauses")),
        "findings": _plain(inv.findings),
        "problems": _plain(inv.problems),
    }
