"""Operator commands: ``python -m fleet <command>``.

Every command reads the database location from ``$FLEET_DB_DSN``.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from fleet import db
from fleet.errors import FleetError
from fleet.services import FleetRegistry, TelemetryService, WorkshopService
from fleet.storage import MaintenanceLedger, TripStore, VehicleStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleet", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init-db", help="create or update the schema")
    roster = sub.add_parser("roster", help="list vehicles by status")
    roster.add_argument("--status", default="active")
    nightly = sub.add_parser("housekeeping", help="nightly clean-up")
    nightly.add_argument("--max-open-hours", type=float, default=12.0)
    imp = sub.add_parser("import-maintenance", help="load a workshop CSV export")
    imp.add_argument("path", type=Path)
    report = sub.add_parser("trip", help="show one trip")
    report.add_argument("trip_id", type=int)
    return parser


async def run(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    pool = await db.open_pool()
    try:
        vehicles = VehicleStore(pool)
        trips = TripStore(pool)
        ledger = MaintenanceLedger(pool)
        if args.command == "init-db":
            await db.install_schema(pool)
            print("schema installed")
        elif args.command == "roster":
            for vid, plate in await FleetRegistry(vehicles).roster(args.status):
                print(f"{vid}\t{plate}")
        elif args.command == "housekeeping":
            closed = await TelemetryService(trips, vehicles).sweep(
                max_age=timedelta(hours=args.max_open_hours)
            )
            await WorkshopService(ledger, vehicles).nightly()
            print(f"closed {closed} abandoned trip(s)")
        elif args.command == "import-maintenance":
            count = await WorkshopService(ledger, vehicles).import_csv(args.path.read_text(encoding="utf-8"))
            print(f"imported {count} event(s)")
        elif args.command == "trip":
            rep = await TelemetryService(trips, vehicles).report(args.trip_id)
            print(f"trip {rep.trip_id} {rep.plate} driver={rep.driver} points={rep.points} "
                  f"distance={rep.distance_km if rep.distance_km is not None else '-'}")
    except FleetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await db.close_pool()
    return 0


def main() -> None:
    raise SystemExit(asyncio.run(run()))
