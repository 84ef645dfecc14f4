"""MaintenanceLedger: events, imports, workshop visits and housekeeping."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import asyncpg
import pytest

from fleet.errors import UnknownVehicle

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)


@pytest.fixture
async def van(add_vehicle):
    return await add_vehicle("B-FL 204")


async def test_log_returns_the_event(ledger, van, probe):
    rec = await ledger.log(
        van["id"],
        "brakes",
        T0,
        48_210,
        Decimal("612.40"),
        parts=["pads-front", "discs-front"],
        details={"workshop": "Autohaus Nord", "invoice": "R-2024-118", "hours": 2.5},
        notes="squeal on left side",
    )
    # the row behaves like a read-only mapping and a tuple at the same time
    assert rec[0] == rec["id"] and rec.get("kind") == "brakes" and rec.get("no_such_column") is None
    assert len(rec) == 9 and dict(rec.items()) == dict(rec)
    assert list(rec.keys()) == [
        "id", "vehicle_id", "kind", "performed_at", "odometer_km", "cost", "parts", "details", "notes",
    ]
    assert rec["id"] == 1 and rec["vehicle_id"] == van["id"]
    assert rec["performed_at"] == T0 and rec["performed_at"].tzinfo is not None
    assert rec["cost"] == Decimal("612.40") and isinstance(rec["cost"], Decimal)
    assert str(rec["cost"]) == "612.40"
    assert rec["parts"] == ["pads-front", "discs-front"]
    assert rec["details"] == {"workshop": "Autohaus Nord", "invoice": "R-2024-118", "hours": 2.5}
    assert rec["notes"] == "squeal on left side"
    assert await probe.fetchval("SELECT details ->> 'invoice' FROM maintenance_events") == "R-2024-118"


async def test_log_defaults_and_rounding(ledger, van):
    rec = await ledger.log(van["id"], "inspection", T0, 10, Decimal("99.999"))
    assert rec["cost"] == Decimal("100.00")
    assert rec["parts"] == [] and rec["details"] == {} and rec["notes"] is None
    rec = await ledger.log(van["id"], "wash", T0, 10, 15)
    assert rec["cost"] == Decimal("15.00")


async def test_log_errors_come_from_the_database(ledger, van, probe):
    await ledger.log(van["id"], "oil", T0, 100, Decimal("80"))
    with pytest.raises(asyncpg.UniqueViolationError):
        await ledger.log(van["id"], "oil", T0, 100, Decimal("80"))
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await ledger.log(999, "oil", T0, 100, Decimal("80"))
    with pytest.raises(asyncpg.CheckViolationError):
        await ledger.log(van["id"], "oil", T0 + timedelta(days=1), 100, Decimal("-1"))
    with pytest.raises(asyncpg.NotNullViolationError):
        await ledger.log(van["id"], None, T0 + timedelta(days=2), 100, Decimal("1"))
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 1


async def test_history_newest_first(ledger, van, add_vehicle):
    other = await add_vehicle("HH-1")
    a = await ledger.log(van["id"], "oil", T0, 100, Decimal("80"))
    b = await ledger.log(van["id"], "tyres", T0 + timedelta(days=30), 2100, Decimal("420"))
    c = await ledger.log(van["id"], "wash", T0 + timedelta(days=30), 2100, Decimal("12"))
    await ledger.log(other["id"], "oil", T0, 100, Decimal("80"))
    rows = await ledger.history(van["id"])
    assert [r["id"] for r in rows] == [c["id"], b["id"], a["id"]]
    assert list(rows[0].keys()) == ["id", "kind", "performed_at", "odometer_km", "cost", "parts", "details", "notes"]
    assert await ledger.history(999) == []


async def test_last_of_kind(ledger, van):
    await ledger.log(van["id"], "oil", T0, 100, Decimal("80"), notes="first")
    await ledger.log(van["id"], "oil", T0 + timedelta(days=90), 15_100, Decimal("85"), notes="second")
    await ledger.log(van["id"], "tyres", T0 + timedelta(days=100), 16_000, Decimal("400"))
    rec = await ledger.last_of_kind(van["id"], "oil")
    assert (rec["notes"], rec["odometer_km"], rec["cost"]) == ("second", 15_100, Decimal("85.00"))
    assert await ledger.last_of_kind(van["id"], "brakes") is None


async def test_spend(ledger, van, add_vehicle):
    assert await ledger.spend(van["id"], T0) == Decimal("0.00")
    await ledger.log(van["id"], "oil", T0 - timedelta(days=1), 100, Decimal("80.10"))
    await ledger.log(van["id"], "tyres", T0, 200, Decimal("400.25"))
    await ledger.log(van["id"], "wash", T0 + timedelta(days=3), 300, Decimal("12.50"))
    other = await add_vehicle("HH-1")
    await ledger.log(other["id"], "wash", T0, 1, Decimal("999"))
    total = await ledger.spend(van["id"], T0)
    assert total == Decimal("412.75") and isinstance(total, Decimal)
    assert str(await ledger.spend(van["id"], T0 - timedelta(days=10))) == "492.85"


async def test_import_rows(ledger, van, probe):
    rows = [
        (van["id"], "oil", T0 + timedelta(days=i), 1000 * i, Decimal("80.00"), ["filter"], {"src": "legacy", "n": i}, None)
        for i in range(25)
    ]
    assert await ledger.import_rows(rows) == 25
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 25
    history = await ledger.history(van["id"])
    assert history[0]["details"] == {"src": "legacy", "n": 24}
    assert history[-1]["parts"] == ["filter"]
    assert await ledger.import_rows([]) == 0


async def test_import_rows_is_atomic(ledger, van, probe):
    rows = [
        (van["id"], "oil", T0, 100, Decimal("80"), [], None, None),
        (van["id"], "tyres", T0, 100, Decimal("-5"), [], None, "typo in the old system"),
        (van["id"], "wash", T0, 100, Decimal("10"), [], None, None),
    ]
    with pytest.raises(asyncpg.CheckViolationError):
        await ledger.import_rows(rows)
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 0


async def test_service_visit_skips_refused_jobs(ledger, van, probe):
    await probe.execute("UPDATE vehicles SET odometer_km = 30000 WHERE id = $1", van["id"])
    jobs = [
        {"kind": "oil", "cost": Decimal("89.90"), "parts": ["5w30", "filter"], "details": {"litres": 7.5}},
        {"kind": "wipers", "cost": Decimal("-3")},
        {"kind": None, "cost": Decimal("10")},
        {"kind": "brakes", "cost": None},
        {"kind": "inspection", "cost": Decimal("120"), "notes": "passed"},
    ]
    booked, rejected = await ledger.service_visit(van["id"], T0, 31_500, jobs)
    assert len(booked) == 2 and all(isinstance(i, int) for i in booked)
    assert booked[0] < booked[1]
    assert [j["kind"] for j in rejected] == ["wipers", None, "brakes"]
    assert rejected[0] is jobs[1]
    events = await ledger.history(van["id"])
    assert sorted(e["kind"] for e in events) == ["inspection", "oil"]
    assert sorted(e["id"] for e in events) == sorted(booked)
    oil = await ledger.last_of_kind(van["id"], "oil")
    assert oil["details"] == {"litres": 7.5} and oil["parts"] == ["5w30", "filter"]
    assert oil["odometer_km"] == 31_500 and oil["performed_at"] == T0
    vehicle = await probe.fetchrow("SELECT status::text, odometer_km FROM vehicles WHERE id = $1", van["id"])
    assert tuple(vehicle) == ("in_service", 31_500)


async def test_service_visit_keeps_higher_odometer(ledger, van, probe):
    await probe.execute("UPDATE vehicles SET odometer_km = 40000 WHERE id = $1", van["id"])
    booked, rejected = await ledger.service_visit(van["id"], T0, 39_000, [])
    assert (booked, rejected) == ([], [])
    assert await probe.fetchval("SELECT odometer_km FROM vehicles WHERE id = $1", van["id"]) == 40_000
    assert await probe.fetchval("SELECT status::text FROM vehicles WHERE id = $1", van["id"]) == "in_service"


async def test_service_visit_other_failures_undo_everything(ledger, van, probe):
    jobs = [
        {"kind": "oil", "cost": Decimal("80")},
        {"kind": "oil", "cost": Decimal("80")},  # same kind twice in one visit
    ]
    with pytest.raises(asyncpg.UniqueViolationError):
        await ledger.service_visit(van["id"], T0, 5000, jobs)
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 0
    vehicle = await probe.fetchrow("SELECT status::text, odometer_km FROM vehicles WHERE id = $1", van["id"])
    assert tuple(vehicle) == ("active", 0)


async def test_service_visit_unknown_vehicle(ledger, probe):
    with pytest.raises(UnknownVehicle):
        await ledger.service_visit(404, T0, 1, [{"kind": "oil", "cost": Decimal("1")}])
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 0


async def test_service_positions(ledger, van, probe):
    await probe.execute("UPDATE vehicles SET odometer_km = 52000 WHERE id = $1", van["id"])
    await ledger.log(van["id"], "oil", T0, 20_000, Decimal("80"))
    await ledger.log(van["id"], "oil", T0 + timedelta(days=200), 40_000, Decimal("80"))
    await ledger.log(van["id"], "tyres", T0, 10_000, Decimal("400"))
    kinds = ["oil", "tyres", "brakes"] + [f"check-{i}" for i in range(20)]
    positions = await ledger.service_positions(van["id"], kinds)
    assert list(positions) == kinds
    assert positions["oil"] == (52_000, 40_000)
    assert positions["tyres"] == (52_000, 10_000)
    assert positions["brakes"] == (52_000, None)
    assert positions["check-19"] == (52_000, None)
    assert await ledger.service_positions(van["id"], []) == {}
    with pytest.raises(UnknownVehicle):
        await ledger.service_positions(404, ["oil"])


async def test_void(ledger, van):
    rec = await ledger.log(van["id"], "oil", T0, 100, Decimal("80"))
    assert await ledger.void(rec["id"]) is True
    assert await ledger.void(rec["id"]) is False
    assert await ledger.history(van["id"]) == []


async def test_housekeeping_script(ledger, add_vehicle, trips, probe):
    now = datetime.now(timezone.utc)
    idle = await add_vehicle("IDLE-1")
    busy = await add_vehicle("BUSY-1")
    active = await add_vehicle("ACT-1")
    for v in (idle, busy):
        await probe.execute("UPDATE vehicles SET status = 'in_service' WHERE id = $1", v["id"])
    await ledger.log(idle["id"], "oil", now - timedelta(days=20), 100, Decimal("80"))
    await ledger.log(busy["id"], "oil", now - timedelta(days=2), 100, Decimal("80"))
    trip_id = await trips.start(active["id"], "kim", now - timedelta(days=500))
    await trips.add_points(
        trip_id,
        [
            (now - timedelta(days=500), 1.0, 1.0, 1.0, None),
            (now - timedelta(days=401), 1.0, 1.0, 1.0, None),
            (now - timedelta(days=399), 1.0, 1.0, 1.0, None),
            (now - timedelta(days=1), 1.0, 1.0, 1.0, None),
        ],
    )

    assert await ledger.housekeeping() is None
    statuses = dict(await probe.fetch("SELECT plate, status::text FROM vehicles"))
    assert statuses == {"IDLE-1": "active", "BUSY-1": "in_service", "ACT-1": "active"}
    assert await probe.fetchval("SELECT count(*) FROM telemetry_points") == 2
    await ledger.housekeeping()  # nothing left to do; still fine
    assert await probe.fetchval("SELECT count(*) FROM telemetry_points") == 2
