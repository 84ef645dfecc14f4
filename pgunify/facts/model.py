"""The facts a scan establishes about a codebase: plain, immutable values.

Everything downstream (findings, reports, codemods) reads these; nothing here writes.
Field names are part of the documented JSON schema (docs/scan-json.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return {"info": 0, "warning": 1, "error": 2}[self.value]


@dataclass(frozen=True, order=True)
class Location:
    path: str  # relative to the scanned root, with forward slashes
    line: int
    column: int = 0

    def __str__(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path


@dataclass(frozen=True)
class ConnectionFactory:
    """A place that creates a pool, a connection, an engine or a session factory."""

    location: Location
    api: str  # qualified name, e.g. asyncpg.create_pool
    kind: str  # "pool" | "connection" | "engine" | "session-factory"
    stack: str  # "asyncpg" | "sqlalchemy"
    target: str | None  # what it is assigned to (self.pool, async_engine, ...)
    url: str | None  # the source text of the URL argument
    options: dict[str, str] = field(default_factory=dict)  # keyword -> source text


@dataclass(frozen=True)
class AcquireSite:
    location: Location
    receiver: str
    form: str  # "async-with" | "await" | "release"
    target: str | None


@dataclass(frozen=True)
class SqlCall:
    """One asyncpg call that talks to the server."""

    location: Location
    function: str  # enclosing function, e.g. PostgreSQLAlertRepository.get_by_id
    receiver: str  # source text of the receiver, e.g. self.pool, conn
    receiver_kind: str  # "pool" | "connection" | "prepared" | "cursor-factory"
    evidence: str  # how the receiver was recognised (annotation, assignment, acquire(), name)
    method: str  # fetch, fetchrow, fetchval, execute, executemany, prepare, cursor, copy_*, ...
    sql: str | None  # the statement text when it is static
    sql_origin: str  # "literal" | "constant:NAME" | "dynamic" | "none"
    placeholders: tuple[int, ...] = ()
    casts: tuple[tuple[int, str], ...] = ()  # ($n, type) for `$n::type`
    statements: int = 1
    result_use: tuple[str, ...] = ()  # how the returned value is consumed
    in_transaction: bool = False


@dataclass(frozen=True)
class EnvRead:
    location: Location
    name: str
    default: str | None  # redacted
    api: str  # os.getenv | os.environ.get | os.environ[]
    database_url: bool  # the variable configures a database connection
    target: str | None
    # the default as written, for the code generators; never rendered (see report.scan_data)
    raw_default: str | None = field(default=None, repr=False, compare=False, metadata={"secret": True})


@dataclass(frozen=True)
class SchemaSource:
    location: Location
    kind: str  # "sql-file" | "ddl-in-code" | "metadata-create-all" | "orm-model"
    detail: str


@dataclass(frozen=True)
class DeploymentSetting:
    location: Location
    file_kind: str  # "compose" | "dotenv" | "kubernetes" | "dockerfile"
    name: str
    value: str | None  # redacted; None where only the name is known (secretKeyRef, env_file)


@dataclass(frozen=True)
class ExceptClause:
    location: Location
    exception: str  # qualified name, e.g. asyncpg.UniqueViolationError


@dataclass(frozen=True)
class Finding:
    rule: str  # stable id, e.g. db-url-default-localhost
    severity: Severity
    location: Location | None
    message: str
    fix: str | None = None


@dataclass(frozen=True)
class FileProblem:
    path: str
    error: str  # a specific, human message (syntax error with line, undecodable bytes, ...)


@dataclass(frozen=True)
class FileFacts:
    """All facts drawn from one Python file."""

    path: str
    factories: tuple[ConnectionFactory, ...] = ()
    acquires: tuple[AcquireSite, ...] = ()
    calls: tuple[SqlCall, ...] = ()
    env_reads: tuple[EnvRead, ...] = ()
    schema_sources: tuple[SchemaSource, ...] = ()
    except_clauses: tuple[ExceptClause, ...] = ()
    orm_tables: tuple[tuple[str, str], ...] = ()  # (class name, __tablename__)
    # functions annotated to return an asyncpg pool or connection: (dotted name in the module, kind)
    returns: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Inventory:
    root: str
    files_scanned: int
    files: tuple[FileFacts, ...]
    deployment: tuple[DeploymentSetting, ...]
    deployment_files: tuple[str, ...]
    sql_files: tuple[SchemaSource, ...]
    problems: tuple[FileProblem, ...]
    findings: tuple[Finding, ...] = ()

    def all(self, attr: str) -> list:
        return [item for f in self.files for item in getattr(f, attr)]
