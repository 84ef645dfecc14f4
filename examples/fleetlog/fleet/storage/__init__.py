from fleet.storage.maintenance import MaintenanceLedger
from fleet.storage.trips import TripStore
from fleet.storage.vehicles import VehicleStore

__all__ = ["MaintenanceLedger", "TripStore", "VehicleStore"]
