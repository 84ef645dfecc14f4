"""The generated engine module: URL derivation table, and real connections through it."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from codemod_helpers import load_module, make_plan
from unify.rewrite.plan import EngineOption
from unify.templates import render_engine_module


def load_engine_module(tmp_path: Path, monkeypatch, url: str, **plan):
    monkeypatch.setenv("DATABASE_URL", url)
    return load_module(tmp_path, "engine", render_engine_module(make_plan(**plan)))


@pytest.fixture
def engine_module(tmp_path, monkeypatch):
    return load_engine_module(tmp_path, monkeypatch, "postgresql://u@db.internal:5432/app")


@pytest.mark.parametrize(
    "raw, url, connect_args",
    [
        ("postgresql://u:pw@db:5432/app", "postgresql+asyncpg://u:pw@db:5432/app", {}),
        ("postgres://u:pw@db/app", "postgresql+asyncpg://u:pw@db/app", {}),
        ("postgresql+psycopg2://u:pw@db/app", "postgresql+asyncpg://u:pw@db/app", {}),
        ("postgresql+asyncpg://u:pw@db/app", "postgresql+asyncpg://u:pw@db/app", {}),
        # special characters in the password survive, percent-encoded
        ("postgresql://u:p%40ss%3Aw%2Fo%23rd@db/app", "postgresql+asyncpg://u:p%40ss%3Aw%2Fo%23rd@db/app", {}),
        ("postgresql://u@db/app?sslmode=require", "postgresql+asyncpg://u@db/app", {"ssl": "require"}),
        ("postgresql://u@db/app?sslmode=disable&connect_timeout=7",
         "postgresql+asyncpg://u@db/app", {"ssl": "disable", "timeout": 7.0}),
        ("postgresql://u@db/app?application_name=api&options=-c%20statement_timeout%3D5000",
         "postgresql+asyncpg://u@db/app",
         {"server_settings": {"application_name": "api", "options": "-c statement_timeout=5000"}}),
        # a unix socket directory stays a host parameter, which the asyncpg dialect passes on
        ("postgresql:///app?host=/var/run/postgresql", "postgresql+asyncpg:///app?host=%2Fvar%2Frun%2Fpostgresql", {}),
        ("postgresql://db/app?user=u&dbname=other&target_session_attrs=read-write",
         "postgresql+asyncpg://u@db/other?target_session_attrs=read-write", {}),
    ],
)
def test_url_derivation(engine_module, raw, url, connect_args):
    derived, args = engine_module.asyncpg_url(raw)
    assert derived.render_as_string(hide_password=False) == url
    assert args == connect_args


def test_password_with_special_characters_is_decoded_for_the_driver(engine_module):
    derived, _ = engine_module.asyncpg_url("postgresql://u:p%40ss%3Aw%2Fo%23rd@db/app")
    assert derived.password == "p@ss:w/o#rd"
    assert "p@ss" not in repr(derived)  # SQLAlchemy hides it when printed


def test_certificate_files_become_an_ssl_context(engine_module, tmp_path):
    ca = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    if not ca.is_file():
        ca = Path("/etc/ssl/certs/ca-certificates.crt")
    _, args = engine_module.asyncpg_url(f"postgresql://u@db/app?sslmode=verify-full&sslrootcert={ca}")
    context = args["ssl"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    _, args = engine_module.asyncpg_url(f"postgresql://u@db/app?sslmode=verify-ca&sslrootcert={ca}")
    assert not args["ssl"].check_hostname and args["ssl"].verify_mode == ssl.CERT_REQUIRED


def test_other_databases_are_refused(engine_module):
    with pytest.raises(ValueError, match="must point at PostgreSQL, not 'mysql'"):
        engine_module.asyncpg_url("mysql://u@db/app")


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
        module._chosen_url = None  # back to the variable, without connecting to its (unreachable) server
        return engine, name

    engine, name = asyncio.run(check())
    assert name == make_url(database_url).database
    assert engine is module.repository_engine
    assert module.database_url().port == 1


def test_real_connection_through_the_derived_url(tmp_path, monkeypatch, database_url):
    raw = make_url(database_url)
    libpq = raw.set(drivername="postgresql").update_query_dict(
        {"application_name": "unify-engine-test", "sslmode": "disable", "connect_timeout": "5",
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
    assert (name, timeout, path) == ("unify-engine-test", "4321ms", "public")
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
    from unify.rewrite.sources import resolve_callback

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


def test_a_server_given_in_pieces_becomes_one_url(engine_module):
    url_of = engine_module._url_of
    assert url_of(None, {"user": "bot", "password": "p@ss", "host": "db", "port": "5433", "database": "game",
                         "min_size": 2, "max_size": 9}) == "postgresql://bot:p%40ss@db:5433/game"
    # a Unix socket directory, as asyncpg took it, goes where asyncpg's dialect reads it
    url, _ = engine_module.asyncpg_url(url_of(None, {"host": "/var/run/postgresql", "database": "game"}))
    assert (url.host, url.database, url.query.get("host")) == (None, "game", "/var/run/postgresql")
    assert url_of("postgresql://a@b/c", {}) == "postgresql://a@b/c"
    with pytest.raises(TypeError, match="record_class"):
        url_of(None, {"host": "db", "record_class": object})
