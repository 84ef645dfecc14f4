"""Shared fixtures for the fleetlog tests.

One throwaway database per test session; ``FLEET_DB_DSN`` points at it for the
whole session.  Each test opens the module-level pool in ``fleet.db`` itself,
gets the schema installed and all tables emptied, and closes the pool again.
The database runs in a non-UTC time zone on purpose: reports must not depend
on the session time zone.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

FLEET_TABLES = "maintenance_events, telemetry_points, trips, vehicles"
DB_TIMEZONE = "America/Chicago"

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)


def _db_required() -> bool:
    return os.environ.get("UNIFY_REQUIRE_DB", "").strip().lower() in {"1", "true", "yes", "on"}


async def _prepare_database(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(f"ALTER DATABASE \"{name}\" SET timezone TO '{DB_TIMEZONE}'")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def fleet_dsn() -> Iterator[str]:
    stack = contextlib.ExitStack()
    try:
        from pgunify.postgres import provision, scratch_database

        server = stack.enter_context(provision())
        url = stack.enter_context(scratch_database(server, prefix="fleetlog_test"))
        asyncio.run(_prepare_database(url))
    except Exception as exc:
        stack.close()
        message = f"no PostgreSQL for the fleetlog tests: {type(exc).__name__}: {exc}"
        if _db_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message.splitlines()[0])

    previous = os.environ.get("FLEET_DB_DSN")
    os.environ["FLEET_DB_DSN"] = url
    try:
        with stack:
            yield url
    finally:
        if previous is None:
            os.environ.pop("FLEET_DB_DSN", None)
        else:
            os.environ["FLEET_DB_DSN"] = previous


@pytest.fixture
async def clean_db(fleet_dsn):
    """Schema present, all tables empty, no pool open."""
    from fleet import db

    await db.close_pool()
    conn = await asyncpg.connect(fleet_dsn)
    try:
        await db.install_schema(conn)
        await conn.execute(f"TRUNCATE {FLEET_TABLES} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()
    yield fleet_dsn
    await db.close_pool()


@pytest.fixture
async def pool(clean_db):
    from fleet import db

    opened = await db.open_pool()
    yield opened
    await db.close_pool()


@pytest.fixture
async def probe(clean_db):
    """Plain connection (no jsonb codec) for looking at the tables from outside."""
    conn = await asyncpg.connect(clean_db)
    yield conn
    await conn.close()


@pytest.fixture
def vehicles(pool):
    from fleet.storage import VehicleStore

    return VehicleStore(pool)


@pytest.fixture
def trips(pool):
    from fleet.storage import TripStore

    return TripStore(pool)


@pytest.fixture
def ledger(pool):
    from fleet.storage import MaintenanceLedger

    return MaintenanceLedger(pool)


@pytest.fixture
def registry(vehicles):
    from fleet.services import FleetRegistry

    return FleetRegistry(vehicles)


@pytest.fixture
def telemetry(trips, vehicles):
    from fleet.services import TelemetryService

    return TelemetryService(trips, vehicles)


@pytest.fixture
def workshop(ledger, vehicles):
    from fleet.services import WorkshopService

    return WorkshopService(ledger, vehicles)


@pytest.fixture
def add_vehicle(vehicles):
    """``await add_vehicle(plate=..., ...)`` -> the inserted asyncpg row."""
    seq = iter(range(1, 100_000))

    async def make(plate: str | None = None, **fields):
        n = next(seq)
        return await vehicles.register(
            plate or f"FL-{n:04d}",
            fields.pop("vin", f"WDB9066331S{n:06d}"),
            fields.pop("model", "Sprinter 316"),
            **fields,
        )

    return make


def track(start: datetime, *steps: tuple[float, float, float], every: timedelta = timedelta(minutes=1)):
    """Telemetry rows (recorded_at, lat, lon, speed, fuel) for ``steps`` of (lat, lon, speed)."""
    return [
        (start + i * every, lat, lon, speed, 90 - i)
        for i, (lat, lon, speed) in enumerate(steps)
    ]


@pytest.fixture
def make_track():
    return track
