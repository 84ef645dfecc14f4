"""The operator CLI and the telematics worker, end to end."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from fleet import cli, db
from fleet.worker import Worker

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)
APP_ROOT = Path(__file__).resolve().parents[1]


async def _python_m(module: str, *args: str, stdin: str = "") -> tuple[int, str, str]:
    env = dict(os.environ, PYTHONPATH=str(APP_ROOT))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        cwd=APP_ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), timeout=30)
    return proc.returncode, out.decode(), err.decode()


async def test_init_db_and_roster(clean_db, probe, capsys):
    assert await cli.run(["init-db"]) == 0
    assert capsys.readouterr().out == "schema installed\n"
    await probe.execute(
        "INSERT INTO vehicles (plate, vin, model, status) VALUES "
        "('B-2', 'v', 'm', 'active'), ('A-1', 'v', 'm', 'active'), ('R-9', 'v', 'm', 'retired')"
    )
    assert await cli.run(["roster"]) == 0
    assert capsys.readouterr().out == "2\tA-1\n1\tB-2\n"
    assert await cli.run(["roster", "--status", "retired"]) == 0
    assert capsys.readouterr().out == "3\tR-9\n"
    with pytest.raises(RuntimeError):
        db.get_pool()  # the command closed its pool


async def test_housekeeping_command(clean_db, probe, capsys):
    vid = await probe.fetchval("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'v', 'm') RETURNING id")
    now = datetime.now(timezone.utc)
    await probe.execute(
        "INSERT INTO trips (vehicle_id, driver, started_at) VALUES ($1, 'kim', $2), ($1, 'ali', $3)",
        vid,
        now - timedelta(hours=30),
        now - timedelta(hours=1),
    )
    assert await cli.run(["housekeeping"]) == 0
    assert capsys.readouterr().out == "closed 1 abandoned trip(s)\n"
    assert await probe.fetchval("SELECT count(*) FROM trips WHERE ended_at IS NULL") == 1
    assert await cli.run(["housekeeping", "--max-open-hours", "0.5"]) == 0
    assert capsys.readouterr().out == "closed 1 abandoned trip(s)\n"


async def test_import_maintenance_command(clean_db, probe, capsys, tmp_path):
    await probe.execute("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'v', 'm')")
    export = tmp_path / "workshop.csv"
    export.write_text(
        "plate,kind,performed_at,odometer_km,cost,parts,details,notes\n"
        "A-1,oil,2024-01-10T08:00:00+00:00,41000,80.50,filter,,\n"
        "A-1,wash,2024-01-11T08:00:00+00:00,41100,9,,,\n",
        encoding="utf-8",
    )
    assert await cli.run(["import-maintenance", str(export)]) == 0
    assert capsys.readouterr().out == "imported 2 event(s)\n"
    assert await probe.fetchval("SELECT sum(cost) FROM maintenance_events") == Decimal("89.50")

    export.write_text(
        "plate,kind,performed_at,odometer_km,cost,parts,details,notes\n"
        "Q-7,oil,2024-01-10T08:00:00+00:00,1,1,,,\n",
        encoding="utf-8",
    )
    assert await cli.run(["import-maintenance", str(export)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: no such vehicle: 'Q-7'\n"


async def test_trip_command(clean_db, probe, capsys):
    vid = await probe.fetchval("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'v', 'm') RETURNING id")
    trip_id = await probe.fetchval(
        "INSERT INTO trips (vehicle_id, driver, started_at, ended_at, distance_km) "
        "VALUES ($1, 'kim', $2, $3, 12.5) RETURNING id",
        vid,
        T0,
        T0 + timedelta(hours=1),
    )
    assert await cli.run(["trip", str(trip_id)]) == 0
    assert capsys.readouterr().out == f"trip {trip_id} A-1 driver=kim points=0 distance=12.50\n"
    assert await cli.run(["trip", "77"]) == 1
    assert capsys.readouterr().err == "error: unknown trip 77\n"


@pytest.fixture
def worker(telemetry):
    return Worker(telemetry)


async def test_worker_handles_a_trip(worker, add_vehicle, vehicles, trips):
    van = await add_vehicle("B-FL 204")
    started = await worker.handle({"type": "trip.start", "plate": "b-fl 204", "driver": "kim", "ts": "2024-03-04T06:30:00Z"})
    assert started == {"ok": True, "trip_id": 1}
    samples = [{"ts": (T0 + timedelta(minutes=i)).isoformat(), "lat": 0.0, "lon": i / 10, "speed": 50} for i in range(4)]
    assert await worker.handle({"type": "trip.samples", "trip_id": 1, "samples": samples}) == {"ok": True, "stored": 4}
    ended = await worker.handle({"type": "trip.end", "trip_id": 1, "ts": "2024-03-04T07:00:00+00:00"})
    assert ended == {"ok": True, "trip_id": 1, "distance_km": "33.36", "odometer_km": 33}
    assert (await vehicles.get(van["id"]))["odometer_km"] == 33
    assert (await trips.get(1))["ended_at"] == T0 + timedelta(minutes=30)


async def test_worker_rejections(worker, add_vehicle):
    await add_vehicle("B-FL 204")
    assert await worker.handle({"type": "trip.start", "plate": "nope", "driver": "kim"}) == {
        "ok": False,
        "error": "no such vehicle: 'nope'",
    }
    reply = await worker.handle({"type": "trip.samples", "trip_id": 5, "samples": [{"ts": T0.isoformat(), "lat": 0, "lon": 0}]})
    assert reply == {"ok": False, "error": "unknown trip 5"}
    assert (await worker.handle({"type": "trip.end", "trip_id": 5}))["ok"] is False
    assert await worker.handle({"type": "ping"}) == {"ok": False, "error": "unknown message type 'ping'"}


async def test_worker_sweeper_stops_on_request(worker, add_vehicle, trips):
    van = await add_vehicle("B-FL 204")
    stale = await trips.start(van["id"], "kim", datetime.now(timezone.utc) - timedelta(days=2))
    stop = asyncio.Event()
    task = asyncio.create_task(worker.sweep_forever(60, stop))
    for _ in range(100):
        if (await trips.get(stale))["ended_at"] is not None:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, timeout=5)
    assert (await trips.get(stale))["ended_at"] is not None


async def test_python_m_fleet(clean_db, probe):
    await probe.execute("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'v', 'm')")
    assert await _python_m("fleet", "roster") == (0, "1\tA-1\n", "")
    code, out, err = await _python_m("fleet", "trip", "5")
    assert (code, out, err) == (1, "", "error: unknown trip 5\n")
    code, _, err = await _python_m("fleet", "bogus")
    assert code == 2 and "invalid choice" in err


async def test_worker_process_reads_messages_from_stdin(clean_db, probe):
    await probe.execute("INSERT INTO vehicles (plate, vin, model) VALUES ('A-1', 'v', 'm')")
    messages = [
        {"type": "trip.start", "plate": "A-1", "driver": "kim", "ts": "2024-03-04T06:30:00+00:00"},
        {"type": "trip.samples", "trip_id": 1, "samples": [
            {"ts": "2024-03-04T06:31:00+00:00", "lat": 0, "lon": 0, "speed": 10},
            {"ts": "2024-03-04T06:32:00+00:00", "lat": 0, "lon": 0.1, "speed": 10},
        ]},
        {"type": "trip.end", "trip_id": 1, "ts": "2024-03-04T06:40:00+00:00"},
        {"type": "trip.end", "trip_id": 1},
    ]
    stdin = "".join(json.dumps(m) + "\n" for m in messages) + "\n"
    code, out, _ = await _python_m("fleet.worker", stdin=stdin)
    assert code == 0
    replies = [json.loads(line) for line in out.splitlines()]
    assert replies == [
        {"ok": True, "trip_id": 1},
        {"ok": True, "stored": 2},
        {"ok": True, "trip_id": 1, "distance_km": "11.12", "odometer_km": 11},
        {"ok": False, "error": "trip 1 is unknown or already closed"},
    ]
    assert await probe.fetchval("SELECT odometer_km FROM vehicles") == 11
