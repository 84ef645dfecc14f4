"""`pgunify schema PATH`: scan facts in, the unified metadata module and the Alembic baseline out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pgunify.config import Settings, load_settings, schema_settings
from pgunify.facts.inventory import scan
from pgunify.files import collect
from pgunify.postgres import Server, provision, scratch_database
from pgunify.rewrite.plan import GENERATED_MARKER as MIGRATE_MARKER
from pgunify.rewrite.plan import build_plan
from pgunify.rewrite.writing import atomic_write
from pgunify.schema import homegrown, sources
from pgunify.schema.catalog import Catalog, TableShape, apply_scripts, read_catalog
from pgunify.schema.environment import environment_files, existing_revisions, make_baseline
from pgunify.schema.model import Conflict, DdlScript, SchemaResult
from pgunify.schema.orm_probe import ProbeError, probe
from pgunify.schema.proof import metadata_checker, prove
from pgunify.schema.render import render_module, type_sql


@dataclass(frozen=True)
class Layout:
    """Where things are in the target application."""

    root: Path
    import_root: Path
    tables_module: str
    tables_path: str  # relative to root
    url_var: str
    engine_module: str | None  # only once `pgunify migrate` has written it
    migrations_table: str | None = None  # "take-over" | "retire" from pyproject, None: decided per table


@dataclass
class Legacy:
    """The schema sources of the application, ready to apply."""

    scripts: list[DdlScript]
    orm_modules: list[str]
    model_modules: list[str]
    problems: list[str]
    sql_calls: list[tuple[str, str]] = field(default_factory=list)  # (location, SQL) of application code


def layout(root: Path, settings: Settings | None = None) -> tuple[Layout, object]:
    """Decide the locations once, from the same plan `pgunify migrate` makes."""
    root = root.resolve()
    settings = settings or load_settings(root)
    schema_table = schema_settings(root)
    configured = schema_table.get("tables-module")
    # the Alembic environment is no schema source, and its engine must not anchor the layout;
    # SQL files of the application's own in a migrations/ folder still are
    exclude = tuple(settings.exclude) + ("/migrations/env.py", "/migrations/versions/")
    files = collect(root, exclude, settings.respect_gitignore)
    inventory = scan(root, exclude, settings.respect_gitignore, closure=False)
    plan = build_plan(files.root, inventory, settings, python_files=files.python)
    import_root = Path(plan.import_root)
    if configured:
        module = configured
    else:
        package = plan.engine_module.rpartition(".")[0]
        module = f"{package}.schema_tables" if package else "schema_tables"
    tables_file = import_root / (module.replace(".", "/") + ".py")
    engine_file = root / plan.engine_path
    engine_module = plan.engine_module if engine_file.is_file() and \
        MIGRATE_MARKER in engine_file.read_text(encoding="utf-8", errors="replace") else None
    return Layout(root, import_root, module, tables_file.relative_to(root).as_posix(), plan.url_var,
                  engine_module, schema_table.get("migrations-table")), inventory


def _module_of(import_root: Path, root: Path, rel: str) -> str:
    path = (root / rel).resolve()
    return ".".join(path.relative_to(import_root).with_suffix("").parts)


def legacy_sources(where: Layout, inventory) -> Legacy:
    scripts, problems = sources.ddl_scripts(where.root, inventory)
    orm_modules = [_module_of(where.import_root, where.root, rel) for rel in sources.orm_files(inventory)]
    model_modules = [_module_of(where.import_root, where.root, rel) for rel in sources.model_files(inventory)]
    sql_calls = [(str(c.location), c.sql) for c in inventory.all("calls")
                 if c.sql and not sources.is_test_path(c.location.path)]
    return Legacy(scripts, orm_modules, model_modules, problems, sql_calls)


def build_legacy_database(url: str, where: Layout, legacy: Legacy) -> list[str]:
    """What the legacy application creates at start-up: its SQL files in name order and the
    DDL its code executes, then `create_all` of every MetaData its modules declare."""
    problems = apply_scripts(url, legacy.scripts)
    if legacy.orm_modules:
        probe(where.import_root, legacy.orm_modules, legacy.model_modules, where.url_var, url)
    return problems


def _shape_signature(shape: TableShape) -> dict[str, object]:
    columns = {c["name"]: (type_sql(c["type"]), c["nullable"], c.get("default"), bool(c.get("identity")))
               for c in shape.columns}
    return {
        "columns": columns,
        "primary key": tuple(shape.pk.get("constrained_columns") or ()),
        "foreign keys": sorted((tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]),
                                (f.get("options") or {}).get("ondelete")) for f in shape.foreign_keys),
        "unique constraints": sorted(tuple(u["column_names"]) for u in shape.uniques),
    }


def compare_shapes(sql_shape: TableShape, orm_shape: TableShape) -> list[str]:
    a, b = _shape_signature(sql_shape), _shape_signature(orm_shape)
    differences = []
    for name in sorted(set(a["columns"]) | set(b["columns"])):
        left, right = a["columns"].get(name), b["columns"].get(name)
        if left is None or right is None:
            differences.append(f"column {name} only in the {'ORM model' if left is None else 'SQL'}")
        elif left != right:
            labels = ("type", "nullable", "server default", "identity")
            for label, x, y in zip(labels, left, right):
                if x != y:
                    differences.append(f"column {name}: {label} {x!r} in SQL, {y!r} in the ORM model")
    for key in ("primary key", "foreign keys", "unique constraints"):
        if a[key] != b[key]:
            differences.append(f"{key}: {a[key]!r} in SQL, {b[key]!r} in the ORM model")
    return differences


def _write(root: Path, rel: str, text: str, result: SchemaResult) -> None:
    """Create a file; one that exists already is the user's and is never overwritten."""
    path = root / rel
    if path.exists():
        if path.read_text(encoding="utf-8", errors="replace") != text:
            result.kept.append((rel, "exists already; left as it is (delete it to have it generated)"))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text.encode("utf-8"))
    result.written.append(rel)


def run_schema(root: Path, server_dsn: str | None = None, settings: Settings | None = None) -> SchemaResult:
    where, inventory = layout(root, settings)
    result = SchemaResult(root=str(where.root), tables_module=where.tables_module, tables_path=where.tables_path)
    legacy = legacy_sources(where, inventory)
    result.problems.extend(f"warning: {p}" for p in legacy.problems)
    if not legacy.scripts and not legacy.orm_modules:
        result.problems.append("error: the scan found no schema source (SQL files, DDL in code, ORM models)")
        return result
    with provision(server_dsn) as server:
        catalog, orm_catalog, orm = _read_sources(server, where, legacy, result)
        if catalog is None:
            return result
        orm_names = set(orm.tables) if orm else set()
        for name in sorted(orm_names & set(catalog.tables)):
            differences = compare_shapes(catalog.tables[name], orm_catalog.tables[name])
            origin = ", ".join(s.origin for s in legacy.scripts)
            if differences:
                result.conflicts.append(Conflict(name, f"{origin} and the ORM models", tuple(differences)))
            else:
                result.shared_tables.append(name)
        if result.conflicts:
            return result
        retired = {t.name: t.reason for t in result.migration_tables if t.decision == "retire"}
        raw_tables = [t for name, t in catalog.tables.items() if name not in orm_names and name not in retired]
        result.raw_tables = [t.name for t in raw_tables]
        result.orm_tables = sorted(orm_names)
        result.raw_objects = catalog.raw_objects + [t.seed for t in result.migration_tables if t.seed]
        in_code = sorted({s.origin.rsplit(":", 1)[0] for s in legacy.scripts if ":" in s.origin})
        origins = [s.origin for s in legacy.scripts if ":" not in s.origin] + [f"DDL in {path}" for path in in_code]
        module_text = render_module(raw_tables, origins, orm)
        _write(where.root, where.tables_path, module_text, result)
        import_root = where.import_root.relative_to(where.root).as_posix()
        several = bool(orm and len(orm.homes) > 1)
        for rel, text in environment_files(where.tables_module, where.tables_path, where.url_var, import_root,
                                           where.engine_module, result.raw_objects, several).items():
            _write(where.root, rel, text, result)
        if result.kept and where.tables_path in {rel for rel, _ in result.kept}:
            result.notes.append(f"{where.tables_path} was not regenerated; the baseline uses it as it is")
        foreign = [rel for rel, _ in result.kept if rel in ("alembic.ini", "migrations/env.py")]
        if foreign:
            result.notes.append(f"{' and '.join(foreign)} existed already: no baseline made with an environment pgunify did "
                                f"not write; point its target_metadata at {where.tables_module}.metadata and run "
                                "`alembic revision --autogenerate -m baseline` against an empty database")
            result.notes.append("not proven: the proof runs the Alembic environment pgunify writes")
            return result
        revisions = existing_revisions(where.root)
        if revisions:
            result.notes.append(f"migrations/versions/ has revisions already ({revisions[0].name}, ...): "
                                "no new baseline made; the proof runs on the baseline there")
        else:
            with scratch_database(server, prefix="unify_schema_empty") as empty_url:
                try:
                    path = make_baseline(where.root, where.url_var, empty_url, result.raw_objects)
                except RuntimeError as exc:
                    result.problems.append(f"error: {exc}")
                    return result
            result.baseline = path.relative_to(where.root).as_posix()
            result.written.append(result.baseline)
        result.proof = prove(server, where.root, where.url_var, lambda url: build_legacy_database(url, where, legacy),
                             retired, metadata_checker(where.import_root, where.tables_module, where.url_var))
    return result


def _read_sources(server: Server, where: Layout, legacy: Legacy, result: SchemaResult):
    orm = None
    orm_catalog = Catalog()
    if legacy.orm_modules:
        with scratch_database(server, prefix="unify_schema_orm") as orm_url:
            try:
                orm = probe(where.import_root, legacy.orm_modules, legacy.model_modules, where.url_var, orm_url)
            except ProbeError as exc:
                result.problems.append(f"error: {exc}")
                return None, None, None
            if orm is not None:
                orm_catalog = read_catalog(orm_url)
    with scratch_database(server, prefix="unify_schema_sql") as sql_url:
        problems = apply_scripts(sql_url, legacy.scripts)
        result.problems.extend(f"warning: {p}" for p in problems)
        catalog = read_catalog(sql_url)
        orm_names = set(orm.tables) if orm else set()
        decided = homegrown.decide([n for n in catalog.tables if n not in orm_names], legacy.sql_calls,
                                   where.migrations_table)
        retired = frozenset(name for name, decision, _ in decided if decision == "retire")
        if retired:
            catalog = read_catalog(sql_url, skip=retired)
        for name, decision, reason in decided:
            rows = homegrown.seed(sql_url, catalog.tables[name]) if decision == "take-over" else None
            result.migration_tables.append(homegrown.MigrationTable(name, decision, reason, rows))
    return catalog, orm_catalog, orm
