"""What `pgunify schema` establishes and produces, as plain values."""

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

    kind: str  # "extension" | "function" | "view" | "trigger" | "sequence" | "rows"
    name: str
    create: str
    drop: str

    @property
    def runs_before_tables(self) -> bool:
        return self.kind in ("extension", "function", "sequence")

    def describe(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class MetadataHome:
    """One MetaData of the application with tables, and the module-level name that reaches it."""

    module: str  # e.g. src.database.connection
    name: str  # e.g. Base, metadata, mapper_registry, Camera
    suffix: str  # "" (a MetaData), ".metadata" (a base, a registry, a Table), ".__table__.metadata"
    tables: tuple[str, ...]

    @property
    def expression(self) -> str:
        return f"{self.name}{self.suffix}"


@dataclass(frozen=True)
class OrmMetadata:
    """The application's ORM/Core MetaData objects, found by importing it in a subprocess;
    the one with the most tables first (it holds the raw-SQL tables too)."""

    homes: tuple[MetadataHome, ...]
    model_modules: tuple[str, ...]  # modules to import so every mapped table is registered

    @property
    def home(self) -> MetadataHome:
        return self.homes[0]

    @property
    def home_module(self) -> str:
        return self.home.module

    @property
    def home_expression(self) -> str:
        return self.home.name

    @property
    def metadata_expression(self) -> str:
        return self.home.expression

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(t for home in self.homes for t in home.tables)


@dataclass(frozen=True)
class Conflict:
    table: str
    sources: str  # e.g. "src/database/schema.sql and the ORM model (src.database.models)"
    differences: tuple[str, ...]

    def describe(self) -> str:
        return f"table {self.table} is defined twice with different shapes ({self.sources}): " + "; ".join(self.differences)


@dataclass
class SchemaResult:
    """Everything one `pgunify schema` run found and wrote."""

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
    migration_tables: list = field(default_factory=list)  # homegrown.MigrationTable, taken over or retired
    proof: object | None = None  # proof.Proof: the baseline against the legacy start-up, or None (not run)

    @property
    def failed(self) -> bool:
        return bool(self.conflicts) or any(p.startswith("error:") for p in self.problems) or \
            (self.proof is not None and not self.proof.passed)
