"""Trip lifecycle and GPS ingestion, as used by the telematics worker."""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import asyncpg

from fleet.errors import InvalidReading, InvalidTrip, UnknownVehicle
from fleet.storage import TripStore, VehicleStore

EARTH_RADIUS_KM = 6371.0088
CENT = Decimal("0.01")


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # devices report UTC without an offset
        value = value.replace(tzinfo=timezone.utc)
    return value


@dataclass(frozen=True)
class TripReport:
    trip_id: int
    plate: str
    driver: str
    purpose: str
    started_at: datetime
    ended_at: datetime | None
    distance_km: Decimal | None
    points: int

    @property
    def duration(self) -> timedelta | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


class TelemetryService:
    def __init__(self, trips: TripStore, vehicles: VehicleStore) -> None:
        self.trips = trips
        self.vehicles = vehicles

    async def begin(
        self,
        plate: str,
        driver: str,
        started_at: datetime | str | None = None,
        purpose: str | None = None,
    ) -> int:
        rec = await self.vehicles.get_by_plate(plate)
        if rec is None:
            raise UnknownVehicle(plate)
        if rec["status"] == "retired":
            raise InvalidTrip(f"{rec['plate']} is retired")
        when = _utc(started_at) if started_at is not None else datetime.now(timezone.utc)
        return await self.trips.start(rec["id"], driver, when, purpose)

    async def ingest(self, trip_id: int, samples: Iterable[Mapping[str, Any]]) -> int:
        """Store a batch of device samples; returns how many were written."""
        points = [
            (
                _utc(s["ts"]),
                float(s["lat"]) if s.get("lat") is not None else None,
                float(s["lon"]) if s.get("lon") is not None else None,
                float(s.get("speed", 0.0)),
                int(s["fuel"]) if s.get("fuel") is not None else None,
            )
            for s in samples
        ]
        points.sort(key=lambda point: point[0])
        try:
            return await self.trips.add_points(trip_id, points)
        except asyncpg.exceptions.ForeignKeyViolationError:
            raise InvalidTrip(f"unknown trip {trip_id}") from None
        except asyncpg.UniqueViolationError:
            raise InvalidReading(f"trip {trip_id}: sample timestamps already stored") from None
        except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
            raise InvalidReading(f"trip {trip_id}: {exc}") from exc

    async def track_distance(self, trip_id: int) -> Decimal:
        """Length of the recorded GPS track in km, to the cent."""
        total = 0.0
        previous = None
        async for rec in self.trips.iter_track(trip_id):
            here = (rec["lat"], rec["lon"])
            if previous is not None:
                total += haversine_km(*previous, *here)
            previous = here
        return Decimal(repr(total)).quantize(CENT, rounding=ROUND_HALF_UP)

    async def end(self, trip_id: int, ended_at: datetime | str | None = None) -> dict[str, Any]:
        when = _utc(ended_at) if ended_at is not None else datetime.now(timezone.utc)
        distance = await self.track_distance(trip_id)
        try:
            rec = await self.trips.finish(trip_id, when, distance)
        except asyncpg.CheckViolationError:
            raise InvalidTrip(f"trip {trip_id} cannot end at {when.isoformat()}, before it started") from None
        if rec is None:
            raise InvalidTrip(f"trip {trip_id} is unknown or already closed")
        odometer = await self.vehicles.add_distance(
            rec["vehicle_id"], int(distance.to_integral_value(rounding=ROUND_HALF_UP))
        )
        return {
            "trip_id": rec[0],
            "distance_km": rec["distance_km"],
            "duration": rec["ended_at"] - rec["started_at"],
            "odometer_km": odometer,
        }

    async def report(self, trip_id: int) -> TripReport:
        rec = await self.trips.get(trip_id)
        if rec is None:
            raise InvalidTrip(f"unknown trip {trip_id}")
        return TripReport(
            trip_id=rec["id"],
            plate=rec["plate"],
            driver=rec["driver"],
            purpose=rec.get("purpose") or "",
            started_at=rec["started_at"],
            ended_at=rec["ended_at"],
            distance_km=rec["distance_km"],
            points=rec["points"],
        )

    async def timeline(self, vehicle_id: int, since: datetime) -> list[dict[str, Any]]:
        return [dict(rec) for rec in await self.trips.since(vehicle_id, _utc(since))]

    async def hourly(self, vehicle_id: int, day: date) -> list[dict[str, Any]]:
        start = datetime.combine(day, time.min, tzinfo=timezone.utc)
        return [
            {key: value for key, value in rec.items()}
            for rec in await self.trips.hourly_profile(vehicle_id, start)
        ]

    async def replay(self, trip_ids: Iterable[int]) -> dict[int, list[list[Any]]]:
        """Raw samples per trip, as plain lists (recorded_at, lat, lon, speed, fuel)."""
        tracks = await self.trips.tracks(trip_ids)
        return {trip_id: [list(rec) for rec in recs] for trip_id, recs in tracks.items()}

    async def speeding(self, trip_id: int, limit_kmh: float) -> list[tuple[datetime, float]]:
        hits = []
        async for rec in self.trips.iter_track(trip_id, prefetch=50):
            recorded_at, _lat, _lon, speed, _fuel = rec
            if speed > limit_kmh:
                hits.append((recorded_at, speed))
        return hits

    async def sweep(self, now: datetime | None = None, max_age: timedelta = timedelta(hours=12)) -> int:
        """Close trips left open for longer than ``max_age``."""
        now = _utc(now) if now is not None else datetime.now(timezone.utc)
        return await self.trips.close_abandoned(now - max_age)

    async def trim(self, trip_id: int, before: datetime) -> int:
        return await self.trips.discard_points(trip_id, _utc(before))
