"""Everything unify writes into someone else's repository, rendered from the templates here."""

from __future__ import annotations

from importlib import resources
from string import Template
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from unify.rewrite.plan import MigrationPlan


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

# Without a codec of its own, asyncpg handed json and jsonb values over as the server's text,
# exactly as stored (numbers keep every digit, `1.50` stays `1.50`); the raw-SQL repositories
# were written for that. The dialect would decode them in the driver; SQLAlchemy's JSON type
# (ORM columns, typed Core expressions) decodes the text itself instead.
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
                        f"DEFAULT_DATABASE_URL = {py_str(plan.url_default)}\n"
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
        comment = f"  # {option.comment}" if option.comment else ""
        kwarg_lines.append(f"    {option.key}={option.source},{comment}\n")
    blocks = []
    for event_name, module, function in plan.pool_callbacks:
        keyword = {"connect": "init", "checkout": "setup"}[event_name]
        blocks.append(
            f"\n\n@event.listens_for(engine.sync_engine, {py_str(event_name)})\n"
            f"def _pool_{keyword}(dbapi_connection: Any, connection_record: Any, *args: Any) -> None:\n"
            f'    """create_pool({keyword}=...) of {module}, run on every {"new" if keyword == "init" else "checked-out"} '
            f'connection as the pool did."""\n'
            f"    from {module} import {function}  # imported here: that module imports this one\n\n"
            f"    dbapi_connection.run_async({function})\n"
        )
    text = _template("engine_module.py.tmpl").substitute(
        callbacks_block="".join(blocks),
        json_block="" if plan.json_codecs else JSON_AS_TEXT,
        url_var=plan.url_var,
        default_block=default_block,
        env_read=env_read,
        connect_args_block="\n".join(connect_lines) + ("\n" if connect_lines else ""),
        engine_kwargs="".join(kwarg_lines),
    )
    return text


def render_raw_sql_module(plan: "MigrationPlan") -> str:
    oids = {"json": 114, "jsonb": 3802}
    text_types = sorted(oid for name, oid in oids.items() if name not in plan.json_codecs)
    return _template("raw_sql_module.py.tmpl").substitute(
        json_text_types="{" + ", ".join(map(str, text_types)) + "}" if text_types else "()")
