"""One URL, connected both ways: by the legacy asyncpg pool (asyncpg.create_pool(url)) and by
the generated engine module with the URL in DATABASE_URL. asyncpg reads the URL on both sides,
so every row either connects on both, to the same session settings, or fails on both with the
same exception class. Rows cover libpq parameters (service, sslmode, passfile, host lists,
Unix sockets, options), environment fallbacks and parameters asyncpg itself refuses."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import quote

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from codemod_helpers import load_module, make_plan
from pgunify.templates import render_engine_module

# what a session was opened with: who, where, through what, with which settings
SESSION = """
    SELECT current_user, current_database(),
           current_setting('application_name'), current_setting('search_path'),
           inet_server_addr() IS NULL AS over_a_socket,
           coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false) AS ssl
"""
SOCKET_DIR = "/var/run/postgresql"

# name -> (URL with {user} {host} {port} {db} {dir} filled in, environment for the row)
ROWS = {
    "plain": ("postgresql://{user}@{host}:{port}/{db}", {}),
    "postgres-scheme": ("postgres://{user}@{host}:{port}/{db}", {}),
    "sslmode-disable": ("postgresql://{user}@{host}:{port}/{db}?sslmode=disable", {}),
    "sslmode-prefer": ("postgresql://{user}@{host}:{port}/{db}?sslmode=prefer", {}),
    "sslmode-allow": ("postgresql://{user}@{host}:{port}/{db}?sslmode=allow", {}),
    "sslmode-require": ("postgresql://{user}@{host}:{port}/{db}?sslmode=require", {}),
    "PGSSLMODE-require": ("postgresql://{user}@{host}:{port}/{db}", {"PGSSLMODE": "require"}),
    "PGSSLMODE-disable": ("postgresql://{user}@{host}:{port}/{db}", {"PGSSLMODE": "disable"}),
    "passfile": ("postgresql://{user}@{host}:{port}/{db}?passfile={dir}/pgpass", {}),
    "PGPASSFILE": ("postgresql://{user}@{host}:{port}/{db}", {"PGPASSFILE": "{dir}/pgpass"}),
    "host-list-in-netloc": ("postgresql://{user}@127.0.0.1:1,{host}:{port}/{db}", {}),
    "host-list-in-query": ("postgresql://{user}@/{db}?host=127.0.0.1,{host}&port=1,{port}", {}),
    "host-list-all-down": ("postgresql://{user}@/{db}?host=127.0.0.1,127.0.0.1&port=1,2", {}),
    "unix-socket": (f"postgresql://{{user}}@/{{db}}?host={SOCKET_DIR}&port={{port}}", {}),
    "unix-socket-missing": ("postgresql://{user}@/{db}?host={dir}/nosocket&port={port}", {}),
    "options-search-path": ("postgresql://{user}@{host}:{port}/{db}?options=-c%20search_path%3Dx", {}),
    "application-name": ("postgresql://{user}@{host}:{port}/{db}?application_name=table_row", {}),
    "server-setting": ("postgresql://{user}@{host}:{port}/{db}?search_path=y,public", {}),
    "service": ("postgresql://?service=table_svc", {"PGSERVICEFILE": "{dir}/pg_service.conf"}),
    "service-unknown": ("postgresql://?service=nowhere", {"PGSERVICEFILE": "{dir}/pg_service.conf"}),
    "connect-timeout": ("postgresql://{user}@{host}:{port}/{db}?connect_timeout=5", {}),
    "no-such-database": ("postgresql://{user}@{host}:{port}/{db}_missing", {}),
    "nothing-listening": ("postgresql://{user}@127.0.0.1:1/{db}", {}),
}


async def _legacy(url: str):
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        return tuple(await pool.fetchrow(SESSION))
    finally:
        await pool.close()


async def _engine(module):
    try:
        async with module.repository_engine.connect() as conn:
            return tuple((await conn.execute(text(SESSION))).one())
    finally:
        await module.engine.dispose()


def _outcome(coroutine):
    try:
        return "connected", asyncio.run(coroutine)
    except Exception as exc:  # the class is what the row compares
        return "failed", type(exc).__name__


@pytest.mark.parametrize("row", list(ROWS))
def test_a_url_connects_the_same_way_through_the_engine(row, database_url, tmp_path, monkeypatch):
    # database_url first: its teardown drops the database after monkeypatch restored PG* variables
    server = make_url(database_url)
    assert server.password is None, "the table's rows are written for a server that trusts its user"
    fill = {"user": server.username, "host": server.host, "port": server.port or 5432,
            "db": server.database, "dir": str(tmp_path)}
    (tmp_path / "pgpass").write_text("{host}:{port}:{db}:{user}:unused\n".format(**fill))
    (tmp_path / "pgpass").chmod(0o600)
    (tmp_path / "pg_service.conf").write_text(
        "[table_svc]\nhost={host}\nport={port}\ndbname={db}\nuser={user}\n"
        "sslmode=disable\n".format(**fill))
    for name in ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PGSSLMODE", "PGPASSFILE",
                 "PGSERVICE", "PGSERVICEFILE", "PGAPPNAME", "PGOPTIONS"):
        monkeypatch.delenv(name, raising=False)
    template, environment = ROWS[row]
    url = template.format(**{k: quote(str(v), safe="/") for k, v in fill.items()})
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(**fill))

    legacy = _outcome(_legacy(url))
    monkeypatch.setenv("DATABASE_URL", url)
    module = load_module(tmp_path, "engine", render_engine_module(make_plan()))
    migrated = _outcome(_engine(module))

    assert migrated == legacy
    # rows whose outcome is known whatever the server: the table compares something real
    if row in ("plain", "sslmode-prefer", "sslmode-allow", "host-list-in-query", "options-search-path",
               "application-name", "service"):
        assert legacy[0] == "connected"
    if row in ("no-such-database", "nothing-listening", "host-list-all-down", "connect-timeout"):
        assert legacy[0] == "failed"
    if row == "options-search-path":
        assert legacy[1][3] == "x"
    if row == "application-name":
        assert legacy[1][2] == "table_row"
    if row == "service":
        assert legacy[1][:2] == (server.username, server.database)
    if row == "unix-socket" and Path(SOCKET_DIR, f".s.PGSQL.{fill['port']}").exists():
        assert legacy == ("connected", legacy[1]) and legacy[1][4] is True
