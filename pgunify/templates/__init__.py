"""Everything pgunify writes into someone else's repository, rendered from the templates here."""

from __future__ import annotations

import ast
import re
import sys
import textwrap
from importlib import resources
from string import Template
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pgunify.rewrite.plan import MigrationPlan


# The longest line the generated modules are written with (the default of black and ruff).
LINE_LENGTH = 88


def _template(name: str) -> Template:
    return Template(resources.files(__package__).joinpath(name).read_text(encoding="utf-8"))


def py_str(value: str) -> str:
    """A Python string literal in double quotes, the way most code bases write them."""
    body = repr(value)[1:-1]
    if repr(value).startswith("'"):
        body = body.replace("\\'", "'").replace('"', '\\"')
    return f'"{body}"'


# The application's asyncpg pool decoded no json: the repositories got the server's text.
# SQLAlchemy's dialect decodes json in the driver instead; this hands the text back and lets
# SQLAlchemy's JSON type decode ORM columns itself.
JSON_AS_TEXT = '''

# Without a codec of its own, asyncpg handed json and jsonb values over as the server's
# text, exactly as stored (numbers keep every digit, `1.50` stays `1.50`); the raw-SQL
# repositories were written for that. The dialect would decode them in the driver;
# SQLAlchemy's JSON type (ORM columns, typed Core expressions) decodes the text itself
# instead.
engine.dialect.supports_native_json_deserialization = False


@event.listens_for(engine.sync_engine, "connect")
def _json_as_text(dbapi_connection: Any, connection_record: Any) -> None:
    async def reset(driver: asyncpg.Connection) -> None:
        await driver.reset_type_codec("json", schema="pg_catalog")
        await driver.reset_type_codec("jsonb", schema="pg_catalog")

    dbapi_connection.run_async(reset)
'''


def render_engine_module(plan: "MigrationPlan") -> str:
    if plan.url_default is not None:
        default_block = f"# The default the application had before; deployments set {plan.url_var}.\n" \
                        f"DEFAULT_DATABASE_URL = {py_str(plan.url_default)}\n\n"
        env_read = f'os.environ.get("{plan.url_var}", DEFAULT_DATABASE_URL)'
    else:
        default_block = ""
        env_read = f'os.environ["{plan.url_var}"]'
    connect_lines = []
    for option in plan.connect_args:
        if option.key == "server_settings":
            connect_lines.append(f'    connect_args.setdefault("server_settings", {{}}).update({option.source})')
        else:
            connect_lines.append(f'    connect_args[{py_str(option.key)}] = {option.source}')
    kwarg_lines = []
    for option in plan.engine_kwargs:
        line = f"    {option.key}={option.source},"
        if option.comment and len(f"{line}  # {option.comment}") <= LINE_LENGTH:
            line += f"  # {option.comment}"
        elif option.comment:  # a comment too long to follow the keyword goes above it
            wrapped = textwrap.wrap(option.comment, LINE_LENGTH - len("    # "), break_on_hyphens=False)
            line = "".join(f"    # {part}\n" for part in wrapped) + line
        kwarg_lines.append(line + "\n")
    blocks, imports = _callback_blocks(plan)
    text = _template("engine_module.py.tmpl").substitute(
        callbacks_block="".join(blocks),
        json_block="" if plan.json_codecs else JSON_AS_TEXT,
        url_var=plan.url_var,
        default_block=default_block,
        env_read=env_read,
        connect_args_block="\n".join(connect_lines) + ("\n" if connect_lines else ""),
        engine_kwargs="".join(kwarg_lines),
    )
    return _with_imports(text, imports)


def _engine_module_names() -> dict[str, str]:
    """Top-level names of the engine module -> the import statement that binds them ("" when
    something else binds them)."""
    text = _template("engine_module.py.tmpl").substitute(
        callbacks_block="", json_block=JSON_AS_TEXT, url_var="X", default_block="", env_read="None",
        connect_args_block="", engine_kwargs="")
    names: dict[str, str] = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.Import):
            names.update((a.asname or a.name.split(".")[0], f"import {a.name}" + (f" as {a.asname}" if a.asname else ""))
                         for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.update((a.asname or a.name, f"from {node.module} import {a.name}" + (f" as {a.asname}" if a.asname else ""))
                         for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names[node.name] = ""
        else:
            names.update((n.id, "") for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    return names


def unique_name(name: str, taken: set[str]) -> str:
    """`name`, or `name_2`, `name_3` ... when `taken` holds it already; the result is added to `taken`."""
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    taken.add(candidate)
    return candidate


def _callback_blocks(plan: "MigrationPlan") -> tuple[list[str], list[str]]:
    """The listeners that run create_pool(init=..., setup=...) callbacks, and the module-level
    imports the callbacks moved into the engine module need."""
    existing = _engine_module_names()
    taken = set(existing)
    blocks: list[str] = []
    imports: list[str] = []
    for callback in plan.pool_callbacks:
        if callback.handed_over:
            continue  # the application hands it to use_database_url() at run time
        keyword = callback.keyword
        when = "new" if keyword == "init" else "checked-out"
        listener = unique_name(f"_pool_{keyword}", taken)
        if not callback.code:  # a module-level function: imported by its own module and name
            blocks.append(
                f"\n\n@event.listens_for(engine.sync_engine, {py_str(callback.event)})\n"
                f"def {listener}(\n"
                f"    dbapi_connection: Any, connection_record: Any, *args: Any\n"
                f") -> None:\n"
                f'    """create_pool({keyword}=...) of {callback.where},\n'
                f'    run on every {when} connection as the pool did."""\n'
                f"    # imported here: that module imports this one\n"
                f"    from {callback.module} import {callback.function}\n\n"
                f"    dbapi_connection.run_async({callback.function})\n"
            )
            continue
        name = unique_name(callback.name if callback.name.startswith("_") else f"_{callback.name}", taken)
        local = []
        for item in callback.imports:
            if existing.get(item.name) == item.statement or item.statement in imports:
                continue  # the engine module imports it already
            if item.local or item.name in taken or item.name in existing:
                local.append(item.statement)  # a module of the application, or a name taken here
            else:
                imports.append(item.statement)
                taken.add(item.name)
        code = _renamed(callback.code, callback.name, name)
        if local:
            code = _with_local_imports(code, local)
        blocks.append(
            f"\n\n{code.rstrip()}\n\n\n"
            f"@event.listens_for(engine.sync_engine, {py_str(callback.event)})\n"
            f"def {listener}(\n"
            f"    dbapi_connection: Any, connection_record: Any, *args: Any\n"
            f") -> None:\n"
            f'    """create_pool({keyword}=...) of {callback.where},\n'
            f'    run on every {when} connection as the pool did."""\n'
            f"    dbapi_connection.run_async({name})\n"
        )
    return blocks, imports


def _renamed(code: str, old: str, new: str) -> str:
    return re.sub(rf"^((?:async\s+)?def\s+){re.escape(old)}\b", rf"\g<1>{new}", code, count=1, flags=re.M)


def _with_local_imports(code: str, statements: list[str]) -> str:
    """`code` (one def) with `statements` at the top of its body, after a docstring."""
    function = ast.parse(code).body[0]
    first = function.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str) \
            and len(function.body) > 1:
        first = function.body[1]
        at = first.lineno - 1
    else:
        at = first.lineno - 1
    lines = code.splitlines(keepends=True)
    indent = " " * first.col_offset
    added = [f"{indent}# imported here: that module imports this one\n"]
    added += [f"{indent}{statement}\n" for statement in statements]
    return "".join(lines[:at] + added + ["\n"] + lines[at:])


def _with_imports(text: str, statements: list[str]) -> str:
    """The engine module with `statements` sorted into its standard-library and third-party imports."""
    if not statements:
        return text
    lines = text.splitlines(keepends=True)
    start = lines.index("import asyncio\n")
    first_end = lines.index("\n", start)
    second_end = lines.index("\n", first_end + 1)
    stdlib = lines[start:first_end]
    others = lines[first_end + 1:second_end]
    for statement in statements:
        top = statement.split()[1].split(".")[0]
        (stdlib if top in sys.stdlib_module_names else others).append(statement + "\n")

    def order(line: str) -> tuple:
        return (line.startswith("from "), line.split()[1])

    return "".join(lines[:start] + sorted(stdlib, key=order) + ["\n"] + sorted(others, key=order) + lines[second_end:])


def render_raw_sql_module(plan: "MigrationPlan") -> str:
    oids = {"json": 114, "jsonb": 3802}
    text_types = sorted(oid for name, oid in oids.items() if name not in plan.json_codecs)
    return _template("raw_sql_module.py.tmpl").substitute(
        json_text_types="{" + ", ".join(map(str, text_types)) + "}" if text_types else "()")
