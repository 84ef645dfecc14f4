"""Install the Alembic environment into the application and produce its baseline revision.

The baseline comes from Alembic's own autogenerate (`alembic.command.revision`), run in a
subprocess against an empty scratch database because env.py imports the application. The
objects MetaData cannot hold enter it as `op.execute()` steps through
process_revision_directives, so the revision file is still written by Alembic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from string import Template

from pgunify.dsn import redact_text
from pgunify.schema.model import RawObject

TEMPLATE_PACKAGE = "pgunify.migrations_template"


def _template(name: str) -> str:
    return resources.files(TEMPLATE_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def environment_files(tables_module: str, tables_path: str, url_var: str, import_root: str,
                      engine_module: str | None, raw_objects: list[RawObject],
                      several_metadata: bool = False) -> dict[str, str]:
    """Relative path -> text of every file of the environment."""
    target = "all_metadata" if several_metadata else "metadata"
    if engine_module:
        stdlib_imports = ""
        library_imports = "from sqlalchemy.engine import Connection"
        app_imports = f"from {engine_module} import engine\nfrom {tables_module} import {target}"
        engine_block = ""
        engine_origin = f"the application's shared engine ({engine_module})"
    else:
        stdlib_imports = "import os\n"
        library_imports = ("from sqlalchemy.engine import Connection, make_url\n"
                           "from sqlalchemy.ext.asyncio import create_async_engine\n"
                           "from sqlalchemy.pool import NullPool")
        app_imports = f"from {tables_module} import {target}"
        engine_block = (f"\n# No shared engine module yet (`pgunify migrate` writes one): connect with ${url_var}.\n"
                        "engine = create_async_engine(\n"
                        f'    make_url(os.environ["{url_var}"]).set(drivername="postgresql+asyncpg"), poolclass=NullPool\n'
                        ")\n")
        engine_origin = f"an async engine on ${url_var}, the application's database URL"
    values = dict(tables_module=tables_module, tables_path=tables_path, url_var=url_var,
                  import_root=import_root if import_root != "." else "", stdlib_imports=stdlib_imports,
                  library_imports=library_imports, app_imports=app_imports, engine_block=engine_block,
                  engine_origin=engine_origin, baseline="head", target_metadata=target,
                  raw_objects="".join(f"\n- {o.describe()}" for o in raw_objects) or "\n- none here")
    ini = Template(_template("alembic.ini.tmpl")).substitute(values).replace("%(here)s/\n", "%(here)s\n")
    env = Template(_template("env.py.tmpl")).substitute(values)
    return {
        "alembic.ini": ini,
        "migrations/env.py": env,
        "migrations/script.py.mako": _template("script.py.mako"),
        "MIGRATIONS.md": Template(_template("MIGRATIONS.md.tmpl")).substitute(values),
    }


def existing_revisions(root: Path) -> list[Path]:
    versions = root / "migrations" / "versions"
    return sorted(p for p in versions.glob("*.py")) if versions.is_dir() else []


def make_baseline(root: Path, url_var: str, empty_database_url: str, raw_objects: list[RawObject],
                  timeout: float = 180.0) -> Path:
    """Autogenerate the baseline revision against an empty database; return its path."""
    (root / "migrations" / "versions").mkdir(parents=True, exist_ok=True)
    before = set(existing_revisions(root))
    request = {
        "ini": str(root / "alembic.ini"),
        "before": [o.create for o in raw_objects if o.runs_before_tables],
        "after": [o.create for o in raw_objects if not o.runs_before_tables],
        "drop_first": [o.drop for o in reversed(raw_objects) if not o.runs_before_tables],
        "drop_last": [o.drop for o in reversed(raw_objects) if o.runs_before_tables],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(request, handle)
        request_file = handle.name
    try:
        env = {**os.environ, url_var: empty_database_url, "PYTHONDONTWRITEBYTECODE": "1"}
        completed = subprocess.run([sys.executable, "-m", "pgunify.schema.baseline", request_file], cwd=root, env=env,
                                   capture_output=True, text=True, timeout=timeout)
    finally:
        os.unlink(request_file)
    created = sorted(set(existing_revisions(root)) - before)
    if completed.returncode != 0 or not created:
        tail = "\n".join((completed.stderr or completed.stdout).strip().splitlines()[-12:])
        raise RuntimeError(redact_text(f"alembic revision --autogenerate failed: {tail}"))
    return created[0]
