"""Findings: what in the inventory puts the application at risk, with a severity and a fix.

Each rule is a small function of the Inventory; RULES lists them in report order.
"""

from __future__ import annotations

from typing import Callable, Iterator

from pgunify.dsn import points_at_localhost
from pgunify.facts.model import Finding, Inventory, Location, Severity


def _settings_by_name(inv: Inventory) -> dict[str, list[Location]]:
    names: dict[str, list[Location]] = {}
    for setting in inv.deployment:
        names.setdefault(setting.name, []).append(setting.location)
    return names


def localhost_default_not_deployed(inv: Inventory) -> Iterator[Finding]:
    """The seed's incident: a database URL whose default is localhost, unset where it is deployed."""
    deployed = _settings_by_name(inv)
    db_reads = [e for e in inv.all("env_reads") if e.database_url]
    deployed_db_vars = sorted({e.name for e in db_reads if e.name in deployed})
    for read in db_reads:
        if read.default is None or not points_at_localhost(read.default) or read.name in deployed:
            continue
        if inv.deployment_files:
            other = deployed_db_vars[0] if deployed_db_vars else None
            files = ", ".join(inv.deployment_files)
            also = f" ({other} is set there)" if other else ""
            yield Finding(
                "db-url-default-localhost", Severity.ERROR, read.location,
                f"{read.name} falls back to a localhost URL ({read.default}) and no deployment file sets it{also}; "
                f"checked: {files}. Inside a container that default means 'Connection refused'.",
                fix=(f"Derive it from {other}: make_url(os.environ[\"{other}\"]).set(drivername=\"postgresql+asyncpg\") "
                     "(the `config` codemod of `pgunify migrate` does this), or set it in every deployment file."
                     if other else f"Set {read.name} in every deployment file, or read one shared DATABASE_URL."),
            )
        else:
            yield Finding(
                "db-url-default-localhost", Severity.WARNING, read.location,
                f"{read.name} falls back to a localhost URL ({read.default}); no deployment file (docker-compose*.yml, "
                ".env, Kubernetes manifest, Dockerfile) was found to confirm it is set where the service runs.",
                fix="Make the variable required, or derive it from the one URL every module reads.",
            )


def several_database_variables(inv: Inventory) -> Iterator[Finding]:
    names = sorted({e.name for e in inv.all("env_reads") if e.database_url})
    if len(names) > 1:
        first = min((e.location for e in inv.all("env_reads") if e.database_url))
        yield Finding(
            "several-database-urls", Severity.WARNING, first,
            f"{len(names)} environment variables configure database connections: {', '.join(names)}. "
            "Each one is a place where deployments can disagree.",
            fix="Read one DATABASE_URL and derive driver-specific URLs from it (`pgunify migrate --select config`).",
        )


def several_pools(inv: Inventory) -> Iterator[Finding]:
    pools = [f for f in inv.all("factories") if f.kind in ("pool", "engine")]
    if len(pools) > 1:
        where = "; ".join(f"{f.api} at {f.location}" for f in pools)
        yield Finding(
            "several-pools", Severity.WARNING, pools[0].location,
            f"{len(pools)} connection pools or engines are created: {where}. Each has its own size, "
            "timeouts and URL, and together they can exceed the server's connection limit.",
            fix="Create one engine in one module and share it (`pgunify migrate --select engine`).",
        )


def credentials_in_defaults(inv: Inventory) -> Iterator[Finding]:
    for read in inv.all("env_reads"):
        if read.default and "***@" in read.default:
            yield Finding(
                "password-in-default", Severity.WARNING, read.location,
                f"the default of {read.name} carries a password (shown masked); it ends up in the source, images and logs.",
                fix="Drop the default or keep credentials out of it.",
            )


def schema_without_owner(inv: Inventory) -> Iterator[Finding]:
    sources = list(inv.sql_files) + inv.all("schema_sources")
    raw = [s for s in sources if s.kind in ("sql-file", "ddl-in-code")]
    orm = [s for s in sources if s.kind == "metadata-create-all"]
    if raw and orm:
        yield Finding(
            "schema-without-owner", Severity.WARNING, orm[0].location,
            f"the schema is created in {len(raw) + len(orm)} places: raw DDL ({', '.join(sorted({str(s.location) for s in raw}))}) "
            f"and metadata.create_all ({', '.join(sorted({str(s.location) for s in orm}))}); no migration history owns it.",
            fix="Let one Alembic history own the whole schema (`pgunify schema`).",
        )


def dynamic_sql(inv: Inventory) -> Iterator[Finding]:
    for call in inv.all("calls"):
        if call.sql_origin == "dynamic":
            yield Finding(
                "dynamic-sql", Severity.INFO, call.location,
                f"{call.receiver}.{call.method}() in {call.function} builds its SQL at run time; "
                "its placeholders cannot be checked statically.",
                fix="Migrated through the generated SQL helper, or by hand.",
            )


def multi_statement_scripts(inv: Inventory) -> Iterator[Finding]:
    for call in inv.all("calls"):
        if call.statements > 1:
            yield Finding(
                "multi-statement-sql", Severity.INFO, call.location,
                f"{call.method}() runs {call.statements} statements in one string; only the simple query protocol "
                "accepts that, prepared statements (SQLAlchemy) refuse it.",
                fix="Move schema scripts to a migration or split the statements.",
            )


def driver_exceptions(inv: Inventory) -> Iterator[Finding]:
    for clause in inv.all("except_clauses"):
        yield Finding(
            "driver-exception", Severity.INFO, clause.location,
            f"catches {clause.exception}; through SQLAlchemy errors arrive wrapped (sqlalchemy.exc.DBAPIError), "
            "so this clause would stop matching.",
            fix="`pgunify migrate` keeps it matching: the raw-SQL repositories run on repository_engine, which raises "
                "asyncpg's own exceptions. Code on the ORM side must catch SQLAlchemy's.",
        )


def unresolved_receivers(inv: Inventory) -> Iterator[Finding]:
    for call in inv.all("calls"):
        if call.receiver_kind == "unresolved":
            yield Finding(
                "unresolved-receiver", Severity.INFO, call.location,
                f"{call.receiver}.{call.method}() looks like asyncpg but its receiver could not be traced to a pool "
                "or connection; codemods leave it alone.",
                fix="Annotate the receiver (asyncpg.Pool / asyncpg.Connection) so it can be recognised.",
            )


def unparsable_files(inv: Inventory) -> Iterator[Finding]:
    for problem in inv.problems:
        yield Finding("file-skipped", Severity.WARNING, Location(problem.path, 0), problem.error)


RULES: tuple[Callable[[Inventory], Iterator[Finding]], ...] = (
    localhost_default_not_deployed,
    several_database_variables,
    several_pools,
    credentials_in_defaults,
    schema_without_owner,
    multi_statement_scripts,
    dynamic_sql,
    driver_exceptions,
    unresolved_receivers,
    unparsable_files,
)


def derive_findings(inv: Inventory) -> list[Finding]:
    found = [finding for rule in RULES for finding in rule(inv)]
    return sorted(found, key=lambda f: (-f.severity.rank, f.rule, f.location or Location("", 0)))
