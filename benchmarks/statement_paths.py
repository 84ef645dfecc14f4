"""One `fetchrow` by key through each way a statement can travel on the shared engine.

The repository benchmark measures whole repositories; this one isolates the statement
path, to price the choices that the repository codemod could make:

  asyncpg          pool.acquire() + fetchrow: the original
  core             engine.connect() on the AUTOCOMMIT view + execute(text()): what
                   `pgunify migrate` generates
  driver_sql       the same, with exec_driver_sql() and the $1 SQL as it was written
  driver_auto      asyncpg's fetchrow on the driver connection under a connection of
                   the AUTOCOMMIT view
  driver_plain     the same under a connection of the engine itself (SQLAlchemy begins
                   no transaction on a connection it never executes on)

Rounds are interleaved (the order reverses every round) after a warm-up; the table gives
the median rate of each path and its ratio to asyncpg, sequential and with 50 tasks over
a pool of 20. No timing is asserted anywhere; the numbers are for reading.

    python benchmarks/statement_paths.py [--calls 3000] [--rounds 5] [--dsn URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Awaitable, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SQL = "SELECT oid, relname, relkind FROM pg_class WHERE oid = $1"
POOL_SIZE = 20
TASKS = 50


async def _paths(url: str):
    import asyncpg
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    pool = await asyncpg.create_pool(url, min_size=5, max_size=POOL_SIZE)
    engine = create_async_engine(make_url(url).set(drivername="postgresql+asyncpg"),
                                 pool_size=POOL_SIZE, max_overflow=0)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    key = await pool.fetchval("SELECT oid FROM pg_class ORDER BY oid LIMIT 1")
    statement = text("SELECT oid, relname, relkind FROM pg_class WHERE oid = :p1")

    async def original():
        async with pool.acquire() as conn:
            return await conn.fetchrow(SQL, key)

    async def core():
        async with autocommit.connect() as conn:
            return (await conn.execute(statement, {"p1": key})).first()

    async def driver_sql():
        async with autocommit.connect() as conn:
            return (await conn.exec_driver_sql(SQL, (key,))).first()

    def on_driver(source):
        async def call():
            async with source.connect() as conn:
                raw = await conn.get_raw_connection()
                return await raw.driver_connection.fetchrow(SQL, key)
        return call

    paths = {"asyncpg": original, "core": core, "driver_sql": driver_sql,
             "driver_auto": on_driver(autocommit), "driver_plain": on_driver(engine)}

    async def close():
        await pool.close()
        await engine.dispose()

    return paths, close


async def _rate(call: Callable[[], Awaitable], calls: int, tasks: int) -> float:
    each = max(1, calls // tasks)

    async def worker():
        for _ in range(each):
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    return each * tasks / (time.perf_counter() - started)


async def measure(url: str, calls: int, rounds: int) -> dict[str, dict[str, list[float]]]:
    paths, close = await _paths(url)
    try:
        for call in paths.values():  # warm-up: connections opened, statements prepared
            await _rate(call, max(50, calls // 10), 1)
        rates = {mode: {name: [] for name in paths} for mode in ("sequential", "concurrent")}
        for number in range(rounds):
            order = list(paths.items()) if number % 2 == 0 else list(reversed(paths.items()))
            for name, call in order:
                rates["sequential"][name].append(await _rate(call, calls, 1))
                rates["concurrent"][name].append(await _rate(call, calls, TASKS))
        return rates
    finally:
        await close()


def table(rates: dict[str, dict[str, list[float]]]) -> str:
    lines = [f"{'path':14s} {'sequential/s':>13s} {'ratio':>6s} {f'{TASKS} tasks/s':>12s} {'ratio':>6s}"]
    base = {mode: statistics.median(rates[mode]["asyncpg"]) for mode in rates}
    for name in rates["sequential"]:
        cells = []
        for mode in ("sequential", "concurrent"):
            rate = statistics.median(rates[mode][name])
            cells.append(f"{rate:12.0f} {rate / base[mode]:6.2f}")
        lines.append(f"{name:14s} {cells[0]} {cells[1]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="calls per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dsn", help="PostgreSQL server URL (default: UNIFY_DATABASE_URL, then provisioning)")
    args = parser.parse_args(argv)
    from pgunify.postgres import provision

    with provision(dsn=args.dsn) as server:
        rates = asyncio.run(measure(server.dsn, args.calls, args.rounds))
    print(table(rates))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
