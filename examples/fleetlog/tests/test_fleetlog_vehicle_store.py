"""VehicleStore against a real database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncio

import asyncpg
import pytest

from fleet.errors import UnknownVehicle

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)

VEHICLE_KEYS = [
    "id", "plate", "vin", "model", "status", "odometer_km", "tags", "attributes", "notes",
    "registered_at", "updated_at",
]


async def test_register_returns_full_row(vehicles, probe):
    before = datetime.now(timezone.utc)
    rec = await vehicles.register(
        "b-fl 204",
        "WDB9066331S000204",
        "Sprinter 316",
        tags=["cold-chain", "north"],
        attributes={"payload_kg": 1200, "fuel": "diesel", "axles": [2, {"twin": True}]},
        notes="leased until 2026",
    )
    assert rec[0] == rec["id"] and rec[1] == rec["plate"]
    assert len(rec) == len(VEHICLE_KEYS) and list(rec) == [rec[k] for k in VEHICLE_KEYS]
    assert list(rec.keys()) == VEHICLE_KEYS
    assert isinstance(rec["id"], int) and rec["id"] == 1
    assert rec["plate"] == "B-FL 204"  # normalised by the database
    assert rec["vin"] == "WDB9066331S000204"
    assert rec["status"] == "active" and isinstance(rec["status"], str)
    assert rec["odometer_km"] == 0
    assert rec["tags"] == ["cold-chain", "north"]
    assert rec["attributes"] == {"payload_kg": 1200, "fuel": "diesel", "axles": [2, {"twin": True}]}
    assert isinstance(rec["attributes"], dict)
    assert rec["notes"] == "leased until 2026"
    assert rec["registered_at"].tzinfo is not None
    assert before - timedelta(seconds=5) <= rec["registered_at"] <= datetime.now(timezone.utc) + timedelta(seconds=5)

    stored = await probe.fetchrow(
        "SELECT jsonb_typeof(attributes) AS kind, (attributes ->> 'payload_kg')::int AS payload "
        "FROM vehicles WHERE id = $1",
        rec["id"],
    )
    assert (stored["kind"], stored["payload"]) == ("object", 1200)


async def test_register_defaults(vehicles):
    rec = await vehicles.register("K-1", "VIN1", "eVito")
    assert rec["tags"] == []
    assert rec["attributes"] == {}
    assert rec["notes"] is None


async def test_register_duplicate_plate_raises(vehicles, probe):
    await vehicles.register("B-FL 1", "VIN1", "eVito")
    with pytest.raises(asyncpg.UniqueViolationError):
        await vehicles.register("b-fl 1", "VIN2", "Crafter")
    assert await probe.fetchval("SELECT count(*) FROM vehicles") == 1


async def test_get_and_get_by_plate(vehicles, add_vehicle):
    made = await add_vehicle("HH-AB 12", attributes={"depot": "hamburg"})
    by_id = await vehicles.get(made["id"])
    by_plate = await vehicles.get_by_plate("hh-ab 12")
    assert dict(by_id) == dict(made) == dict(by_plate)
    assert by_id["attributes"] == {"depot": "hamburg"}
    assert await vehicles.get(999) is None
    assert await vehicles.get_by_plate("nope") is None


async def test_upsert_inserts_then_refreshes(vehicles, probe):
    rec, created = await vehicles.upsert(
        "m-xy 9", "VIN-A", "Transit", tags=["north", "cold-chain"], attributes={"a": 1, "b": 1}, notes="first"
    )
    assert created is True
    assert rec["plate"] == "M-XY 9"
    await probe.execute("UPDATE vehicles SET odometer_km = 5000, status = 'in_service' WHERE id = $1", rec["id"])

    again, created = await vehicles.upsert(
        "M-XY 9", "VIN-B", "Transit Custom", tags=["south", "north"], attributes={"b": 2, "c": 3}
    )
    assert created is False
    assert again["id"] == rec["id"]
    assert again["vin"] == "VIN-B"
    assert again["model"] == "Transit Custom"
    assert again["tags"] == ["cold-chain", "north", "south"]
    assert again["attributes"] == {"a": 1, "b": 2, "c": 3}
    assert again["notes"] == "first"  # kept when the import has none
    assert again["odometer_km"] == 5000 and again["status"] == "in_service"
    assert again["updated_at"] >= rec["updated_at"]
    assert await probe.fetchval("SELECT count(*) FROM vehicles") == 1

    third, created = await vehicles.upsert("M-XY 9", "VIN-B", "Transit Custom", notes="second")
    assert created is False and third["notes"] == "second"


async def test_plate_of(vehicles, add_vehicle):
    made = await add_vehicle("D-EV 7")
    assert await vehicles.plate_of(made["id"]) == "D-EV 7"
    assert await vehicles.plate_of(made["id"] + 1) is None


async def test_roster_is_id_and_plate_by_plate(vehicles, add_vehicle):
    c = await add_vehicle("C-3")
    a = await add_vehicle("A-1")
    b = await add_vehicle("B-2")
    await vehicles.set_status(b["id"], "retired")
    rows = await vehicles.roster("active")
    assert [dict(r) for r in rows] == [{"id": a["id"], "plate": "A-1"}, {"id": c["id"], "plate": "C-3"}]
    assert [tuple(r) for r in rows] == [(a["id"], "A-1"), (c["id"], "C-3")]
    assert [list(r.keys()) for r in rows] == [["id", "plate"], ["id", "plate"]]
    assert [tuple(r) for r in await vehicles.roster("retired")] == [(b["id"], "B-2")]
    assert await vehicles.roster("in_service") == []


async def test_with_any_tag_overlaps_and_orders(vehicles, add_vehicle, probe):
    a = await add_vehicle("A-1", tags=["north", "cold-chain"])
    b = await add_vehicle("B-1", tags=["south"])
    c = await add_vehicle("C-1", tags=["north"])
    await add_vehicle("D-1")
    await probe.execute("UPDATE vehicles SET odometer_km = 900 WHERE id = $1", c["id"])
    rows = await vehicles.with_any_tag(["NORTH", "south"])
    assert [r["plate"] for r in rows] == ["C-1", "A-1", "B-1"]
    assert list(rows[0].keys()) == ["id", "plate", "model", "status", "tags", "odometer_km"]
    assert rows[1]["tags"] == ["north", "cold-chain"]
    assert rows[0]["odometer_km"] == 900
    assert [r["id"] for r in await vehicles.with_any_tag(["cold-chain"])] == [a["id"]]
    assert await vehicles.with_any_tag(["west"]) == []
    assert await vehicles.with_any_tag([]) == []
    assert b["id"] in [r["id"] for r in rows]


async def test_set_status(vehicles, add_vehicle):
    v = await add_vehicle()
    assert await vehicles.set_status(v["id"], "in_service") is True
    assert (await vehicles.get(v["id"]))["status"] == "in_service"
    assert await vehicles.set_status(v["id"] + 100, "retired") is False
    with pytest.raises(asyncpg.InvalidTextRepresentationError):
        await vehicles.set_status(v["id"], "scrapped")


async def test_add_distance(vehicles, add_vehicle):
    v = await add_vehicle()
    assert await vehicles.add_distance(v["id"], 120) == 120
    assert await vehicles.add_distance(v["id"], 30) == 150
    assert await vehicles.add_distance(v["id"], -50) == 100
    with pytest.raises(asyncpg.CheckViolationError):
        await vehicles.add_distance(v["id"], -101)
    with pytest.raises(asyncpg.NotNullViolationError):
        await vehicles.add_distance(v["id"], None)
    assert (await vehicles.get(v["id"]))["odometer_km"] == 100
    with pytest.raises(UnknownVehicle):
        await vehicles.add_distance(v["id"] + 1, 10)


async def test_record_reading_never_winds_back(vehicles, add_vehicle):
    v = await add_vehicle(attributes={"depot": "bremen"})
    rec = await vehicles.record_reading(v["id"], 4200)
    assert list(rec.keys()) == ["odometer_km", "attributes"]
    assert rec["odometer_km"] == 4200
    assert rec["attributes"] == {"depot": "bremen", "last_reading_km": 4200}
    rec = await vehicles.record_reading(v["id"], 4100)
    assert rec["odometer_km"] == 4200
    assert rec["attributes"]["last_reading_km"] == 4100
    assert await vehicles.record_reading(v["id"] + 1, 1) is None


async def test_merge_attributes(vehicles, add_vehicle, probe):
    v = await add_vehicle(attributes={"a": 1, "nested": {"x": 1}})
    merged = await vehicles.merge_attributes(v["id"], {"nested": {"y": 2}, "b": [1, "two"], "c": None})
    assert merged == {"a": 1, "nested": {"y": 2}, "b": [1, "two"], "c": None}
    assert isinstance(merged, dict)
    assert await probe.fetchval("SELECT attributes -> 'b' ->> 1 FROM vehicles WHERE id = $1", v["id"]) == "two"
    assert await vehicles.merge_attributes(v["id"] + 1, {"a": 2}) is None


async def test_retag_many(vehicles, add_vehicle):
    a = await add_vehicle(tags=["old"])
    b = await add_vehicle()
    n = await vehicles.retag([(a["id"], ["North", "cold-chain", "north"]), (b["id"], [])])
    assert n == 2
    assert (await vehicles.get(a["id"]))["tags"] == ["cold-chain", "north"]
    assert (await vehicles.get(b["id"]))["tags"] == []
    assert await vehicles.retag([]) == 0


async def test_delete(vehicles, add_vehicle, probe):
    v = await add_vehicle()
    await probe.execute(
        "INSERT INTO trips (vehicle_id, driver, started_at) VALUES ($1, 'kim', $2)", v["id"], T0
    )
    assert await vehicles.delete(v["id"]) is True
    assert await vehicles.get(v["id"]) is None
    assert await probe.fetchval("SELECT count(*) FROM trips") == 0  # trips cascade
    assert await vehicles.delete(v["id"]) is False


async def test_delete_refused_with_maintenance_history(vehicles, add_vehicle, probe):
    v = await add_vehicle()
    await probe.execute(
        "INSERT INTO maintenance_events (vehicle_id, kind, performed_at, odometer_km, cost) "
        "VALUES ($1, 'oil', $2, 100, 80)",
        v["id"],
        T0,
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await vehicles.delete(v["id"])
    assert await vehicles.get(v["id"]) is not None


async def test_resolve_plates_with_one_prepared_statement(vehicles, add_vehicle):
    a = await add_vehicle("A-1")
    b = await add_vehicle("B-2")
    plates = ["b-2", "ZZ-9", "A-1", "a-1"]
    found = await vehicles.resolve_plates(plates)
    assert list(found) == ["b-2", "ZZ-9", "A-1", "a-1"]
    assert found == {"b-2": b["id"], "ZZ-9": None, "A-1": a["id"], "a-1": a["id"]}
    assert all(isinstance(v, int) for v in found.values() if v is not None)
    assert await vehicles.resolve_plates([]) == {}
    many = await vehicles.resolve_plates(f"X-{i}" for i in range(60))
    assert len(many) == 60 and set(many.values()) == {None}


async def test_merge_into_moves_history_and_deletes_duplicate(vehicles, add_vehicle, probe):
    keep = await add_vehicle("KEEP-1", tags=["north"], attributes={"depot": "kiel", "colour": "white"})
    dup = await add_vehicle("DUP-1", tags=["south", "north"], attributes={"colour": "red", "fuel": "ev"})
    await probe.execute("UPDATE vehicles SET odometer_km = 7000 WHERE id = $1", dup["id"])
    for i in range(3):
        await probe.execute(
            "INSERT INTO trips (vehicle_id, driver, started_at) VALUES ($1, 'kim', $2)",
            dup["id"],
            T0 + timedelta(hours=i),
        )
    await probe.execute(
        "INSERT INTO maintenance_events (vehicle_id, kind, performed_at, odometer_km, cost) "
        "VALUES ($1, 'oil', $2, 6000, 80)",
        dup["id"],
        T0,
    )

    moved = await vehicles.merge_into(dup["id"], keep["id"])
    assert moved == {"trips": 3, "maintenance_events": 1}
    assert await vehicles.get(dup["id"]) is None
    kept = await vehicles.get(keep["id"])
    assert kept["odometer_km"] == 7000
    assert kept["tags"] == ["north", "south"]
    assert kept["attributes"] == {"depot": "kiel", "colour": "white", "fuel": "ev"}
    assert await probe.fetchval("SELECT count(*) FROM trips WHERE vehicle_id = $1", keep["id"]) == 3
    assert await probe.fetchval(
        "SELECT count(*) FROM maintenance_events WHERE vehicle_id = $1", keep["id"]
    ) == 1

    empty = await add_vehicle("DUP-2")
    assert await vehicles.merge_into(empty["id"], keep["id"]) == {"trips": 0, "maintenance_events": 0}


async def test_merge_into_is_all_or_nothing(vehicles, add_vehicle, probe):
    keep = await add_vehicle("KEEP-1")
    dup = await add_vehicle("DUP-1")
    await probe.execute(
        "INSERT INTO trips (vehicle_id, driver, started_at) VALUES ($1, 'kim', $2)", dup["id"], T0
    )
    for vid in (keep["id"], dup["id"]):  # the same event booked on both registrations
        await probe.execute(
            "INSERT INTO maintenance_events (vehicle_id, kind, performed_at, odometer_km, cost) "
            "VALUES ($1, 'tyres', $2, 100, 400)",
            vid,
            T0,
        )
    with pytest.raises(asyncpg.UniqueViolationError):
        await vehicles.merge_into(dup["id"], keep["id"])
    # the trip update that ran before the conflict was rolled back as well
    assert await probe.fetchval("SELECT vehicle_id FROM trips") == dup["id"]
    assert await vehicles.get(dup["id"]) is not None
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 2


async def test_merge_into_runs_serializable(vehicles, add_vehicle, probe, clean_db):
    """A concurrent change to the kept vehicle makes the merge fail instead of
    silently overwriting it (under READ COMMITTED it would just wait and win)."""
    keep = await add_vehicle("KEEP-1")
    dup = await add_vehicle("DUP-1")
    await probe.execute(
        "INSERT INTO trips (vehicle_id, driver, started_at) VALUES ($1, 'kim', $2)", dup["id"], T0
    )
    watcher = await asyncpg.connect(clean_db)
    try:
        tx = probe.transaction()
        await tx.start()
        await probe.execute("UPDATE vehicles SET odometer_km = 10 WHERE id = $1", keep["id"])
        merge = asyncio.create_task(vehicles.merge_into(dup["id"], keep["id"]))
        for _ in range(250):  # wait until the merge is blocked on our row lock
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting or merge.done():
                break
            await asyncio.sleep(0.02)
        assert waiting == 1
        await tx.commit()
        with pytest.raises(asyncpg.SerializationError):
            await merge
    finally:
        await watcher.close()
    assert await probe.fetchval("SELECT vehicle_id FROM trips") == dup["id"]
    assert await vehicles.get(dup["id"]) is not None
    assert (await vehicles.get(keep["id"]))["odometer_km"] == 10


async def test_merge_into_unknown_or_same_vehicle(vehicles, add_vehicle):
    dup = await add_vehicle("DUP-1")
    with pytest.raises(UnknownVehicle) as info:
        await vehicles.merge_into(dup["id"], 999)
    assert info.value.ref == 999
    with pytest.raises(UnknownVehicle) as info:
        await vehicles.merge_into(998, dup["id"])
    assert info.value.ref == 998
    assert await vehicles.get(dup["id"]) is not None
    with pytest.raises(ValueError):
        await vehicles.merge_into(dup["id"], dup["id"])
