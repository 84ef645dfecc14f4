"""The generated engine module: URL derivation table, and real connections through it."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from codemod_helpers import load_module, make_plan
from pgunify.rewrite.plan import EngineOption
from pgunify.templates import render_engine_module


def load_engine_module(tmp_path: Path, monkeypatch, url: str, **plan):
    monkeypatch.setenv("DATABASE_URL", url)
    return load_module(tmp_path, "engine", render_engine_module(make_plan(**plan)))


@pytest.fixture
def engine_module(tmp_path, monkeypatch):
    return load_engine_module(tmp_path, monkeypatch, "postgresql://u@db.internal:5432/app")


@pytest.mark.parametrize(
    "raw, dsn",
    [
        ("postgresql://u:pw@db:5432/app", "postgresql://u:pw@db:5432/app"),
        ("postgres://u:pw@db/app", "postgresql://u:pw@db/app"),
        ("postgresql+psycopg2://u:pw@db/app", "postgresql://u:pw@db/app"),
        ("postgresql+asyncpg://u:pw@db/app?sslmode=prefer", "postgresql://u:pw@db/app?sslmode=prefer"),
        # everything after the scheme reaches asyncpg as written: encoding, host lists, libpq
        # parameters asyncpg reads itself (service, passfile, options, ...)
        ("postgresql://u:p%40ss@a:5432,b:5433/app?target_session_attrs=any&service=prod",
         "postgresql://u:p%40ss@a:5432,b:5433/app?target_session_attrs=any&service=prod"),
        ("postgresql:///app?host=/var/run/postgresql&options=-c%20search_path%3Dx",
         "postgresql:///app?host=/var/run/postgresql&options=-c%20search_path%3Dx"),
        # not a PostgreSQL URL: asyncpg refuses it as it refused it before
        ("mysql://u@db/app", "mysql://u@db/app"),
    ],
)
def test_asyncpg_reads_the_url_as_the_application_wrote_it(engine_module, raw, dsn):
    assert engine_module.asyncpg_dsn(raw) == dsn


@pytest.mark.parametrize(
    "raw, url",
    [
        ("postgresql://u:pw@db:5432/app", "postgresql+asyncpg://u:pw@db:5432/app"),
        ("postgres://u:p%40ss%3Aw%2Fo%23rd@db/app", "postgresql+asyncpg://u:p%40ss%3Aw%2Fo%23rd@db/app"),
        # libpq parameters the dialect would hand to asyncpg.connect() as unknown keywords are
        # left out; the engine's own connections keep them (asyncpg reads the URL itself)
        ("postgresql://u@db/app?sslmode=require&application_name=api&service=prod",
         "postgresql+asyncpg://u@db/app"),
        ("postgresql:///app?host=/var/run/postgresql", "postgresql+asyncpg:///app?host=%2Fvar%2Frun%2Fpostgresql"),
        ("postgresql://db/app?user=u&dbname=other&target_session_attrs=read-write",
         "postgresql+asyncpg://u@db/other?target_session_attrs=read-write"),
    ],
)
def test_database_url_for_the_orm_and_alembic_side(tmp_path, monkeypatch, raw, url):
    module = load_engine_module(tmp_path, monkeypatch, raw)
    assert module.database_url().render_as_string(hide_password=False) == url
    assert module.database_url().password in (None, "pw", "p@ss:w/o#rd")  # decoded for the driver


def test_other_databases_are_refused(tmp_path, monkeypatch):
    module = load_engine_module(tmp_path, monkeypatch, "mysql://u@db/app")
    with pytest.raises(ValueError, match="must point at PostgreSQL, not 'mysql'"):
        module.database_url()

    async def connect():
        async with module.repository_engine.connect():
            pass

    with pytest.raises(ValueError, match="invalid DSN"):  # asyncpg's own refusal, as before
        asyncio.run(connect())


def test_error_messages_show_no_password(engine_module):
    shown = engine_module._shown(("postgresql://u:secret@a:1,b:2/app?password=secret2&sslmode=prefer",
                                  {"password": "secret3", "host": "db"}))
    assert "secret" not in shown
    assert "u:***@a:1,b:2/app" in shown and "sslmode=prefer" in shown and "host='db'" in shown


def test_pool_options_reach_the_engine(tmp_path, monkeypatch):
    module = load_engine_module(
        tmp_path, monkeypatch, "postgresql://u@db/app",
        engine_kwargs=(EngineOption("pool_size", "20", "x"), EngineOption("max_overflow", "0", "x"),
                       EngineOption("pool_pre_ping", "True", "x"), EngineOption("pool_recycle", "300", "x")),
        connect_args=(EngineOption("command_timeout", "60", "x"),
                      EngineOption("server_settings", "{'jit': 'off'}", "x")),
    )
    pool = module.engine.pool
    assert pool.size() == 20 and pool._max_overflow == 0 and pool._pre_ping and pool._recycle == 300


def test_default_is_used_only_when_the_variable_is_unset(tmp_path, monkeypatch):
    module = load_engine_module(tmp_path, monkeypatch, "postgresql://u@db.internal/app",
                                url_default="postgresql://dev@localhost/dev")
    assert module.database_url().host == "db.internal"
    monkeypatch.delenv("DATABASE_URL")
    assert module.database_url().host == "localhost"


def test_the_variable_is_read_when_used_not_when_imported(tmp_path, monkeypatch):
    module = load_engine_module(tmp_path, monkeypatch, "postgresql://u@first/app")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@second/app")
    assert module.database_url().host == "second"


def test_without_a_default_the_variable_is_required(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db/app")
    module = load_engine_module(tmp_path, monkeypatch, "postgresql://u@db/app")
    monkeypatch.delenv("DATABASE_URL")
    with pytest.raises(KeyError, match="DATABASE_URL"):
        module.database_url()


def test_a_url_chosen_in_code_wins_until_reset(tmp_path, monkeypatch, database_url):
    module = load_engine_module(tmp_path, monkeypatch, "postgresql://nobody@127.0.0.1:1/none")

    async def check():
        engine = await module.use_database_url(database_url)
        async with engine.connect() as conn:
            name = await conn.scalar(text("SELECT current_database()"))
        await module.engine.dispose()  # the engine holds connections to that database until then
        module._chosen = None  # back to the variable, without connecting to its (unreachable) server
        return engine, name

    engine, name = asyncio.run(check())
    assert name == make_url(database_url).database
    assert engine is module.repository_engine
    assert module.database_url().port == 1


def test_real_connection_through_the_derived_url(tmp_path, monkeypatch, database_url):
    raw = make_url(database_url)
    libpq = raw.set(drivername="postgresql").update_query_dict(
        {"application_name": "pgunify-engine-test", "sslmode": "disable",
         "options": "-c statement_timeout=4321"})
    module = load_engine_module(
        tmp_path, monkeypatch, libpq.render_as_string(hide_password=False),
        connect_args=(EngineOption("command_timeout", "30", "x"),
                      EngineOption("server_settings", "{'search_path': 'public'}", "x")),
    )

    async def check():
        try:
            async with module.engine.connect() as conn:
                name = await conn.scalar(text("SELECT current_setting('application_name')"))
                timeout = await conn.scalar(text("SELECT current_setting('statement_timeout')"))
                path = await conn.scalar(text("SELECT current_setting('search_path')"))
                database = await conn.scalar(text("SELECT current_database()"))
            return name, timeout, path, database
        finally:
            await module.engine.dispose()

    name, timeout, path, database = asyncio.run(check())
    assert (name, timeout, path) == ("pgunify-engine-test", "4321ms", "public")
    assert database == raw.database


def test_repository_engine_adds_no_round_trips_and_raises_asyncpg_errors(tmp_path, monkeypatch, database_url):
    """One statement outside transaction(): no BEGIN/ROLLBACK around it, as on the asyncpg pool;
    errors are asyncpg's own classes and the connection stays usable."""
    import asyncpg
    from sqlalchemy import event

    module = load_engine_module(tmp_path, monkeypatch, database_url)
    sent: list[str] = []

    @event.listens_for(module.engine.sync_engine, "connect")
    def log_queries(dbapi_connection, record):
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query.strip().upper()))

    async def run():
        try:
            # the log sees the BEGIN/ROLLBACK pair SQLAlchemy adds on a default-isolation connection
            async with module.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            assert [q.rstrip(";").split()[0] for q in sent] == ["BEGIN", "ROLLBACK"]
            sent.clear()
            async with module.repository_engine.connect() as conn:
                await conn.execute(text("CREATE TEMP TABLE rt (k int PRIMARY KEY)"))
                await conn.execute(text("INSERT INTO rt VALUES (1)"))
                with pytest.raises(asyncpg.UniqueViolationError):
                    await conn.execute(text("INSERT INTO rt VALUES (1)"))
                await conn.execute(text("INSERT INTO rt VALUES (2)"))  # still usable
                return await conn.scalar(text("SELECT count(*) FROM rt"))
        finally:
            await module.engine.dispose()

    assert asyncio.run(run()) == 2
    assert not [q for q in sent if q.startswith(("BEGIN", "ROLLBACK", "COMMIT", "SAVEPOINT"))]


def test_orm_side_of_the_engine_keeps_sqlalchemy_errors(tmp_path, monkeypatch, database_url):
    from sqlalchemy.exc import DBAPIError

    module = load_engine_module(tmp_path, monkeypatch, database_url)

    async def run():
        try:
            async with module.engine.connect() as conn:
                with pytest.raises(DBAPIError):
                    await conn.execute(text("SELECT 1/0"))
        finally:
            await module.engine.dispose()

    asyncio.run(run())


def test_a_connection_the_server_closed_is_replaced_at_checkout_without_a_ping(tmp_path, monkeypatch, database_url):
    """After a backend is terminated (as in a server restart), the next caller gets a fresh
    connection instead of an error, and checkouts send nothing to the server."""
    import asyncpg
    from sqlalchemy import event

    module = load_engine_module(tmp_path, monkeypatch, database_url,
                                engine_kwargs=(EngineOption("pool_size", "1", "x"), EngineOption("max_overflow", "0", "x")))
    sent: list[str] = []

    @event.listens_for(module.engine.sync_engine, "connect")
    def log_queries(dbapi_connection, record):
        dbapi_connection.driver_connection.add_query_logger(lambda q: sent.append(q.query.strip()))

    async def run():
        admin = await asyncpg.connect(database_url)
        try:
            async with module.repository_engine.connect() as conn:
                first = await conn.scalar(text("SELECT pg_backend_pid()"))
            await admin.execute("SELECT pg_terminate_backend($1)", first)
            await asyncio.sleep(0.2)  # the closed socket reaches the event loop
            sent.clear()
            async with module.repository_engine.connect() as conn:
                second = await conn.scalar(text("SELECT pg_backend_pid()"))
            async with module.repository_engine.connect() as conn:  # an ordinary checkout of a live connection
                assert await conn.scalar(text("SELECT pg_backend_pid()")) == second
            return first, second
        finally:
            await admin.close()
            await module.engine.dispose()

    first, second = asyncio.run(run())
    assert first != second
    # the log holds what asyncpg sends outside prepared statements: a ping (";") and the
    # BEGIN/ROLLBACK around it would show here; SQLAlchemy's own statements are prepared
    assert sent == []


def test_use_database_url_connects_and_raises_asyncpg_errors_like_create_pool(tmp_path, monkeypatch, database_url):
    """asyncpg.create_pool() connected before it returned; so does its replacement, with the
    same exception classes, and it opens one connection that stays in the pool."""
    import asyncpg

    module = load_engine_module(tmp_path, monkeypatch, database_url)
    missing = make_url(database_url).set(database=f"missing_{uuid.uuid4().hex[:8]}")

    async def run():
        try:
            with pytest.raises(asyncpg.InvalidCatalogNameError):
                await module.use_database_url(missing.render_as_string(hide_password=False))
            with pytest.raises(OSError):  # nothing listens there: asyncpg's own connection error
                await module.use_database_url("postgresql://nobody@127.0.0.1:1/none")
            engine = await module.use_database_url(database_url)
            opened = module.engine.pool.checkedin()
            await module.use_database_url(database_url)  # the same URL again: nothing changes
            return engine, opened, module.engine.pool.checkedin()
        finally:
            await module.engine.dispose()

    engine, opened, again = asyncio.run(run())
    assert engine is module.repository_engine
    assert opened == again == 1  # one connection at start-up, reused


def test_a_used_engine_is_not_pointed_at_another_database(tmp_path, monkeypatch, database_url):
    module = load_engine_module(tmp_path, monkeypatch, database_url)
    other = make_url(database_url).set(database="template1").render_as_string(hide_password=False)

    async def run():
        try:
            await module.use_database_url(database_url)
            with pytest.raises(RuntimeError, match="(?i)one engine serves one database"):
                await module.use_database_url(other)
            async with module.engine.connect() as conn:  # still on the first database
                first = await conn.scalar(text("SELECT current_database()"))
            await module.engine.dispose()  # on purpose: no connections left, so it may move
            async with (await module.use_database_url(other)).connect() as conn:
                second = await conn.scalar(text("SELECT current_database()"))
            return first, second
        finally:
            await module.engine.dispose()

    assert asyncio.run(run()) == (make_url(database_url).database, "template1")


def test_connect_keywords_given_with_the_url_reach_every_connection(tmp_path, monkeypatch, database_url):
    # `asyncpg.create_pool(url, **options)` became `use_database_url(url, **options)`: whatever
    # asyncpg.connect() keywords the options hold at run time go to the engine's connections
    module = load_engine_module(tmp_path, monkeypatch, database_url)

    async def run():
        try:
            options = {"server_settings": {"search_path": "unify_probe, public", "application_name": "probe"},
                       "command_timeout": 30, "min_size": 1, "max_size": 3}
            engine = await module.use_database_url(database_url, **options)
            async with engine.connect() as conn:
                path = await conn.scalar(text("SHOW search_path"))
                name = await conn.scalar(text("SELECT current_setting('application_name')"))
            await module.use_database_url(database_url, **options)  # the same again: nothing changes
            with pytest.raises(RuntimeError, match="other connection settings"):
                await module.use_database_url(database_url, server_settings={"search_path": "elsewhere"})
            with pytest.raises(TypeError, match="does not take record_class"):
                await module.use_database_url(database_url, record_class=object)
            return path, name
        finally:
            await module.engine.dispose()

    assert asyncio.run(run()) == ("unify_probe, public", "probe")


NESTED_INIT_STORE = """
import json

import asyncpg


def tag(value):
    return {"tagged": value}


def prepare(*argv):
    raise SystemExit("the command-line entry point of the same name must not run")


async def open_store(url):
    async def prepare(conn):
        await conn.set_type_codec(
            "jsonb", schema="pg_catalog", encoder=lambda v: json.dumps(tag(v)), decoder=json.loads, format="text")

    return await asyncpg.create_pool(url, init=prepare)
"""


def test_a_nested_init_callback_runs_from_the_engine_module(tmp_path, monkeypatch, database_url):
    """The callback defined inside the function that created the pool, moved into the engine
    module, runs on every new connection; the module-level function of the same name does not."""
    from pgunify.rewrite.sources import resolve_callback

    name = f"store_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(NESTED_INIT_STORE)
    monkeypatch.syspath_prepend(str(tmp_path))
    line = next(i for i, t in enumerate(NESTED_INIT_STORE.splitlines(), 1) if "create_pool(" in t)
    callback = resolve_callback(NESTED_INIT_STORE, f"{name}.py", name, False, line, "init",
                                lambda module: module == name)
    assert [(i.statement, i.local) for i in callback.imports] == [("import json", False), (f"from {name} import tag", True)]
    module = load_engine_module(tmp_path, monkeypatch, database_url, pool_callbacks=(callback,))
    source = Path(module.__file__).read_text()
    assert f"    # imported here: that module imports this one\n    from {name} import tag\n" in source
    assert "\nimport json\n" in source
    compile(source, "engine.py", "exec")

    async def run():
        try:
            engine = await module.use_database_url(database_url)
            async with engine.connect() as conn:
                return await conn.scalar(text("SELECT CAST(:doc AS jsonb)"), {"doc": [1, 2]})
        finally:
            await module.engine.dispose()

    assert asyncio.run(run()) == {"tagged": [1, 2]}


def test_a_server_given_in_pieces_goes_to_asyncpg_as_keywords(engine_module):
    server_of = engine_module._server_of
    pieces = {"user": "bot", "password": "p@ss", "host": "/var/run/postgresql", "port": "5433",
              "database": "game", "min_size": 2, "max_size": 9, "command_timeout": 5, "ssl": None}
    assert server_of(pieces) == {"user": "bot", "password": "p@ss", "host": "/var/run/postgresql",
                                 "port": "5433", "database": "game"}
    with pytest.raises(TypeError, match="record_class"):
        server_of({"host": "db", "record_class": object})
