"""TripStore: trips, COPY-loaded telemetry, cursors and prepared statements."""
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


async def test_start_returns_trip_id(trips, van, probe):
    first = await trips.start(van["id"], "kim", T0, "depot run")
    second = await trips.start(van["id"], "ali", T0 + timedelta(hours=2))
    assert (first, second) == (1, 2)
    assert isinstance(first, int)
    row = await probe.fetchrow("SELECT * FROM trips WHERE id = $1", first)
    assert row["started_at"] == T0
    assert row["purpose"] == "depot run"
    assert row["ended_at"] is None and row["distance_km"] is None


async def test_start_for_unknown_vehicle(trips, probe):
    with pytest.raises(UnknownVehicle) as info:
        await trips.start(404, "kim", T0)
    assert info.value.ref == 404
    assert await probe.fetchval("SELECT count(*) FROM trips") == 0


async def test_finish_closes_once(trips, van):
    trip_id = await trips.start(van["id"], "kim", T0)
    rec = await trips.finish(trip_id, T0 + timedelta(minutes=95), Decimal("12.345"))
    trip, vehicle, driver, *_ = rec
    assert (trip, vehicle, driver) == (trip_id, van["id"], "kim")
    assert list(rec.keys()) == ["id", "vehicle_id", "driver", "started_at", "ended_at", "distance_km"]
    assert rec["id"] == trip_id and rec["vehicle_id"] == van["id"]
    assert rec["distance_km"] == Decimal("12.35")  # numeric(8,2)
    assert isinstance(rec["distance_km"], Decimal)
    assert rec["ended_at"] - rec["started_at"] == timedelta(minutes=95)
    assert rec["ended_at"].tzinfo is not None
    assert await trips.finish(trip_id, T0 + timedelta(hours=3), Decimal("1")) is None
    assert await trips.finish(9999, T0, Decimal("1")) is None


async def test_finish_before_start_is_refused(trips, van):
    trip_id = await trips.start(van["id"], "kim", T0)
    with pytest.raises(asyncpg.CheckViolationError):
        await trips.finish(trip_id, T0 - timedelta(seconds=1), Decimal("0"))
    assert (await trips.get(trip_id))["ended_at"] is None


async def test_get_joins_plate_and_counts_points(trips, van, make_track):
    trip_id = await trips.start(van["id"], "kim", T0)
    await trips.add_points(trip_id, make_track(T0, (52.5, 13.4, 0), (52.51, 13.41, 30), (52.52, 13.42, 45)))
    rec = await trips.get(trip_id)
    assert rec["plate"] == "B-FL 204"
    assert rec["driver"] == "kim"
    assert rec["purpose"] is None
    assert rec["points"] == 3 and isinstance(rec["points"], int)
    assert rec["started_at"] == T0
    assert await trips.get(trip_id + 1) is None


async def test_since_filters_by_vehicle_and_time(trips, van, add_vehicle):
    other = await add_vehicle("HH-1")
    early = await trips.start(van["id"], "kim", T0 - timedelta(days=2))
    late = await trips.start(van["id"], "ali", T0 + timedelta(hours=5))
    mid = await trips.start(van["id"], "kim", T0)
    await trips.start(other["id"], "kim", T0 + timedelta(hours=1))
    rows = await trips.since(van["id"], T0)
    assert [r["id"] for r in rows] == [mid, late]
    assert list(rows[0].keys()) == ["id", "driver", "purpose", "started_at", "ended_at", "distance_km"]
    assert [r["id"] for r in await trips.since(van["id"], T0 - timedelta(days=7))] == [early, mid, late]
    assert await trips.since(van["id"], T0 + timedelta(days=1)) == []


async def test_add_points_copies_rows(trips, van, probe):
    trip_id = await trips.start(van["id"], "kim", T0)
    points = [
        (T0 + timedelta(seconds=10 * i), 52.5 + i / 1000, 13.4 - i / 1000, 40.5 + i, i % 100 if i % 2 else None)
        for i in range(500)
    ]
    assert await trips.add_points(trip_id, points) == 500
    assert await trips.add_points(trip_id, []) == 0
    row = await probe.fetchrow(
        "SELECT recorded_at, lat, lon, speed_kmh, fuel_pct FROM telemetry_points "
        "WHERE trip_id = $1 ORDER BY recorded_at LIMIT 1 OFFSET 1",
        trip_id,
    )
    assert tuple(row) == points[1][:5] == (T0 + timedelta(seconds=10), 52.5 + 1 / 1000, 13.4 - 1 / 1000, 41.5, 1)
    assert await probe.fetchval("SELECT count(*) FROM telemetry_points WHERE fuel_pct IS NULL") == 250


async def test_add_points_errors(trips, van):
    trip_id = await trips.start(van["id"], "kim", T0)
    await trips.add_points(trip_id, [(T0, 1.0, 2.0, 3.0, 50)])
    with pytest.raises(asyncpg.UniqueViolationError):
        await trips.add_points(trip_id, [(T0 + timedelta(seconds=1), 1.0, 2.0, 3.0, 50), (T0, 1.0, 2.0, 3.0, 50)])
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await trips.add_points(trip_id + 1, [(T0, 1.0, 2.0, 3.0, 50)])
    with pytest.raises(asyncpg.CheckViolationError):
        await trips.add_points(trip_id, [(T0 + timedelta(hours=1), 1.0, 2.0, -3.0, 50)])
    assert (await trips.get(trip_id))["points"] == 1  # failed batches leave nothing behind


async def test_iter_track_streams_in_time_order(trips, van, pool):
    trip_id = await trips.start(van["id"], "kim", T0)
    points = [(T0 + timedelta(seconds=i), 50.0 + i / 10_000, 8.0, float(i % 90), None) for i in range(250)]
    await trips.add_points(trip_id, list(reversed(points)))
    seen = []
    async for rec in trips.iter_track(trip_id, prefetch=40):
        assert len(rec) == 5 and rec[0] == rec["recorded_at"]
        seen.append(rec)
    assert len(seen) == 250
    assert list(seen[0].keys()) == ["recorded_at", "lat", "lon", "speed_kmh", "fuel_pct"]
    assert [r["recorded_at"] for r in seen] == [p[0] for p in points]
    assert seen[-1]["speed_kmh"] == 249 % 90
    assert [r async for r in trips.iter_track(trip_id + 1)] == []
    # connections went back to the pool: more streams than the pool is big
    for _ in range(12):
        assert len([r async for r in trips.iter_track(trip_id, prefetch=100)]) == 250


async def test_tracks_reuses_one_prepared_statement(trips, van):
    a = await trips.start(van["id"], "kim", T0)
    b = await trips.start(van["id"], "ali", T0 + timedelta(hours=1))
    await trips.add_points(a, [(T0 + timedelta(minutes=2), 1.0, 1.0, 10.0, 90), (T0, 0.0, 0.0, 0.0, 91)])
    await trips.add_points(b, [(T0 + timedelta(hours=1), 5.0, 5.0, 50.0, None)])
    out = await trips.tracks([b, a, 999])
    assert list(out) == [b, a, 999]
    assert [tuple(r) for r in out[a]] == [(T0, 0.0, 0.0, 0.0, 91), (T0 + timedelta(minutes=2), 1.0, 1.0, 10.0, 90)]
    assert [r["fuel_pct"] for r in out[b]] == [None]
    assert out[999] == []
    assert await trips.tracks([]) == {}


async def test_hourly_profile_uses_utc_hours(trips, van, add_vehicle):
    day = datetime(2024, 3, 4, tzinfo=timezone.utc)
    trip_id = await trips.start(van["id"], "kim", day - timedelta(hours=1))
    await trips.add_points(
        trip_id,
        [
            (day - timedelta(minutes=10), 1.0, 1.0, 99.0, 10),  # previous UTC day
            (day + timedelta(minutes=5), 1.0, 1.0, 50.0, 70),
            (day + timedelta(minutes=35), 1.0, 1.0, 61.0, 65),
            (day + timedelta(hours=13, minutes=1), 1.0, 1.0, 20.5, None),
            (day + timedelta(hours=24), 1.0, 1.0, 10.0, 5),  # next day
        ],
    )
    other = await add_vehicle("HH-1")
    other_trip = await trips.start(other["id"], "ali", day)
    await trips.add_points(other_trip, [(day + timedelta(minutes=1), 1.0, 1.0, 120.0, 1)])

    rows = await trips.hourly_profile(van["id"], day)
    assert [r["hour"] for r in rows] == ["2024-03-04 00:00", "2024-03-04 13:00"]
    first, second = rows
    assert list(first.keys()) == ["hour", "samples", "top_speed", "avg_speed", "min_fuel"]
    assert (first["samples"], first["top_speed"], first["avg_speed"], first["min_fuel"]) == (2, 61.0, Decimal("55.5"), 65)
    assert isinstance(first["avg_speed"], Decimal) and isinstance(first["top_speed"], float)
    assert (second["samples"], second["min_fuel"]) == (1, None)
    assert await trips.hourly_profile(van["id"], day + timedelta(days=10)) == []


async def test_close_abandoned(trips, van, probe):
    with_points = await trips.start(van["id"], "kim", T0)
    await trips.add_points(with_points, [(T0 + timedelta(minutes=40), 1.0, 1.0, 0.0, 50), (T0 + timedelta(minutes=5), 1.0, 1.0, 0.0, 50)])
    without_points = await trips.start(van["id"], "ali", T0 + timedelta(hours=1))
    closed = await trips.start(van["id"], "kim", T0 - timedelta(hours=5))
    await trips.finish(closed, T0 - timedelta(hours=4), Decimal("3"))
    recent = await trips.start(van["id"], "kim", T0 + timedelta(hours=20))

    assert await trips.close_abandoned(T0 + timedelta(hours=12)) == 2
    ends = dict(await probe.fetch("SELECT id, ended_at FROM trips"))
    assert ends[with_points] == T0 + timedelta(minutes=40)
    assert ends[without_points] == T0 + timedelta(hours=1)
    assert ends[closed] == T0 - timedelta(hours=4)
    assert ends[recent] is None
    assert await trips.close_abandoned(T0 + timedelta(hours=12)) == 0


async def test_discard_points(trips, van):
    trip_id = await trips.start(van["id"], "kim", T0)
    await trips.add_points(trip_id, [(T0 + timedelta(minutes=i), 1.0, 1.0, 1.0, None) for i in range(10)])
    assert await trips.discard_points(trip_id, T0 + timedelta(minutes=4)) == 4
    assert await trips.discard_points(trip_id, T0 + timedelta(minutes=4)) == 0
    assert (await trips.get(trip_id))["points"] == 6
