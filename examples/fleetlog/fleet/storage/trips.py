"""Trips and their GPS telemetry."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from decimal import Decimal

import asyncpg

from fleet.errors import UnknownVehicle

TELEMETRY_COLUMNS = ("trip_id", "recorded_at", "lat", "lon", "speed_kmh", "fuel_pct")

INSERT_TRIP = """
INSERT INTO trips (vehicle_id, driver, started_at, purpose)
VALUES ($1, $2, $3::timestamptz, $4)
RETURNING id
"""

FINISH_TRIP = """
UPDATE trips
   SET ended_at = $2::timestamptz,
       distance_km = $3
 WHERE id = $1
   AND ended_at IS NULL
RETURNING id, vehicle_id, driver, started_at, ended_at, distance_km
"""

SELECT_TRIP = """
SELECT t.id, t.vehicle_id, v.plate, t.driver, t.purpose, t.started_at, t.ended_at,
       t.distance_km,
       (SELECT count(*) FROM telemetry_points p WHERE p.trip_id = t.id) AS points
  FROM trips t
  JOIN vehicles v ON v.id = t.vehicle_id
 WHERE t.id = $1
"""

# Arguments are (since, vehicle_id): the report screen builds them in that order.
SELECT_TRIPS_SINCE = """
SELECT id, driver, purpose, started_at, ended_at, distance_km
  FROM trips
 WHERE vehicle_id = $2
   AND started_at >= $1::timestamptz
 ORDER BY started_at, id
"""

SELECT_TRACK = """
SELECT recorded_at, lat, lon, speed_kmh, fuel_pct
  FROM telemetry_points
 WHERE trip_id = $1
 ORDER BY recorded_at
"""

# One row per hour of the (UTC) day that starts at $2; $2 is used twice.
HOURLY_PROFILE = """
SELECT to_char(date_trunc('hour', p.recorded_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD HH24:MI') AS hour,
       count(*)                                   AS samples,
       max(p.speed_kmh)                           AS top_speed,
       round(avg(p.speed_kmh)::numeric, 1)        AS avg_speed,
       min(p.fuel_pct)                            AS min_fuel
  FROM telemetry_points p
  JOIN trips t ON t.id = p.trip_id
 WHERE t.vehicle_id = $1
   AND p.recorded_at >= $2::timestamptz
   AND p.recorded_at <  $2::timestamptz + interval '1 day'
 GROUP BY 1
 ORDER BY 1
"""

CLOSE_ABANDONED = """
-- trips whose driver never pressed "end": close them at their last GPS fix
UPDATE trips t
   SET ended_at = coalesce(
           (SELECT max(p.recorded_at) FROM telemetry_points p WHERE p.trip_id = t.id),
           t.started_at)
 WHERE t.ended_at IS NULL
   AND t.started_at < $1::timestamptz
"""

DISCARD_POINTS = """
DELETE FROM telemetry_points WHERE trip_id = $1 AND recorded_at < $2::timestamptz
"""


class TripStore:
    def __init__(self, db: asyncpg.Pool) -> None:
        self._db = db

    async def start(
        self, vehicle_id: int, driver: str, started_at: datetime, purpose: str | None = None
    ) -> int:
        try:
            return await self._db.fetchval(INSERT_TRIP, vehicle_id, driver, started_at, purpose)
        except asyncpg.exceptions.ForeignKeyViolationError:
            raise UnknownVehicle(vehicle_id) from None

    async def finish(
        self, trip_id: int, ended_at: datetime, distance_km: Decimal
    ) -> asyncpg.Record | None:
        """Close an open trip.  None when the trip is unknown or already closed;
        an end before the start raises ``asyncpg.CheckViolationError``."""
        return await self._db.fetchrow(FINISH_TRIP, trip_id, ended_at, distance_km)

    async def get(self, trip_id: int) -> asyncpg.Record | None:
        return await self._db.fetchrow(SELECT_TRIP, trip_id)

    async def since(self, vehicle_id: int, since: datetime) -> list[asyncpg.Record]:
        return await self._db.fetch(SELECT_TRIPS_SINCE, since, vehicle_id)

    async def add_points(self, trip_id: int, points: Iterable[Sequence]) -> int:
        """Bulk-load (recorded_at, lat, lon, speed_kmh, fuel_pct) samples with COPY."""
        records = [(trip_id, *point) for point in points]
        if not records:
            return 0
        status = await self._db.copy_records_to_table(
            "telemetry_points", records=records, columns=TELEMETRY_COLUMNS
        )
        return int(status.split()[-1])

    async def iter_track(self, trip_id: int, prefetch: int = 200) -> AsyncIterator[asyncpg.Record]:
        """Stream a trip's samples in time order without loading them all.

        Server-side cursors only live inside a transaction, so the connection
        is held until the caller has consumed the iterator.
        """
        async with self._db.acquire() as con:
            async with con.transaction():
                async for rec in con.cursor(SELECT_TRACK, trip_id, prefetch=prefetch):
                    yield rec

    async def tracks(self, trip_ids: Iterable[int]) -> dict[int, list[asyncpg.Record]]:
        out: dict[int, list[asyncpg.Record]] = {}
        async with self._db.acquire() as con:
            stmt = await con.prepare(SELECT_TRACK)
            for trip_id in trip_ids:
                out[trip_id] = await stmt.fetch(trip_id)
        return out

    async def hourly_profile(self, vehicle_id: int, day: datetime) -> list[asyncpg.Record]:
        return await self._db.fetch(HOURLY_PROFILE, vehicle_id, day)

    async def close_abandoned(self, started_before: datetime) -> int:
        status = await self._db.execute(CLOSE_ABANDONED, started_before)
        return int(status.split()[-1])

    async def discard_points(self, trip_id: int, before: datetime) -> int:
        status = await self._db.execute(DISCARD_POINTS, trip_id, before)
        return int(status.split()[-1])
