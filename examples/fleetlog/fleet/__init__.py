"""fleetlog: vehicle registry, trip telemetry and maintenance ledger."""

__version__ = "1.4.2"
