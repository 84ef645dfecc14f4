"""Telematics worker.

Devices publish JSON messages (one per line on stdin when run by the gateway
sidecar); the worker turns them into trips and telemetry and, in between,
closes trips whose end message never arrived.

    {"type": "trip.start",   "plate": "B-FL 204", "driver": "kim", "ts": "..."}
    {"type": "trip.samples", "trip_id": 7, "samples": [{"ts": ..., "lat": ..., ...}]}
    {"type": "trip.end",     "trip_id": 7, "ts": "..."}
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from typing import Any

from fleet import db
from fleet.errors import FleetError
from fleet.services import TelemetryService
from fleet.storage import TripStore, VehicleStore

log = logging.getLogger("fleet.worker")


class Worker:
    def __init__(self, telemetry: TelemetryService) -> None:
        self.telemetry = telemetry

    async def handle(self, message: dict[str, Any]) -> dict[str, Any]:
        kind = message.get("type")
        try:
            if kind == "trip.start":
                trip_id = await self.telemetry.begin(
                    message["plate"], message["driver"], message.get("ts"), message.get("purpose")
                )
                return {"ok": True, "trip_id": trip_id}
            if kind == "trip.samples":
                stored = await self.telemetry.ingest(message["trip_id"], message["samples"])
                return {"ok": True, "stored": stored}
            if kind == "trip.end":
                summary = await self.telemetry.end(message["trip_id"], message.get("ts"))
                return {
                    "ok": True,
                    "trip_id": summary["trip_id"],
                    "distance_km": str(summary["distance_km"]),
                    "odometer_km": summary["odometer_km"],
                }
        except FleetError as exc:
            log.warning("message %r rejected: %s", kind, exc)
            return {"ok": False, "error": str(exc)}
        return {"ok": False, "error": f"unknown message type {kind!r}"}

    async def sweep_forever(self, interval_s: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            closed = await self.telemetry.sweep()
            if closed:
                log.info("closed %d abandoned trip(s)", closed)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except asyncio.TimeoutError:
                pass


async def serve() -> None:
    pool = await db.open_pool()
    worker = Worker(TelemetryService(TripStore(pool), VehicleStore(pool)))
    stop = asyncio.Event()
    sweeper = asyncio.create_task(
        worker.sweep_forever(float(os.environ.get("FLEET_SWEEP_INTERVAL_S", "300")), stop)
    )
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if line.strip():
                reply = await worker.handle(json.loads(line))
                print(json.dumps(reply), flush=True)
    finally:
        stop.set()
        await sweeper
        await db.close_pool()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(serve())
