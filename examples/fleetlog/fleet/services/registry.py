"""Vehicle registry use cases: onboarding, lookups, exports, retirement."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from fleet.errors import InvalidReading, PlateTaken, UnknownVehicle
from fleet.storage import VehicleStore

STATUSES = ("active", "in_service", "retired")


@dataclass(frozen=True)
class VehicleCard:
    id: int
    plate: str
    vin: str
    model: str
    status: str
    odometer_km: int
    tags: tuple[str, ...]
    attributes: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    registered_at: datetime | None = None


def _card(rec: asyncpg.Record) -> VehicleCard:
    return VehicleCard(
        id=rec[0],
        plate=rec["plate"],
        vin=rec["vin"],
        model=rec["model"],
        status=rec["status"],
        odometer_km=rec["odometer_km"],
        tags=tuple(rec["tags"]),
        attributes=rec["attributes"],
        notes=rec.get("notes") or "",
        registered_at=rec.get("registered_at"),
    )


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "|".join(str(v) for v in value)
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class FleetRegistry:
    def __init__(self, vehicles: VehicleStore) -> None:
        self.vehicles = vehicles

    async def onboard(
        self,
        plate: str,
        vin: str,
        model: str,
        *,
        tags: Sequence[str] = (),
        attributes: Mapping[str, Any] | None = None,
        notes: str | None = None,
    ) -> VehicleCard:
        plate = plate.strip()
        if not plate:
            raise ValueError("plate must not be empty")
        try:
            rec = await self.vehicles.register(
                plate,
                vin,
                model,
                tags=sorted({t.lower() for t in tags}),
                attributes=dict(attributes) if attributes else None,
                notes=notes,
            )
        except asyncpg.UniqueViolationError:
            raise PlateTaken(plate.upper()) from None
        return _card(rec)

    async def import_fleet(self, rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
        """Register or refresh vehicles from a fleet-manager export."""
        outcome: dict[str, list[str]] = {"created": [], "updated": []}
        for row in rows:
            rec, created = await self.vehicles.upsert(
                row["plate"],
                row["vin"],
                row["model"],
                tags=[t.lower() for t in row.get("tags", ())],
                attributes=row.get("attributes"),
                notes=row.get("notes"),
            )
            outcome["created" if created else "updated"].append(rec["plate"])
        return outcome

    async def card(self, vehicle_id: int) -> VehicleCard:
        rec = await self.vehicles.get(vehicle_id)
        if rec is None:
            raise UnknownVehicle(vehicle_id)
        return _card(rec)

    async def lookup(self, plate: str) -> VehicleCard | None:
        rec = await self.vehicles.get_by_plate(plate.strip())
        return _card(rec) if rec is not None else None

    async def describe(self, vehicle_id: int) -> list[str]:
        """Human-readable "field: value" lines for the ops console; empty fields are left out."""
        rec = await self.vehicles.get(vehicle_id)
        if rec is None:
            raise UnknownVehicle(vehicle_id)
        return [f"{key}: {_cell(value)}" for key, value in rec.items() if value not in (None, [], {})]

    async def plate(self, vehicle_id: int) -> str:
        plate = await self.vehicles.plate_of(vehicle_id)
        if plate is None:
            raise UnknownVehicle(vehicle_id)
        return plate

    async def roster(self, status: str = "active") -> list[tuple[int, str]]:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        out: list[tuple[int, str]] = []
        for rec in await self.vehicles.roster(status):
            vid, plate = rec
            out.append((vid, plate))
        return out

    async def export_tagged(self, tags: Iterable[str]) -> list[list[str]]:
        """CSV-ready rows (header first) of every vehicle carrying one of ``tags``."""
        recs = await self.vehicles.with_any_tag(tags)
        if not recs:
            return []
        header = list(recs[0].keys())
        table = [header]
        for rec in recs:
            if len(rec) != len(header):  # the query changed under us
                raise RuntimeError(f"expected {len(header)} columns, got {len(rec)}")
            row = []
            for value in rec:
                row.append(_cell(value))
            table.append(row)
        return table

    async def search_tags(self, tags: Iterable[str]) -> list[dict[str, Any]]:
        return [dict(rec) for rec in await self.vehicles.with_any_tag(tags)]

    async def resolve(self, plates: Iterable[str]) -> dict[str, int | None]:
        return await self.vehicles.resolve_plates(plates)

    async def set_status(self, vehicle_id: int, status: str) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        if not await self.vehicles.set_status(vehicle_id, status):
            raise UnknownVehicle(vehicle_id)

    async def correct_odometer(self, vehicle_id: int, delta_km: int | None) -> int:
        """Apply a manual correction (positive or negative) to the odometer."""
        try:
            return await self.vehicles.add_distance(vehicle_id, delta_km)
        except (asyncpg.CheckViolationError, asyncpg.NotNullViolationError) as exc:
            raise InvalidReading(f"odometer correction {delta_km!r} refused: {exc}") from exc

    async def apply_reading(self, vehicle_id: int, reading_km: int) -> dict[str, Any]:
        rec = await self.vehicles.record_reading(vehicle_id, reading_km)
        if rec is None:
            raise UnknownVehicle(vehicle_id)
        return dict(rec)

    async def annotate(self, vehicle_id: int, **attributes: Any) -> dict[str, Any]:
        merged = await self.vehicles.merge_attributes(vehicle_id, attributes)
        if merged is None:
            raise UnknownVehicle(vehicle_id)
        return merged

    async def retag(self, assignments: Mapping[int, Sequence[str]]) -> int:
        return await self.vehicles.retag(assignments.items())

    async def decommission(self, vehicle_id: int) -> str:
        """Delete a vehicle that never saw the workshop; retire one that did."""
        try:
            deleted = await self.vehicles.delete(vehicle_id)
        except asyncpg.exceptions.ForeignKeyViolationError:
            await self.vehicles.set_status(vehicle_id, "retired")
            return "retired"
        if not deleted:
            raise UnknownVehicle(vehicle_id)
        return "deleted"

    async def merge_duplicate(self, duplicate_plate: str, keep_plate: str) -> dict[str, int]:
        ids = await self.vehicles.resolve_plates([duplicate_plate, keep_plate])
        for plate, vid in ids.items():
            if vid is None:
                raise UnknownVehicle(plate)
        return await self.vehicles.merge_into(ids[duplicate_plate], ids[keep_plate])
