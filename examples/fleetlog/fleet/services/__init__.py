from fleet.services.registry import FleetRegistry, VehicleCard
from fleet.services.telemetry import TelemetryService, TripReport
from fleet.services.workshop import VisitResult, WorkshopService

__all__ = [
    "FleetRegistry",
    "TelemetryService",
    "TripReport",
    "VehicleCard",
    "VisitResult",
    "WorkshopService",
]
