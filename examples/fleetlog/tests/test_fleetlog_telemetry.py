"""TelemetryService: trips from start to report."""
from __future__ import annotations

import math
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from fleet.errors import InvalidReading, InvalidTrip, UnknownVehicle
from fleet.services import TripReport
from fleet.services.telemetry import haversine_km

T0 = datetime(2024, 3, 4, 6, 30, tzinfo=timezone.utc)
EARTH_RADIUS_KM = 6371.0088


def equator_samples(start: datetime, lons: list[float], speed: float = 60.0) -> list[dict]:
    return [
        {"ts": start + timedelta(minutes=i), "lat": 0.0, "lon": lon, "speed": speed, "fuel": 80}
        for i, lon in enumerate(lons)
    ]


@pytest.fixture
async def van(add_vehicle):
    return await add_vehicle("B-FL 204")


def test_haversine_matches_arc_length():
    assert haversine_km(0.0, 0.0, 0.0, 1.0) == pytest.approx(EARTH_RADIUS_KM * math.pi / 180)
    assert haversine_km(52.52, 13.405, 52.52, 13.405) == 0.0
    assert haversine_km(52.5200, 13.4050, 48.1351, 11.5820) == pytest.approx(504.4, abs=0.5)


async def test_begin_by_plate(telemetry, van, trips):
    trip_id = await telemetry.begin("b-fl 204", "kim", T0, "depot run")
    rec = await trips.get(trip_id)
    assert (rec["vehicle_id"], rec["driver"], rec["purpose"], rec["started_at"]) == (van["id"], "kim", "depot run", T0)
    naive = await telemetry.begin("B-FL 204", "ali", "2024-03-04T09:15:00")
    assert (await trips.get(naive))["started_at"] == datetime(2024, 3, 4, 9, 15, tzinfo=timezone.utc)
    before = datetime.now(timezone.utc)
    now_trip = await telemetry.begin("B-FL 204", "ali")
    assert (await trips.get(now_trip))["started_at"] >= before - timedelta(seconds=5)


async def test_begin_refuses_unknown_and_retired(telemetry, van, vehicles):
    with pytest.raises(UnknownVehicle):
        await telemetry.begin("ZZ-1", "kim", T0)
    await vehicles.set_status(van["id"], "retired")
    with pytest.raises(InvalidTrip, match="retired"):
        await telemetry.begin("B-FL 204", "kim", T0)


async def test_ingest_sorts_and_normalises(telemetry, van, trips):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    samples = [
        {"ts": "2024-03-04T06:32:00+00:00", "lat": "52.5", "lon": 13.4, "speed": 31, "fuel": 79.0},
        {"ts": datetime(2024, 3, 4, 6, 31), "lat": 52.4, "lon": 13.3},
        {"ts": T0, "lat": 52.3, "lon": 13.2, "speed": 0.0, "fuel": None},
    ]
    assert await telemetry.ingest(trip_id, samples) == 3
    track = (await trips.tracks([trip_id]))[trip_id]
    assert [tuple(r) for r in track] == [
        (T0, 52.3, 13.2, 0.0, None),
        (T0 + timedelta(minutes=1), 52.4, 13.3, 0.0, None),
        (T0 + timedelta(minutes=2), 52.5, 13.4, 31.0, 79),
    ]
    assert await telemetry.ingest(trip_id, []) == 0


async def test_ingest_errors(telemetry, van, trips):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    await telemetry.ingest(trip_id, equator_samples(T0, [0.0]))
    with pytest.raises(InvalidTrip, match="unknown trip"):
        await telemetry.ingest(trip_id + 1, equator_samples(T0, [0.0]))
    with pytest.raises(InvalidReading, match="already stored"):
        await telemetry.ingest(trip_id, equator_samples(T0, [0.0]))
    with pytest.raises(InvalidReading):
        await telemetry.ingest(trip_id, [{"ts": T0 + timedelta(hours=1), "lat": 0, "lon": 0, "speed": -1}])
    with pytest.raises(InvalidReading):
        await telemetry.ingest(trip_id, [{"ts": T0 + timedelta(hours=1), "lat": None, "lon": 0}])
    with pytest.raises(InvalidReading):
        await telemetry.ingest(trip_id, [{"ts": T0 + timedelta(hours=1), "lat": 0, "lon": 0, "fuel": 101}])
    assert (await trips.get(trip_id))["points"] == 1


async def test_track_distance_follows_the_gps_track(telemetry, van):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    lons = [i * 0.001 for i in range(301)]  # 0.3 degrees along the equator, 300 legs
    await telemetry.ingest(trip_id, equator_samples(T0, lons))
    distance = await telemetry.track_distance(trip_id)
    expected = Decimal(repr(EARTH_RADIUS_KM * math.radians(0.3))).quantize(Decimal("0.01"))
    assert distance == expected == Decimal("33.36")
    assert isinstance(distance, Decimal) and distance.as_tuple().exponent == -2
    empty = await telemetry.begin("B-FL 204", "kim", T0 + timedelta(days=1))
    assert await telemetry.track_distance(empty) == Decimal("0.00")


async def test_end_closes_trip_and_moves_odometer(telemetry, van, vehicles, probe):
    await probe.execute("UPDATE vehicles SET odometer_km = 1000 WHERE id = $1", van["id"])
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    await telemetry.ingest(trip_id, equator_samples(T0, [0.0, 0.1, 0.2, 0.3]))
    summary = await telemetry.end(trip_id, T0 + timedelta(minutes=47))
    assert summary == {
        "trip_id": trip_id,
        "distance_km": Decimal("33.36"),
        "duration": timedelta(minutes=47),
        "odometer_km": 1033,
    }
    assert isinstance(summary["distance_km"], Decimal)
    assert (await vehicles.get(van["id"]))["odometer_km"] == 1033
    with pytest.raises(InvalidTrip, match="already closed"):
        await telemetry.end(trip_id, T0 + timedelta(hours=2))
    assert (await vehicles.get(van["id"]))["odometer_km"] == 1033


async def test_end_before_start(telemetry, van, trips, vehicles):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    with pytest.raises(InvalidTrip, match="before it started"):
        await telemetry.end(trip_id, T0 - timedelta(minutes=1))
    assert (await trips.get(trip_id))["ended_at"] is None
    assert (await vehicles.get(van["id"]))["odometer_km"] == 0
    with pytest.raises(InvalidTrip, match="unknown"):
        await telemetry.end(trip_id + 1, T0)


async def test_report(telemetry, van):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    await telemetry.ingest(trip_id, equator_samples(T0, [0.0, 0.01, 0.02]))
    open_report = await telemetry.report(trip_id)
    assert isinstance(open_report, TripReport)
    assert open_report == TripReport(
        trip_id=trip_id, plate="B-FL 204", driver="kim", purpose="", started_at=T0,
        ended_at=None, distance_km=None, points=3,
    )
    assert open_report.duration is None
    await telemetry.end(trip_id, T0 + timedelta(minutes=10))
    closed = await telemetry.report(trip_id)
    assert closed.duration == timedelta(minutes=10)
    assert closed.distance_km == Decimal("2.22")
    with pytest.raises(InvalidTrip):
        await telemetry.report(trip_id + 1)


async def test_timeline(telemetry, van):
    a = await telemetry.begin("B-FL 204", "kim", T0, "depot")
    await telemetry.end(a, T0 + timedelta(minutes=5))
    b = await telemetry.begin("B-FL 204", "ali", T0 + timedelta(hours=1))
    timeline = await telemetry.timeline(van["id"], "2024-03-04T00:00:00")
    assert [type(t) for t in timeline] == [dict, dict]
    assert timeline[0] == {
        "id": a, "driver": "kim", "purpose": "depot", "started_at": T0,
        "ended_at": T0 + timedelta(minutes=5), "distance_km": Decimal("0.00"),
    }
    assert timeline[1]["id"] == b and timeline[1]["ended_at"] is None
    assert await telemetry.timeline(van["id"], T0 + timedelta(hours=2)) == []


async def test_hourly(telemetry, van):
    trip_id = await telemetry.begin("B-FL 204", "kim", datetime(2024, 3, 4, 23, 0, tzinfo=timezone.utc))
    samples = [
        {"ts": datetime(2024, 3, 4, 23, 10, tzinfo=timezone.utc), "lat": 0, "lon": 0, "speed": 40, "fuel": 60},
        {"ts": datetime(2024, 3, 4, 23, 50, tzinfo=timezone.utc), "lat": 0, "lon": 0, "speed": 81, "fuel": 58},
        {"ts": datetime(2024, 3, 5, 0, 10, tzinfo=timezone.utc), "lat": 0, "lon": 0, "speed": 20, "fuel": 57},
    ]
    await telemetry.ingest(trip_id, samples)
    assert await telemetry.hourly(van["id"], date(2024, 3, 4)) == [
        {"hour": "2024-03-04 23:00", "samples": 2, "top_speed": 81.0, "avg_speed": Decimal("60.5"), "min_fuel": 58}
    ]
    assert await telemetry.hourly(van["id"], date(2024, 3, 5)) == [
        {"hour": "2024-03-05 00:00", "samples": 1, "top_speed": 20.0, "avg_speed": Decimal("20.0"), "min_fuel": 57}
    ]


async def test_replay(telemetry, van):
    a = await telemetry.begin("B-FL 204", "kim", T0)
    b = await telemetry.begin("B-FL 204", "kim", T0 + timedelta(hours=1))
    await telemetry.ingest(a, equator_samples(T0, [0.0, 0.5]))
    replay = await telemetry.replay([a, b])
    assert replay == {
        a: [[T0, 0.0, 0.0, 60.0, 80], [T0 + timedelta(minutes=1), 0.0, 0.5, 60.0, 80]],
        b: [],
    }
    assert type(replay[a][0]) is list


async def test_speeding(telemetry, van):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    speeds = [30, 55, 51, 50, 90, 49.5]
    await telemetry.ingest(
        trip_id,
        [{"ts": T0 + timedelta(seconds=i), "lat": 0, "lon": 0, "speed": s} for i, s in enumerate(speeds)],
    )
    assert await telemetry.speeding(trip_id, 50) == [
        (T0 + timedelta(seconds=1), 55.0),
        (T0 + timedelta(seconds=2), 51.0),
        (T0 + timedelta(seconds=4), 90.0),
    ]
    assert await telemetry.speeding(trip_id, 100) == []


async def test_sweep(telemetry, van, trips):
    old = await telemetry.begin("B-FL 204", "kim", T0)
    await telemetry.ingest(old, equator_samples(T0, [0.0, 0.1]))
    fresh = await telemetry.begin("B-FL 204", "kim", T0 + timedelta(hours=10))
    assert await telemetry.sweep(now=T0 + timedelta(hours=13)) == 1
    assert (await trips.get(old))["ended_at"] == T0 + timedelta(minutes=1)
    assert (await trips.get(fresh))["ended_at"] is None
    assert await telemetry.sweep(now="2024-03-04T20:00:00", max_age=timedelta(hours=2)) == 1
    assert await telemetry.sweep() == 0


async def test_trim(telemetry, van, trips):
    trip_id = await telemetry.begin("B-FL 204", "kim", T0)
    await telemetry.ingest(trip_id, equator_samples(T0, [0.0, 0.1, 0.2]))
    assert await telemetry.trim(trip_id, "2024-03-04T06:31:30") == 2
    assert (await trips.get(trip_id))["points"] == 1
