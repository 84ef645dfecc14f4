"""WorkshopService: recording work, visits, due lists and the CSV import."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fleet.errors import DuplicateEvent, InvalidReading, UnknownVehicle
from fleet.services import VisitResult

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)

CSV_HEADER = "plate,kind,performed_at,odometer_km,cost,parts,details,notes\n"


@pytest.fixture
async def van(add_vehicle):
    return await add_vehicle("B-FL 204")


async def test_record(workshop, van):
    event = await workshop.record(
        van["id"], " Brakes ", T0, 48_000, "612.4", parts=["pads"], details={"hours": 2}, notes=None
    )
    assert type(event) is dict
    assert event == {
        "id": 1,
        "vehicle_id": van["id"],
        "kind": "brakes",
        "performed_at": T0,
        "odometer_km": 48_000,
        "cost": Decimal("612.40"),
        "parts": ["pads"],
        "details": {"hours": 2},
        "notes": None,
    }
    assert (await workshop.record(van["id"], "wash", T0, 1, 12))["cost"] == Decimal("12.00")


async def test_record_errors(workshop, van, probe):
    await workshop.record(van["id"], "oil", T0, 100, Decimal("80"))
    with pytest.raises(DuplicateEvent) as info:
        await workshop.record(van["id"], "OIL", T0, 100, Decimal("80"))
    assert (info.value.vehicle_id, info.value.kind) == (van["id"], "OIL")
    with pytest.raises(UnknownVehicle) as unknown:
        await workshop.record(999, "oil", T0, 100, Decimal("80"))
    assert unknown.value.ref == 999
    with pytest.raises(InvalidReading, match="check constraint"):
        await workshop.record(van["id"], "oil", T0 + timedelta(days=1), 100, "-0.01")
    with pytest.raises(InvalidReading, match="not an amount"):
        await workshop.record(van["id"], "oil", T0 + timedelta(days=1), 100, "12,50")
    with pytest.raises(InvalidReading):
        await workshop.record(van["id"], "oil", T0 + timedelta(days=1), None, "1")
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 1


async def test_history(workshop, van):
    await workshop.record(van["id"], "oil", T0, 100, 80, notes="synthetic")
    await workshop.record(van["id"], "wash", T0 + timedelta(days=1), 150, 12)
    history = await workshop.history(van["id"])
    assert [(h["kind"], h["notes"]) for h in history] == [("wash", ""), ("oil", "synthetic")]
    assert all(type(h) is dict for h in history)
    assert set(history[0]) == {"id", "kind", "performed_at", "odometer_km", "cost", "parts", "details", "notes"}
    assert await workshop.history(999) == []


async def test_last(workshop, van):
    assert await workshop.last(van["id"], "oil") is None
    await workshop.record(van["id"], "oil", T0, 100, 80)
    newest = await workshop.record(van["id"], "oil", T0 + timedelta(days=60), 9000, "85.5")
    last = await workshop.last(van["id"], "oil")
    assert type(last) is dict
    assert last["id"] == newest["id"] and last["cost"] == Decimal("85.50")
    assert "vehicle_id" not in last


async def test_spend(workshop, van):
    await workshop.record(van["id"], "oil", T0, 100, "80.10")
    await workshop.record(van["id"], "wash", T0 + timedelta(days=1), 100, "9.90")
    assert await workshop.spend(van["id"], T0) == Decimal("90.00")
    assert await workshop.spend(van["id"], T0 + timedelta(hours=1)) == Decimal("9.90")
    assert await workshop.spend(999, T0) == Decimal("0.00")


async def test_visit(workshop, van, vehicles):
    result = await workshop.visit(
        van["id"],
        T0,
        31_000,
        [
            {"kind": "oil", "cost": "89.90", "parts": ["filter"]},
            {"kind": "wipers", "cost": -3},
            {"kind": None, "cost": 10},
            {"kind": "inspection", "cost": 120, "details": {"result": "passed"}},
        ],
    )
    assert isinstance(result, VisitResult)
    assert len(result.booked) == 2
    assert result.rejected == ["wipers", "None"]
    assert (await vehicles.get(van["id"]))["status"] == "in_service"
    inspection = await workshop.last(van["id"], "inspection")
    assert inspection["details"] == {"result": "passed"} and inspection["cost"] == Decimal("120.00")
    assert inspection["id"] in result.booked
    with pytest.raises(InvalidReading):
        await workshop.visit(van["id"], T0, 31_000, [{"kind": "oil", "cost": "n/a"}])
    with pytest.raises(UnknownVehicle):
        await workshop.visit(999, T0, 1, [])


async def test_due(workshop, van, probe):
    await probe.execute("UPDATE vehicles SET odometer_km = 60000 WHERE id = $1", van["id"])
    await workshop.record(van["id"], "oil", T0, 42_000, 80)       # 18 000 km ago
    await workshop.record(van["id"], "tyres", T0, 30_000, 400)    # 30 000 km ago
    await workshop.record(van["id"], "brakes", T0, 55_000, 600)   # 5 000 km ago
    schedule = {"oil": 15_000, "tyres": 40_000, "brakes": 50_000, "timing-belt": 120_000, "filter": 15_000}
    assert await workshop.due(van["id"], schedule) == ["filter", "timing-belt", "oil"]
    assert await workshop.due(van["id"], {"oil": 18_000}) == ["oil"]
    assert await workshop.due(van["id"], {"oil": 18_001}) == []
    with pytest.raises(UnknownVehicle):
        await workshop.due(999, {"oil": 1})


async def test_import_csv(workshop, add_vehicle, probe):
    a = await add_vehicle("B-FL 204")
    b = await add_vehicle("HH-1")
    text = CSV_HEADER + (
        'B-FL 204,Oil,2024-01-10T08:00:00+01:00,41000,80.50,filter|5w30,"{""shop"": ""Nord""}",\n'
        "hh-1,tyres,2024-02-01T12:00:00+00:00,12000,420,,,winter set\n"
        "HH-1,wash,2024-02-02T12:00:00+00:00,12050,9.9,,,\n"
    )
    assert await workshop.import_csv(text) == 3
    oil = await workshop.last(a["id"], "oil")
    assert oil["performed_at"] == datetime(2024, 1, 10, 7, 0, tzinfo=timezone.utc)
    assert oil["parts"] == ["filter", "5w30"]
    assert oil["details"] == {"shop": "Nord"}
    assert oil["cost"] == Decimal("80.50") and oil["notes"] is None
    tyres = await workshop.last(b["id"], "tyres")
    assert (tyres["notes"], tyres["parts"], tyres["details"]) == ("winter set", [], {})
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 3


async def test_import_csv_is_all_or_nothing(workshop, add_vehicle, probe):
    a = await add_vehicle("B-FL 204")
    await workshop.record(a["id"], "oil", datetime(2024, 1, 10, 7, 0, tzinfo=timezone.utc), 41_000, 80)
    unknown = CSV_HEADER + (
        "B-FL 204,tyres,2024-02-01T12:00:00+00:00,12000,420,,,\n"
        "ZZ-9,oil,2024-02-01T12:00:00+00:00,12000,80,,,\n"
    )
    with pytest.raises(UnknownVehicle) as info:
        await workshop.import_csv(unknown)
    assert info.value.ref == "ZZ-9"
    duplicate = CSV_HEADER + (
        "B-FL 204,tyres,2024-02-01T12:00:00+00:00,12000,420,,,\n"
        "B-FL 204,oil,2024-01-10T08:00:00+01:00,41000,80,,,\n"
    )
    with pytest.raises(InvalidReading, match="already on record"):
        await workshop.import_csv(duplicate)
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 1
    assert await workshop.import_csv(CSV_HEADER) == 0


async def test_void(workshop, van):
    event = await workshop.record(van["id"], "oil", T0, 100, 80)
    assert await workshop.void(event["id"]) is True
    assert await workshop.void(event["id"]) is False


async def test_nightly(workshop, van, vehicles):
    await vehicles.set_status(van["id"], "in_service")
    await workshop.record(van["id"], "oil", datetime.now(timezone.utc) - timedelta(days=30), 100, 80)
    await workshop.nightly()
    assert (await vehicles.get(van["id"]))["status"] == "active"
