"""Errors the service layer raises to its callers (CLI, worker, ops scripts)."""
from __future__ import annotations


class FleetError(Exception):
    """Base class for everything fleetlog reports as a business failure."""


class UnknownVehicle(FleetError):
    def __init__(self, ref: object) -> None:
        super().__init__(f"no such vehicle: {ref!r}")
        self.ref = ref


class PlateTaken(FleetError):
    def __init__(self, plate: str) -> None:
        super().__init__(f"plate {plate!r} is already registered")
        self.plate = plate


class InvalidReading(FleetError):
    """An odometer/telemetry value the database refused (negative, missing, ...)."""


class InvalidTrip(FleetError):
    pass


class DuplicateEvent(FleetError):
    def __init__(self, vehicle_id: int, kind: str) -> None:
        super().__init__(f"{kind!r} for vehicle {vehicle_id} is already on record at that time")
        self.vehicle_id = vehicle_id
        self.kind = kind
