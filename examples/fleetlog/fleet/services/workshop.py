"""Workshop use cases on top of the maintenance ledger."""
from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import asyncpg

from fleet.errors import DuplicateEvent, InvalidReading, UnknownVehicle
from fleet.storage import MaintenanceLedger, VehicleStore

IMPORT_FIELDS = ("plate", "kind", "performed_at", "odometer_km", "cost", "parts", "details", "notes")


def _money(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise InvalidReading(f"not an amount: {value!r}") from None


@dataclass(frozen=True)
class VisitResult:
    booked: list[int]
    rejected: list[str]


class WorkshopService:
    def __init__(self, ledger: MaintenanceLedger, vehicles: VehicleStore) -> None:
        self.ledger = ledger
        self.vehicles = vehicles

    async def record(
        self,
        vehicle_id: int,
        kind: str,
        performed_at: datetime,
        odometer_km: int,
        cost: Decimal | str | int,
        *,
        parts: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
        notes: str | None = None,
    ) -> dict[str, Any]:
        try:
            rec = await self.ledger.log(
                vehicle_id,
                kind.strip().lower(),
                performed_at,
                odometer_km,
                _money(cost),
                parts=parts,
                details=details,
                notes=notes,
            )
        except asyncpg.UniqueViolationError:
            raise DuplicateEvent(vehicle_id, kind) from None
        except asyncpg.exceptions.ForeignKeyViolationError:
            raise UnknownVehicle(vehicle_id) from None
        except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
            raise InvalidReading(str(exc)) from exc
        return dict(rec)

    async def history(self, vehicle_id: int) -> list[dict[str, Any]]:
        entries = []
        for rec in await self.ledger.history(vehicle_id):
            entry = dict(rec)
            entry["notes"] = rec.get("notes") or ""
            entries.append(entry)
        return entries

    async def last(self, vehicle_id: int, kind: str) -> dict[str, Any] | None:
        rec = await self.ledger.last_of_kind(vehicle_id, kind)
        return None if rec is None else dict(rec.items())

    async def spend(self, vehicle_id: int, since: datetime) -> Decimal:
        return await self.ledger.spend(vehicle_id, since)

    async def visit(
        self,
        vehicle_id: int,
        performed_at: datetime,
        odometer_km: int,
        jobs: Iterable[Mapping[str, Any]],
    ) -> VisitResult:
        normalized = []
        for job in jobs:
            job = dict(job)
            job["cost"] = _money(job.get("cost"))
            normalized.append(job)
        booked, rejected = await self.ledger.service_visit(vehicle_id, performed_at, odometer_km, normalized)
        return VisitResult(booked=booked, rejected=[str(job.get("kind")) for job in rejected])

    async def due(self, vehicle_id: int, schedule: Mapping[str, int]) -> list[str]:
        """Kinds whose interval (km) has run out, most overdue first; never done counts as due."""
        positions = await self.ledger.service_positions(vehicle_id, schedule)
        overdue: list[tuple[float, str]] = []
        for kind, (odometer, last_km) in positions.items():
            driven = odometer - last_km if last_km is not None else math.inf
            if driven >= schedule[kind]:
                overdue.append((driven - schedule[kind], kind))
        return [kind for _, kind in sorted(overdue, key=lambda item: (-item[0], item[1]))]

    async def import_csv(self, text: str) -> int:
        """Import the legacy workshop export (see IMPORT_FIELDS)."""
        rows = list(csv.DictReader(io.StringIO(text)))
        ids = await self.vehicles.resolve_plates({row["plate"] for row in rows})
        batch = []
        for row in rows:
            vehicle_id = ids[row["plate"]]
            if vehicle_id is None:
                raise UnknownVehicle(row["plate"])
            batch.append(
                (
                    vehicle_id,
                    row["kind"].strip().lower(),
                    datetime.fromisoformat(row["performed_at"]),
                    int(row["odometer_km"]),
                    _money(row["cost"]),
                    [p for p in (row.get("parts") or "").split("|") if p],
                    json.loads(row["details"]) if row.get("details") else None,
                    row.get("notes") or None,
                )
            )
        try:
            return await self.ledger.import_rows(batch)
        except asyncpg.UniqueViolationError as exc:
            raise InvalidReading(f"import contains events already on record: {exc}") from exc

    async def void(self, event_id: int) -> bool:
        return await self.ledger.void(event_id)

    async def nightly(self) -> None:
        await self.ledger.housekeeping()

