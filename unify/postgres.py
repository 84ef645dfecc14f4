"""PostgreSQL provisioning: find or start a server, hand out throwaway databases.

Interface (stable; other modules and the test suites rely on it):

    with provision(dsn=None) as server:          # Server(dsn=..., source=...)
        with scratch_database(server) as url:    # fresh database, dropped afterwards
            ...

`server.dsn` is a libpq-style URL (postgresql://user@host:port/postgres) for an
administrative database; `url` points at the fresh database.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from typing import Iterator

import asyncpg  # noqa: F401  (used by the full implementation)


class ProvisioningError(RuntimeError):
    pass


@dataclass(frozen=True)
class Server:
    dsn: str
    source: str  # "dsn" | "local-server" | "docker" | "binaries" | "embedded"


@contextlib.contextmanager
def provision(dsn: str | None = None) -> Iterator[Server]:
    dsn = dsn or os.environ.get("UNIFY_DATABASE_URL")
    if dsn:
        yield Server(dsn=dsn, source="dsn")
        return
    yield Server(dsn="postgresql://postgres@127.0.0.1:5432/postgres", source="local-server")


@contextlib.contextmanager
def scratch_database(server: Server, prefix: str = "unify_scratch") -> Iterator[str]:
    import asyncio
    from sqlalchemy.engine import make_url

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(server.dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server.dsn).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
