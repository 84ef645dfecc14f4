"""Vehicle registry table access.

Rows are handed back as ``asyncpg.Record``; the services decide what a caller
gets to see.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from fleet.errors import UnknownVehicle

SELECT_VEHICLE = """
SELECT id, plate, vin, model, status, odometer_km, tags, attributes, notes,
       registered_at, updated_at
  FROM vehicles
 WHERE id = $1
"""

SELECT_VEHICLE_BY_PLATE = """
SELECT id, plate, vin, model, status, odometer_km, tags, attributes, notes,
       registered_at, updated_at
  FROM vehicles
 WHERE plate = upper($1)
"""

SELECT_ID_AND_PLATE = """
SELECT id, plate FROM vehicles WHERE id = $1
"""

SELECT_ID_BY_PLATE = """
SELECT id FROM vehicles WHERE plate = upper($1)
"""

INSERT_VEHICLE = """
INSERT INTO vehicles (plate, vin, model, tags, attributes, notes)
VALUES (upper($1), $2, $3, $4::text[], coalesce($5::jsonb, '{}'::jsonb), $6)
RETURNING id, plate, vin, model, status, odometer_km, tags, attributes, notes,
          registered_at, updated_at
"""

# Re-registration of a known plate (bulk fleet import): refresh the descriptive
# fields, merge tags and attributes, keep status, odometer and history.
UPDATE_VEHICLE_BY_PLATE = """
UPDATE vehicles
   SET vin = $2,
       model = $3,
       tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || $4::text[]) AS t ORDER BY t),
       attributes = attributes || coalesce($5::jsonb, '{}'::jsonb),
       notes = coalesce($6, notes),
       updated_at = now()
 WHERE plate = upper($1)
RETURNING id, plate, vin, model, status, odometer_km, tags, attributes, notes,
          registered_at, updated_at
"""

SELECT_ROSTER = """
SELECT id, plate
  FROM vehicles
 WHERE status = $1
 ORDER BY plate
"""

SELECT_WITH_ANY_TAG = """
-- vehicles carrying at least one of the given tags, busiest first
SELECT id, plate, model, status, tags, odometer_km
  FROM vehicles
 WHERE tags && $1::text[]
 ORDER BY odometer_km DESC, plate
"""

UPDATE_STATUS = """
UPDATE vehicles SET status = $2, updated_at = now() WHERE id = $1
"""

ADD_DISTANCE = """
UPDATE vehicles
   SET odometer_km = odometer_km + $2, updated_at = now()
 WHERE id = $1
RETURNING odometer_km
"""

# A reading from the dashboard never winds the odometer back; the raw value is
# kept in attributes for the audit trail.  $2 is used twice on purpose.
RECORD_READING = """
UPDATE vehicles
   SET odometer_km = GREATEST(odometer_km, $2::integer),
       attributes = attributes || jsonb_build_object('last_reading_km', $2::integer),
       updated_at = now()
 WHERE id = $1
RETURNING odometer_km, attributes
"""

MERGE_ATTRIBUTES = """
UPDATE vehicles
   SET attributes = attributes || $2::jsonb, updated_at = now()
 WHERE id = $1
RETURNING attributes
"""

SET_TAGS = """
UPDATE vehicles SET tags = $2::text[], updated_at = now() WHERE id = $1
"""

DELETE_VEHICLE = """
DELETE FROM vehicles WHERE id = $1
"""

# --- merging a duplicate registration into the vehicle that is kept ----------
MOVE_TRIPS = """
UPDATE trips SET vehicle_id = $2 WHERE vehicle_id = $1
"""

MOVE_MAINTENANCE = """
UPDATE maintenance_events SET vehicle_id = $2 WHERE vehicle_id = $1
"""

ABSORB_DUPLICATE = """
UPDATE vehicles AS keep
   SET odometer_km = GREATEST(keep.odometer_km, dup.odometer_km),
       tags = ARRAY(SELECT DISTINCT t FROM unnest(keep.tags || dup.tags) AS t ORDER BY t),
       attributes = dup.attributes || keep.attributes,
       updated_at = now()
  FROM vehicles AS dup
 WHERE keep.id = $2 AND dup.id = $1
"""


class VehicleStore:
    def __init__(self, db: asyncpg.Pool) -> None:
        self.db = db

    async def get(self, vehicle_id: int) -> asyncpg.Record | None:
        return await self.db.fetchrow(SELECT_VEHICLE, vehicle_id)

    async def get_by_plate(self, plate: str) -> asyncpg.Record | None:
        return await self.db.fetchrow(SELECT_VEHICLE_BY_PLATE, plate)

    async def register(
        self,
        plate: str,
        vin: str,
        model: str,
        *,
        tags: Sequence[str] = (),
        attributes: dict[str, Any] | None = None,
        notes: str | None = None,
    ) -> asyncpg.Record:
        """Insert a new vehicle; a taken plate raises ``asyncpg.UniqueViolationError``."""
        return await self.db.fetchrow(INSERT_VEHICLE, plate, vin, model, list(tags), attributes, notes)

    async def upsert(
        self,
        plate: str,
        vin: str,
        model: str,
        *,
        tags: Sequence[str] = (),
        attributes: dict[str, Any] | None = None,
        notes: str | None = None,
    ) -> tuple[asyncpg.Record, bool]:
        """Register or refresh a vehicle; returns (row, created)."""
        args = (plate, vin, model, list(tags), attributes, notes)
        async with self.db.acquire() as con:
            try:
                return await con.fetchrow(INSERT_VEHICLE, *args), True
            except asyncpg.UniqueViolationError:
                return await con.fetchrow(UPDATE_VEHICLE_BY_PLATE, *args), False

    async def plate_of(self, vehicle_id: int) -> str | None:
        return await self.db.fetchval(SELECT_ID_AND_PLATE, vehicle_id, column=1)

    async def roster(self, status: str = "active") -> list[asyncpg.Record]:
        """(id, plate) pairs of the vehicles in ``status``, by plate."""
        return await self.db.fetch(SELECT_ROSTER, status)

    async def with_any_tag(self, tags: Iterable[str]) -> list[asyncpg.Record]:
        return await self.db.fetch(SELECT_WITH_ANY_TAG, [t.lower() for t in tags])

    async def set_status(self, vehicle_id: int, status: str) -> bool:
        result = await self.db.execute(UPDATE_STATUS, vehicle_id, status)
        return result.startswith("UPDATE") and int(result.split()[-1]) == 1

    async def add_distance(self, vehicle_id: int, km: int) -> int:
        """Add driven kilometres; returns the new odometer value.

        A correction that would make the odometer negative is refused by the
        table's CHECK constraint (``asyncpg.CheckViolationError``).
        """
        odometer = await self.db.fetchval(ADD_DISTANCE, vehicle_id, km)
        if odometer is None:
            raise UnknownVehicle(vehicle_id)
        return odometer

    async def record_reading(self, vehicle_id: int, reading_km: int | None) -> asyncpg.Record | None:
        return await self.db.fetchrow(RECORD_READING, vehicle_id, reading_km)

    async def merge_attributes(self, vehicle_id: int, patch: dict[str, Any]) -> dict[str, Any] | None:
        return await self.db.fetchval(MERGE_ATTRIBUTES, vehicle_id, patch)

    async def retag(self, assignments: Iterable[tuple[int, Sequence[str]]]) -> int:
        rows = [(vehicle_id, sorted({t.lower() for t in tags})) for vehicle_id, tags in assignments]
        await self.db.executemany(SET_TAGS, rows)
        return len(rows)

    async def delete(self, vehicle_id: int) -> bool:
        """Remove a vehicle.  Vehicles with maintenance history cannot be deleted
        (``asyncpg.ForeignKeyViolationError``); their trips go with them."""
        status = await self.db.execute(DELETE_VEHICLE, vehicle_id)
        if status == "DELETE 0":
            return False
        return True

    async def resolve_plates(self, plates: Iterable[str]) -> dict[str, int | None]:
        """Map plates to vehicle ids (None for unknown plates) in one round of lookups."""
        found: dict[str, int | None] = {}
        async with self.db.acquire() as con:
            stmt = await con.prepare(SELECT_ID_BY_PLATE)
            for plate in plates:
                found[plate] = await stmt.fetchval(plate)
        return found

    async def merge_into(self, duplicate_id: int, keep_id: int) -> dict[str, int]:
        """Fold a duplicate registration into ``keep_id``: trips and maintenance
        history move over, the duplicate row is deleted.  All or nothing."""
        if duplicate_id == keep_id:
            raise ValueError("cannot merge a vehicle into itself")
        async with self.db.acquire() as con:
            async with con.transaction(isolation="serializable"):
                trips = await con.execute(MOVE_TRIPS, duplicate_id, keep_id)
                events = await con.execute(MOVE_MAINTENANCE, duplicate_id, keep_id)
                absorbed = await con.execute(ABSORB_DUPLICATE, duplicate_id, keep_id)
                if absorbed == "UPDATE 0":
                    raise UnknownVehicle(keep_id if await self.get(keep_id) is None else duplicate_id)
                await con.execute(DELETE_VEHICLE, duplicate_id)
        return {
            "trips": int(trips.split()[-1]),
            "maintenance_events": int(events.split()[-1]),
        }
