"""The maintenance ledger: every service, repair and inspection per vehicle."""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from fleet.errors import UnknownVehicle

log = logging.getLogger(__name__)

INSERT_EVENT = """
INSERT INTO maintenance_events
       (vehicle_id, kind, performed_at, odometer_km, cost, parts, details, notes)
VALUES ($1, $2, $3::timestamptz, $4, $5, $6::text[], coalesce($7::jsonb, '{}'::jsonb), $8)
RETURNING id, vehicle_id, kind, performed_at, odometer_km, cost, parts, details, notes
"""

INSERT_EVENT_ID = """
INSERT INTO maintenance_events
       (vehicle_id, kind, performed_at, odometer_km, cost, parts, details, notes)
VALUES ($1, $2, $3::timestamptz, $4, $5, $6::text[], coalesce($7::jsonb, '{}'::jsonb), $8)
RETURNING id
"""

SELECT_HISTORY = """
SELECT id, kind, performed_at, odometer_km, cost, parts, details, notes
  FROM maintenance_events
 WHERE vehicle_id = $1
 ORDER BY performed_at DESC, id DESC
"""

SELECT_LAST_OF_KIND = """
SELECT id, kind, performed_at, odometer_km, cost, parts, details, notes
  FROM maintenance_events
 WHERE kind = $2 AND vehicle_id = $1
 ORDER BY performed_at DESC
 LIMIT 1
"""

SELECT_SPEND = """
SELECT coalesce(sum(cost), 0)::numeric(10,2)
  FROM maintenance_events
 WHERE vehicle_id = $1
   AND performed_at >= $2::timestamptz
"""

START_VISIT = """
UPDATE vehicles
   SET status = 'in_service',
       odometer_km = GREATEST(odometer_km, $2::integer),
       updated_at = now()
 WHERE id = $1
"""

# Current odometer and the odometer at the last event of one kind.
SELECT_SERVICE_POSITION = """
SELECT v.odometer_km,
       (SELECT max(e.odometer_km)
          FROM maintenance_events e
         WHERE e.vehicle_id = v.id AND e.kind = $2) AS last_km
  FROM vehicles v
 WHERE v.id = $1
"""

VOID_EVENT = """
DELETE FROM maintenance_events WHERE id = $1
"""

# Nightly job.  Plain multi-statement script, no parameters.
HOUSEKEEPING = """
-- raw GPS older than ~13 months is not needed for anything
DELETE FROM telemetry_points WHERE recorded_at < now() - interval '400 days';
-- vehicles parked "in service" with no workshop activity for two weeks are back
UPDATE vehicles
   SET status = 'active', updated_at = now()
 WHERE status = 'in_service'
   AND NOT EXISTS (SELECT 1
                     FROM maintenance_events e
                    WHERE e.vehicle_id = vehicles.id
                      AND e.performed_at > now() - interval '14 days');
ANALYZE telemetry_points;
ANALYZE maintenance_events;
"""


class MaintenanceLedger:
    def __init__(self, db: asyncpg.Pool) -> None:
        self._db = db

    async def log(
        self,
        vehicle_id: int,
        kind: str,
        performed_at: datetime,
        odometer_km: int,
        cost: Decimal,
        *,
        parts: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
        notes: str | None = None,
    ) -> asyncpg.Record:
        return await self._db.fetchrow(
            INSERT_EVENT,
            vehicle_id,
            kind,
            performed_at,
            odometer_km,
            cost,
            list(parts),
            dict(details) if details is not None else None,
            notes,
        )

    async def history(self, vehicle_id: int) -> list[asyncpg.Record]:
        return await self._db.fetch(SELECT_HISTORY, vehicle_id)

    async def last_of_kind(self, vehicle_id: int, kind: str) -> asyncpg.Record | None:
        return await self._db.fetchrow(SELECT_LAST_OF_KIND, vehicle_id, kind)

    async def spend(self, vehicle_id: int, since: datetime) -> Decimal:
        return await self._db.fetchval(SELECT_SPEND, vehicle_id, since)

    async def import_rows(self, rows: Iterable[Sequence]) -> int:
        """Load (vehicle_id, kind, performed_at, odometer_km, cost, parts, details, notes)
        rows from the old workshop system.  One bad row rejects the whole batch."""
        batch = [tuple(row) for row in rows]
        async with self._db.acquire() as con:
            async with con.transaction():
                await con.executemany(INSERT_EVENT, batch)
        return len(batch)

    async def service_visit(
        self,
        vehicle_id: int,
        performed_at: datetime,
        odometer_km: int,
        jobs: Iterable[Mapping[str, Any]],
    ) -> tuple[list[int], list[Mapping[str, Any]]]:
        """Book a workshop visit: the vehicle goes "in_service" and each job is
        written to the ledger.  Jobs the database refuses (negative cost, no
        kind) are skipped and returned; anything else undoes the whole visit."""
        booked: list[int] = []
        rejected: list[Mapping[str, Any]] = []
        async with self._db.acquire() as con:
            async with con.transaction():
                status = await con.execute(START_VISIT, vehicle_id, odometer_km)
                if status == "UPDATE 0":
                    raise UnknownVehicle(vehicle_id)
                for job in jobs:
                    try:
                        async with con.transaction():
                            event_id = await con.fetchval(
                                INSERT_EVENT_ID,
                                vehicle_id,
                                job.get("kind"),
                                performed_at,
                                odometer_km,
                                job.get("cost"),
                                list(job.get("parts", ())),
                                job.get("details"),
                                job.get("notes"),
                            )
                    except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
                        log.warning("vehicle %s: job %r rejected: %s", vehicle_id, job.get("kind"), exc)
                        rejected.append(job)
                    else:
                        booked.append(event_id)
        return booked, rejected

    async def service_positions(
        self, vehicle_id: int, kinds: Iterable[str]
    ) -> dict[str, tuple[int, int | None]]:
        """For each kind: (current odometer, odometer at the last such event)."""
        positions: dict[str, tuple[int, int | None]] = {}
        async with self._db.acquire() as con:
            stmt = await con.prepare(SELECT_SERVICE_POSITION)
            for kind in kinds:
                row = await stmt.fetchrow(vehicle_id, kind)
                if row is None:
                    raise UnknownVehicle(vehicle_id)
                positions[kind] = (row["odometer_km"], row["last_km"])
        return positions

    async def void(self, event_id: int) -> bool:
        status = await self._db.execute(VOID_EVENT, event_id)
        return int(status.split()[-1]) > 0

    async def housekeeping(self) -> None:
        async with self._db.acquire() as con:
            await con.execute(HOUSEKEEPING)
