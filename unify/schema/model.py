"""What `unify schema` establishes and produces, as plain values."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DdlScript:
    """Legacy DDL the application runs: a whole SQL file or one statement in Python code."""

    origin: str  # "path" or "path:line"
    sql: str


@dataclass(frozen=True)
class RawObject:
    """A database object MetaData cannot hold; the baseline carries it as SQL."""

    kind: str  # "extension" | "function" | "view" | "trigger" | "sequence"
    name: str
    create: str
    drop: str

    @property
    def runs_before_tables(self) -> bool:
        return self.kind in ("extension", "function", "sequence")

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class OrmMetadata:
    """Where the application's ORM MetaData lives, found by importing it in a subprocess."""

    home_module: str  # e.g. src.database.connection
    home_expression: str  # e.g. Base (a declarative base) or metadata (a MetaData)
    is_base: bool
    model_modules: tuple[str, ...]  # modules to import so every mapped table is registered
    tables: tuple[str, ...]
    others: tuple[str, ...] = ()  # further MetaData objects with tables that were left out

    @property
    def metadata_expression(self) -> str:
        return f"{self.home_expression}.metadata" if self.is_base else self.home_expression


@dataclass(frozen=True)
class Conflict:
    table: str
    sources: str  # e.g. "src/database/schema.sql and the ORM model (src.database.models)"
    differences: tuple[str, ...]

    def describe(self) -> str:
        return f"table {self.table} is defined twice with different shapes ({self.sources}): " + "; ".join(self.differences)


@dataclass
class SchemaResult:
    """Everything one `unify schema` run found and wrote."""

    root: str
    tables_module: str = ""  # dotted
    tables_path: str = ""  # relative to root
    raw_tables: list[str] = field(default_factory=list)
    orm_tables: list[str] = field(default_factory=list)
    shared_tables: list[str] = field(default_factory=list)  # same shape in SQL and ORM: the ORM keeps them
    raw_objects: list[RawObject] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    kept: list[tuple[str, str]] = field(default_factory=list)  # (path, why it was not written)
    baseline: str | None = None  # relative path of the baseline revision

    @property
    def failed(self) -> bool:
        return bool(self.conflicts) or any(p.startswith("error:") for p in self.problems)
