"""Find the application's ORM MetaData by importing its modules, in a subprocess.

User code runs only in the child (`python -m unify.schema.orm_probe`), started in the
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

from unify.dsn import redact_text
from unify.schema.model import OrmMetadata


class ProbeError(RuntimeError):
    pass


def probe(import_root: Path, modules: list[str], model_modules: list[str], url_var: str, create_all_url: str,
          timeout: float = 120.0) -> OrmMetadata | None:
    """The ORM metadata of the application (None when its modules declare no tables).

    The application's URL variable points at the scratch database while its modules are
    imported: modules that read it at import time find it set, and nothing reaches a real
    database."""
    with tempfile.TemporaryDirectory(prefix="unify-probe-") as tmp:
        out = Path(tmp) / "result.json"
        request = {"modules": modules, "model_modules": model_modules, "root": str(import_root),
                   "create_all_url": create_all_url, "output": str(out)}
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", url_var: create_all_url}
        completed = subprocess.run([sys.executable, "-m", "unify.schema.orm_probe"], input=json.dumps(request),
                                   cwd=import_root, env=env, capture_output=True, text=True, timeout=timeout)
        if completed.returncode != 0 or not out.is_file():
            tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-8:])
            raise ProbeError(redact_text(f"importing the ORM models failed: {tail}"))
        data = json.loads(out.read_text(encoding="utf-8"))
    if data.get("error"):
        raise ProbeError(redact_text(data["error"]))
    if data["home"] is None:
        return None
    return OrmMetadata(home_module=data["home"][0], home_expression=data["home"][1], is_base=data["home"][2],
                       model_modules=tuple(data["model_modules"]), tables=tuple(data["tables"]),
                       others=tuple(data["others"]))


# --- the child ---------------------------------------------------------------------------


def _within(module, root: str) -> bool:
    path = getattr(module, "__file__", None)
    return bool(path) and os.path.abspath(path).startswith(root.rstrip(os.sep) + os.sep)


def _find(request: dict) -> dict:
    import importlib

    from sqlalchemy import MetaData
    from sqlalchemy.orm import registry

    root = request["root"]
    sys.path.insert(0, root)
    errors = []
    for name in request["modules"]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    candidates: dict[int, list[tuple[int, str, str, bool, int]]] = {}
    metadatas: dict[int, MetaData] = {}
    order = list(sys.modules.items())
    for position, (module_name, module) in enumerate(order):
        if module is None or not _within(module, root):
            continue
        names = vars(module)
        # MetaData objects the module's own mapped classes use: a base made by declarative_base()
        # is a class of SQLAlchemy's module, and is at home where its models are
        mapped_here = {id(v.__table__.metadata) for v in list(names.values())
                       if isinstance(v, type) and getattr(v, "__module__", None) == module_name
                       and ("__tablename__" in vars(v) or "__table__" in vars(v))
                       and isinstance(getattr(getattr(v, "__table__", None), "metadata", None), MetaData)}
        for attr, value in list(names.items()):
            if isinstance(value, MetaData):
                candidates.setdefault(id(value), []).append((1, module_name, attr, False, -position))
                metadatas[id(value)] = value
            elif isinstance(value, registry):  # `mapper_registry = registry()`: its metadata
                rank = 0 if id(value.metadata) in mapped_here else 1
                candidates.setdefault(id(value.metadata), []).append((rank, module_name, attr, True, -position))
                metadatas[id(value.metadata)] = value.metadata
            elif isinstance(value, type) \
                    and isinstance(getattr(value, "metadata", None), MetaData) and hasattr(value, "registry") \
                    and "__tablename__" not in vars(value) and "__table__" not in vars(value) \
                    and (getattr(value, "__module__", None) == module_name or id(value.metadata) in mapped_here):
                candidates.setdefault(id(value.metadata), []).append((0, module_name, attr, True, -position))
                metadatas[id(value.metadata)] = value.metadata
    with_tables = sorted((m for m in metadatas.values() if m.tables), key=lambda m: -len(m.tables))
    if not with_tables:
        if errors:
            return {"error": "; ".join(errors)}
        return {"home": None}
    chosen = with_tables[0]
    _, module_name, attr, is_base, _ = min(candidates[id(chosen)])
    others = [f"{min(candidates[id(m)])[1]}.{min(candidates[id(m)])[2]} ({', '.join(sorted(m.tables))})"
              for m in with_tables[1:]]
    if request.get("create_all_url"):
        _create_all(chosen, request["create_all_url"])
    return {"home": [module_name, attr, is_base], "model_modules": request["model_modules"],
            "tables": list(chosen.tables), "others": others, "import_errors": errors}


def _create_all(metadata, url: str) -> None:
    import asyncio

    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"))
        try:
            async with engine.begin() as conn:
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
