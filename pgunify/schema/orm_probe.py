"""Find the application's ORM MetaData by importing its modules, in a subprocess.

User code runs only in the child (`python -m pgunify.schema.orm_probe`), started in the
application's import root; the parent gets plain JSON back. Optionally the child also runs
`create_all` on a scratch database, the way the application itself creates its ORM tables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from pgunify.dsn import redact_text
from pgunify.schema.model import MetadataHome, OrmMetadata


class ProbeError(RuntimeError):
    pass


def probe(import_root: Path, modules: list[str], model_modules: list[str], url_var: str, create_all_url: str,
          timeout: float = 120.0) -> OrmMetadata | None:
    """Every MetaData of the application with tables (None when there is none), after
    `create_all` of each of them on `create_all_url`, as the application's start-up does.

    The application's URL variable points at the scratch database while its modules are
    imported: modules that read it at import time find it set, and nothing reaches a real
    database."""
    with tempfile.TemporaryDirectory(prefix="pgunify-probe-") as tmp:
        out = Path(tmp) / "result.json"
        request = {"modules": modules, "model_modules": model_modules, "root": str(import_root),
                   "create_all_url": create_all_url, "output": str(out)}
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", url_var: create_all_url}
        completed = subprocess.run([sys.executable, "-m", "pgunify.schema.orm_probe"], input=json.dumps(request),
                                   cwd=import_root, env=env, capture_output=True, text=True, timeout=timeout)
        if completed.returncode != 0 or not out.is_file():
            tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-8:])
            raise ProbeError(redact_text(f"importing the ORM models failed: {tail}"))
        data = json.loads(out.read_text(encoding="utf-8"))
    if data.get("error"):
        raise ProbeError(redact_text(data["error"]))
    if data.get("home", 1) is None:
        return None
    homes = [MetadataHome(module, name, suffix, tuple(tables)) for module, name, suffix, tables in data["homes"]]
    return OrmMetadata(homes=tuple(homes), model_modules=tuple(data["model_modules"]))


# --- the child ---------------------------------------------------------------------------


def _within(module, root: str) -> bool:
    path = getattr(module, "__file__", None)
    return bool(path) and os.path.abspath(path).startswith(root.rstrip(os.sep) + os.sep)


_SQLALCHEMY_MODULES = ("sqlalchemy.orm.decl_api", "sqlalchemy.ext.declarative")


def _holders(module_name: str, module) -> list[tuple[int, str, str, object]]:
    """(preference, attribute, how to reach the MetaData from it, the MetaData) for every
    module-level name that holds or leads to a MetaData: a MetaData itself, a declarative base
    (DeclarativeBase subclass, declarative_base(), registry.generate_base()), a registry, a
    Table, a mapped class."""
    from sqlalchemy import MetaData, Table
    from sqlalchemy.orm import registry as Registry

    found = []
    names = vars(module)
    # the MetaData of classes this module maps itself: a base or registry that only came in
    # with an import (`from models import *`) is at home where its classes are
    mapped_here = {id(v.__table__.metadata) for v in list(names.values())
                   if isinstance(v, type) and getattr(v, "__module__", None) == module_name
                   and isinstance(vars(v).get("__table__"), Table)}
    for attr, value in list(names.items()):
        if isinstance(value, MetaData):
            found.append((1, attr, "", value))
        elif isinstance(value, Registry):
            found.append((0 if id(value.metadata) in mapped_here else 2, attr, ".metadata", value.metadata))
        elif isinstance(value, Table):
            found.append((4, attr, ".metadata", value.metadata))
        elif isinstance(value, type):
            # declarative_base() and generate_base() make their class inside SQLAlchemy: its
            # __module__ is not the application's, the module that holds it is
            metadata = getattr(value, "metadata", None)
            table = vars(value).get("__table__")
            if isinstance(metadata, MetaData) and hasattr(value, "registry") and table is None \
                    and "__tablename__" not in vars(value):
                owner = getattr(value, "__module__", None)
                here = owner == module_name or (owner in _SQLALCHEMY_MODULES and id(metadata) in mapped_here)
                found.append((0 if here else 5, attr, ".metadata", metadata))
            elif isinstance(table, Table):
                found.append((3, attr, ".__table__.metadata", table.metadata))
    return found


def _find(request: dict) -> dict:
    import importlib

    root = request["root"]
    sys.path.insert(0, root)
    errors = []
    for name in request["modules"]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    candidates: dict[int, list[tuple[int, int, str, str, str]]] = {}
    metadatas: dict[int, object] = {}
    for position, (module_name, module) in enumerate(list(sys.modules.items())):
        if module is None or not _within(module, root):
            continue
        for preference, attr, suffix, metadata in _holders(module_name, module):
            candidates.setdefault(id(metadata), []).append((preference, -position, module_name, attr, suffix))
            metadatas[id(metadata)] = metadata
    with_tables = sorted((m for m in metadatas.values() if m.tables), key=lambda m: -len(m.tables))
    if errors:
        return {"error": "importing the modules that declare the schema failed: " + "; ".join(errors)}
    if not with_tables:
        return {"home": None}
    homes = []
    for metadata in with_tables:
        _, _, module_name, attr, suffix = min(candidates[id(metadata)])
        homes.append([module_name, attr, suffix, list(metadata.tables)])
    if request.get("create_all_url"):
        _create_all(with_tables, request["create_all_url"])
    return {"homes": homes, "model_modules": request["model_modules"]}


def _create_all(metadatas: list, url: str) -> None:
    import asyncio

    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        try:
            async with engine.begin() as conn:
                for metadata in metadatas:
                    await conn.run_sync(metadata.create_all)
        finally:
            await engine.dispose()

    asyncio.run(run())


def main() -> None:
    request = json.loads(sys.stdin.read())
    try:
        result = _find(request)
    except Exception as exc:  # noqa: BLE001 - the parent turns it into a problem
        result = {"error": f"{type(exc).__name__}: {exc}"}
    Path(request["output"]).write_text(json.dumps(result), encoding="utf-8")


if __name__ == "__main__":
    main()
