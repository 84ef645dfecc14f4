"""FleetRegistry: the vehicle use cases, as the CLI and ops console see them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fleet.errors import InvalidReading, PlateTaken, UnknownVehicle
from fleet.services import VehicleCard

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)


async def test_onboard_returns_a_card(registry, probe):
    card = await registry.onboard(
        "  b-fl 204 ",
        "WDB9066331S000204",
        "Sprinter 316",
        tags=["North", "cold-chain", "north"],
        attributes={"payload_kg": 1200},
    )
    assert isinstance(card, VehicleCard)
    assert card.id == 1
    assert card.plate == "B-FL 204"
    assert card.vin == "WDB9066331S000204"
    assert card.model == "Sprinter 316"
    assert card.status == "active"
    assert card.odometer_km == 0
    assert card.tags == ("cold-chain", "north")
    assert card.attributes == {"payload_kg": 1200}
    assert card.notes == ""
    assert card.registered_at.tzinfo is not None
    assert await probe.fetchval("SELECT tags FROM vehicles") == ["cold-chain", "north"]


async def test_onboard_rejects_taken_and_empty_plates(registry, probe):
    await registry.onboard("B-FL 204", "V1", "eVito", notes="pool car")
    with pytest.raises(PlateTaken) as info:
        await registry.onboard("b-fl 204", "V2", "eVito")
    assert info.value.plate == "B-FL 204"
    assert "already registered" in str(info.value)
    with pytest.raises(ValueError):
        await registry.onboard("   ", "V3", "eVito")
    assert await probe.fetchval("SELECT count(*) FROM vehicles") == 1


async def test_import_fleet(registry):
    await registry.onboard("A-1", "V1", "eVito", tags=["north"])
    outcome = await registry.import_fleet(
        [
            {"plate": "a-1", "vin": "V1b", "model": "eVito Tourer", "tags": ["SOUTH"], "attributes": {"x": 1}},
            {"plate": "b-2", "vin": "V2", "model": "Crafter"},
            {"plate": "c-3", "vin": "V3", "model": "Transit", "notes": "spare"},
        ]
    )
    assert outcome == {"created": ["B-2", "C-3"], "updated": ["A-1"]}
    card = await registry.lookup("A-1")
    assert (card.vin, card.model, card.tags, card.attributes) == ("V1b", "eVito Tourer", ("north", "south"), {"x": 1})
    assert (await registry.lookup("c-3")).notes == "spare"
    assert await registry.import_fleet([]) == {"created": [], "updated": []}


async def test_card_and_lookup(registry):
    made = await registry.onboard("A-1", "V1", "eVito", notes="keys at desk")
    assert await registry.card(made.id) == made
    assert await registry.lookup(" a-1 ") == made
    assert await registry.lookup("Z-9") is None
    with pytest.raises(UnknownVehicle):
        await registry.card(made.id + 1)


async def test_describe_lists_filled_fields(registry):
    made = await registry.onboard("A-1", "V1", "eVito", tags=["north", "ev"], attributes={"kw": 85})
    lines = await registry.describe(made.id)
    assert lines[:7] == [
        f"id: {made.id}",
        "plate: A-1",
        "vin: V1",
        "model: eVito",
        "status: active",
        "odometer_km: 0",
        "tags: ev|north",
    ]
    assert lines[7] == "attributes: {'kw': 85}"
    assert lines[8] == f"registered_at: {made.registered_at.isoformat()}"
    assert lines[9].startswith("updated_at: ")
    assert len(lines) == 10  # notes is empty and left out
    with pytest.raises(UnknownVehicle):
        await registry.describe(999)


async def test_plate(registry):
    made = await registry.onboard("A-1", "V1", "eVito")
    assert await registry.plate(made.id) == "A-1"
    with pytest.raises(UnknownVehicle):
        await registry.plate(made.id + 1)


async def test_roster_gives_plain_tuples(registry):
    b = await registry.onboard("B-2", "V", "m")
    a = await registry.onboard("A-1", "V", "m")
    r = await registry.onboard("R-9", "V", "m")
    await registry.set_status(r.id, "retired")
    roster = await registry.roster()
    assert roster == [(a.id, "A-1"), (b.id, "B-2")]
    assert all(type(item) is tuple for item in roster)
    assert await registry.roster("retired") == [(r.id, "R-9")]
    assert await registry.roster("in_service") == []
    with pytest.raises(ValueError):
        await registry.roster("scrapped")


async def test_export_tagged(registry, probe):
    a = await registry.onboard("A-1", "V", "eVito", tags=["north", "ev"])
    b = await registry.onboard("B-2", "V", "Crafter", tags=["south"])
    await registry.onboard("C-3", "V", "Transit")
    await probe.execute("UPDATE vehicles SET odometer_km = 120 WHERE id = $1", b.id)
    table = await registry.export_tagged(["north", "south"])
    assert table == [
        ["id", "plate", "model", "status", "tags", "odometer_km"],
        [str(b.id), "B-2", "Crafter", "active", "south", "120"],
        [str(a.id), "A-1", "eVito", "active", "ev|north", "0"],
    ]
    assert all(isinstance(cell, str) for row in table for cell in row)
    assert await registry.export_tagged(["west"]) == []


async def test_search_tags_gives_dicts(registry):
    a = await registry.onboard("A-1", "V", "eVito", tags=["north"])
    found = await registry.search_tags(["NORTH"])
    assert found == [
        {"id": a.id, "plate": "A-1", "model": "eVito", "status": "active", "tags": ["north"], "odometer_km": 0}
    ]
    assert type(found[0]) is dict


async def test_resolve(registry):
    a = await registry.onboard("A-1", "V", "m")
    assert await registry.resolve(["a-1", "nope"]) == {"a-1": a.id, "nope": None}


async def test_set_status(registry):
    a = await registry.onboard("A-1", "V", "m")
    await registry.set_status(a.id, "in_service")
    assert (await registry.card(a.id)).status == "in_service"
    with pytest.raises(ValueError):
        await registry.set_status(a.id, "scrapped")
    with pytest.raises(UnknownVehicle):
        await registry.set_status(a.id + 1, "active")


async def test_correct_odometer(registry):
    a = await registry.onboard("A-1", "V", "m")
    assert await registry.correct_odometer(a.id, 250) == 250
    assert await registry.correct_odometer(a.id, -50) == 200
    with pytest.raises(InvalidReading, match="-201"):
        await registry.correct_odometer(a.id, -201)
    with pytest.raises(InvalidReading, match="None"):
        await registry.correct_odometer(a.id, None)
    with pytest.raises(UnknownVehicle):
        await registry.correct_odometer(a.id + 1, 5)
    assert (await registry.card(a.id)).odometer_km == 200


async def test_apply_reading(registry):
    a = await registry.onboard("A-1", "V", "m", attributes={"depot": "kiel"})
    reading = await registry.apply_reading(a.id, 1500)
    assert reading == {"odometer_km": 1500, "attributes": {"depot": "kiel", "last_reading_km": 1500}}
    assert type(reading) is dict
    assert (await registry.apply_reading(a.id, 900))["odometer_km"] == 1500
    with pytest.raises(UnknownVehicle):
        await registry.apply_reading(a.id + 1, 1)


async def test_annotate(registry):
    a = await registry.onboard("A-1", "V", "m", attributes={"depot": "kiel"})
    assert await registry.annotate(a.id, depot="lübeck", charger={"kw": 11}) == {
        "depot": "lübeck",
        "charger": {"kw": 11},
    }
    with pytest.raises(UnknownVehicle):
        await registry.annotate(a.id + 1, x=1)


async def test_retag(registry):
    a = await registry.onboard("A-1", "V", "m", tags=["x"])
    b = await registry.onboard("B-2", "V", "m")
    assert await registry.retag({a.id: ["South"], b.id: ["north", "ev"]}) == 2
    assert (await registry.card(a.id)).tags == ("south",)
    assert (await registry.card(b.id)).tags == ("ev", "north")


async def test_decommission(registry, ledger, probe):
    fresh = await registry.onboard("A-1", "V", "m")
    serviced = await registry.onboard("B-2", "V", "m")
    await ledger.log(serviced.id, "oil", T0, 100, Decimal("80"))
    assert await registry.decommission(fresh.id) == "deleted"
    assert await registry.lookup("A-1") is None
    assert await registry.decommission(serviced.id) == "retired"
    assert (await registry.card(serviced.id)).status == "retired"
    assert await probe.fetchval("SELECT count(*) FROM maintenance_events") == 1
    with pytest.raises(UnknownVehicle):
        await registry.decommission(fresh.id)


async def test_merge_duplicate(registry, trips):
    keep = await registry.onboard("KEEP-1", "V", "m")
    dup = await registry.onboard("DUP-1", "V", "m", tags=["north"])
    await trips.start(dup.id, "kim", T0)
    await trips.start(dup.id, "kim", T0 + timedelta(hours=1))
    assert await registry.merge_duplicate("dup-1", "keep-1") == {"trips": 2, "maintenance_events": 0}
    assert await registry.lookup("DUP-1") is None
    assert (await registry.card(keep.id)).tags == ("north",)
    with pytest.raises(UnknownVehicle) as info:
        await registry.merge_duplicate("DUP-1", "KEEP-1")
    assert info.value.ref == "DUP-1"
