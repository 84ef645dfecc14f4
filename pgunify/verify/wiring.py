"""How to build the application's repositories on each side, discovered from the legacy code.

The scan names the classes whose methods talk to the database, the place where the pool
or engine is created, the session factory of the ORM side and the schema sources. The
migration keeps those names, so one plan, drawn from the legacy tree, builds both sides.
"""

from __future__ import annotations

import ast
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pgunify.facts.model import Inventory
from pgunify.verify.settings import VerifySettings

_NOT_APPLICATION = ("tests/", "test/", "conftest.py", "migrations/", "alembic/", "benchmarks/", "docs/")


@dataclass
class Plan:
    import_root: str = "."
    env: dict[str, str] = field(default_factory=dict)  # variable -> "plain" | "asyncpg" (driver in the URL)
    holder: dict | None = None  # {"module", "class", "method", "attr"} or {"module", "attr"}
    sessions: dict | None = None  # {"module", "attr"}: the ORM session factory
    targets: list[dict] = field(default_factory=list)  # {"module", "class", "kind"}
    schema: list[dict] = field(default_factory=list)  # {"sql": path} | {"call": "module:function"}
    build: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_data(self) -> dict:
        return asdict(self)


def _application_file(path: str) -> bool:
    return not any(path.startswith(p) or f"/{p}" in path for p in _NOT_APPLICATION) and not path.endswith("conftest.py")


def module_name(path: str, import_root: str) -> str:
    rel = Path(path)
    if import_root not in ("", "."):
        rel = rel.relative_to(import_root)
    parts = list(rel.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class _Index:
    """Classes and functions of one file by line, for "which class holds line N"."""

    def __init__(self, source: str) -> None:
        self.tree = ast.parse(source)

    def enclosing(self, line: int) -> tuple[str | None, str | None]:
        """(class name, function name) around `line`, top level only."""
        for node in self.tree.body:
            if not (node.lineno <= line <= (node.end_lineno or node.lineno)):
                continue
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and \
                            item.lineno <= line <= (item.end_lineno or item.lineno):
                        return node.name, item.name
                return node.name, None
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return None, node.name
        return None, None

    def classes(self) -> list[ast.ClassDef]:
        return [n for n in self.tree.body if isinstance(n, ast.ClassDef)]


def _session_param(fn: ast.AsyncFunctionDef) -> bool:
    for arg in fn.args.args + fn.args.kwonlyargs:
        if arg.annotation is not None and "Session" in ast.unparse(arg.annotation):
            return True
    return False


def discover(root: Path, inventory: Inventory, settings: VerifySettings, import_root: str | None) -> Plan:
    plan = Plan(import_root=import_root or ".", build=dict(settings.build), extra_env=dict(settings.env))
    indexes: dict[str, _Index] = {}

    def index(path: str) -> _Index | None:
        if path not in indexes:
            try:
                indexes[path] = _Index((root / path).read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError):
                return None
        return indexes[path]

    # URLs handed to create_async_engine() need the async driver in them, also when the
    # variable has no default to say so (`engine = create_async_engine(os.environ["URL"])`)
    async_urls = [(f.location.path, f.url) for f in inventory.all("factories")
                  if f.api.endswith("create_async_engine") and f.url]
    for read in inventory.all("env_reads"):
        if read.database_url and _application_file(read.location.path):
            feeds_async_engine = any(
                path == read.location.path and (url == read.target or f'"{read.name}"' in url or f"'{read.name}'" in url)
                for path, url in async_urls)
            if feeds_async_engine or (read.raw_default and "+asyncpg" in read.raw_default):
                plan.env[read.name] = "asyncpg"
            else:
                plan.env.setdefault(read.name, "plain")

    factories = [f for f in inventory.all("factories") if _application_file(f.location.path)]
    holder_class = None
    for factory in factories:
        if factory.kind not in ("pool", "engine") or not factory.target:
            continue
        module = module_name(factory.location.path, plan.import_root)
        idx = index(factory.location.path)
        cls, fn = idx.enclosing(factory.location.line) if idx else (None, None)
        if factory.target.startswith("self.") and cls and fn:
            plan.holder = {"module": module, "class": cls, "method": fn, "attr": factory.target[5:]}
            holder_class = cls
            break
        if cls is None and fn is not None and plan.holder is None:  # a module-level opener: open_pool()
            plan.holder = {"module": module, "function": fn}
        if cls is None and fn is None and "." not in factory.target and plan.holder is None:
            plan.holder = {"module": module, "attr": factory.target}
    for factory in factories:
        if factory.kind == "session-factory" and factory.target and "." not in factory.target:
            plan.sessions = {"module": module_name(factory.location.path, plan.import_root), "attr": factory.target}
            break

    seen: set[tuple[str, str]] = set()
    for call in inventory.all("calls"):
        path = call.location.path
        if not _application_file(path) or "." not in call.function:
            continue
        cls = call.function.split(".")[0]
        idx = index(path)
        if idx is None or cls == holder_class or cls not in {c.name for c in idx.classes()}:
            continue
        key = (module_name(path, plan.import_root), cls)
        if key not in seen:
            seen.add(key)
            plan.targets.append({"module": key[0], "class": cls, "kind": "repository"})

    if plan.sessions is not None:
        for file in sorted(root.rglob("*.py")):
            rel = file.relative_to(root).as_posix()
            if not _application_file(rel) or any(part.startswith(".") for part in Path(rel).parts):
                continue
            idx = index(rel)
            if idx is None:
                continue
            for node in idx.classes():
                methods = [m for m in node.body if isinstance(m, ast.AsyncFunctionDef) and not m.name.startswith("_")]
                if methods and any(_session_param(m) for m in methods):
                    key = (module_name(rel, plan.import_root), node.name)
                    if key not in seen:
                        seen.add(key)
                        plan.targets.append({"module": key[0], "class": node.name, "kind": "dao"})
    for extra in settings.include:
        module, _, cls = extra.partition(":")
        plan.targets.append({"module": module, "class": cls, "kind": "repository"})

    if settings.schema:
        for item in settings.schema:
            plan.schema.append({"call": item} if ":" in item and not item.endswith(".sql") else {"sql": item})
    else:
        for source in inventory.all("schema_sources") + list(inventory.sql_files):
            path = source.location.path
            if not _application_file(path):
                continue
            if source.kind == "sql-file" and {"sql": path} not in plan.schema:
                plan.schema.append({"sql": path})
        for source in inventory.all("schema_sources"):
            if source.kind == "metadata-create-all" and _application_file(source.location.path):
                idx = index(source.location.path)
                cls, fn = idx.enclosing(source.location.line) if idx else (None, None)
                if cls is None and fn:
                    plan.schema.append({"call": f"{module_name(source.location.path, plan.import_root)}:{fn}"})
    if not plan.targets:
        plan.notes.append("no repository or DAO class found; only scenario files can be run")
    if plan.holder is None and any(t["kind"] == "repository" for t in plan.targets):
        plan.notes.append("no pool or engine factory found; configure [tool.pgunify.verify] build")
    return plan
