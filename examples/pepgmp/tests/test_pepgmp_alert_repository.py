"""PostgreSQLAlertRepository against a real database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from src.domain.alert import Alert
from src.domain.exceptions import CameraNotFoundError

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=timezone.utc)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def cams(make_camera):
    return [await make_camera(), await make_camera()]


@pytest.fixture
def add_alert(alert_repo, cams):
    async def factory(camera=0, minutes=0, severity="medium", alert_type="intrusion", **extra):
        return await alert_repo.create(
            Alert(
                camera_id=cams[camera].id,
                alert_type=alert_type,
                message=extra.pop("message", f"{alert_type} at +{minutes}m"),
                severity=severity,
                created_at=at(minutes),
                **extra,
            )
        )

    return factory


async def test_create_round_trips_metadata(alert_repo, cams, probe):
    metadata = {
        "zone": "dock",
        "score": 0.93,
        "bbox": [12, 40, 220, 380],
        "track": {"id": 77, "frames": 14},
        "night": False,
        "operator_note": None,
    }
    before = datetime.now(timezone.utc)
    alert = await alert_repo.create(
        Alert(camera_id=cams[0].id, alert_type="intrusion", message="person in restricted area",
              severity="high", metadata=metadata)
    )

    assert isinstance(alert, Alert)
    assert isinstance(alert.id, int)
    assert alert.camera_id == cams[0].id
    assert alert.severity == "high"
    assert alert.message == "person in restricted area"
    assert alert.metadata == metadata
    assert isinstance(alert.metadata, dict)
    assert alert.acknowledged is False
    assert alert.acknowledged_by is None and alert.acknowledged_at is None
    assert alert.created_at.tzinfo is not None
    assert before - timedelta(seconds=5) <= alert.created_at <= datetime.now(timezone.utc) + timedelta(seconds=5)

    row = await probe.fetchrow(
        "SELECT jsonb_typeof(metadata) AS kind, metadata ->> 'zone' AS zone, "
        "(metadata -> 'track' ->> 'id')::int AS track FROM alerts WHERE id = $1",
        alert.id,
    )
    assert (row["kind"], row["zone"], row["track"]) == ("object", "dock", 77)


async def test_create_keeps_explicit_timestamp(alert_repo, cams):
    alert = await alert_repo.create(
        Alert(camera_id=cams[0].id, alert_type="tamper", message="lens covered", created_at=at(5))
    )
    assert alert.created_at == at(5)
    assert alert.metadata == {}
    assert alert.severity == "medium"


async def test_create_for_unknown_camera_raises(alert_repo, probe):
    with pytest.raises(CameraNotFoundError) as excinfo:
        await alert_repo.create(Alert(camera_id=4242, alert_type="x", message="y"))
    assert excinfo.value.camera_id == 4242
    assert await probe.fetchval("SELECT COUNT(*) FROM alerts") == 0


async def test_create_many(alert_repo, cams, probe):
    alerts = [
        Alert(camera_id=cams[0].id, alert_type="motion", message=f"m{i}", metadata={"i": i}, created_at=at(i))
        for i in range(5)
    ]
    inserted = await alert_repo.create_many(alerts)
    assert inserted == 5
    rows = await probe.fetch("SELECT message, (metadata ->> 'i')::int AS i FROM alerts ORDER BY created_at")
    assert [(r["message"], r["i"]) for r in rows] == [(f"m{i}", i) for i in range(5)]
    assert await alert_repo.create_many([]) == 0


async def test_create_many_is_all_or_nothing(alert_repo, cams, probe):
    alerts = [
        Alert(camera_id=cams[0].id, alert_type="motion", message="fine"),
        Alert(camera_id=cams[0].id, alert_type="motion", message="bad", severity="catastrophic"),
    ]
    with pytest.raises(Exception):
        await alert_repo.create_many(alerts)
    assert await probe.fetchval("SELECT COUNT(*) FROM alerts") == 0


async def test_get_by_id(alert_repo, add_alert):
    created = await add_alert(metadata={"k": [1, 2]})
    fetched = await alert_repo.get_by_id(created.id)
    assert fetched == created
    assert fetched.metadata == {"k": [1, 2]}
    assert await alert_repo.get_by_id(created.id + 1) is None


async def test_list_alerts_without_filters_is_newest_first(alert_repo, add_alert):
    a = await add_alert(minutes=0)
    b = await add_alert(minutes=10)
    c = await add_alert(minutes=5)
    items, total = await alert_repo.list_alerts()
    assert total == 3 and isinstance(total, int)
    assert [x.id for x in items] == [b.id, c.id, a.id]
    assert all(isinstance(x, Alert) for x in items)


async def test_list_alerts_pagination(alert_repo, add_alert):
    created = [await add_alert(minutes=i) for i in range(7)]
    newest_first = [a.id for a in reversed(created)]
    page1, total1 = await alert_repo.list_alerts(limit=3, offset=0)
    page2, total2 = await alert_repo.list_alerts(limit=3, offset=3)
    page3, total3 = await alert_repo.list_alerts(limit=3, offset=6)
    assert total1 == total2 == total3 == 7
    assert [a.id for a in page1 + page2 + page3] == newest_first
    assert len(page3) == 1
    assert await alert_repo.list_alerts(limit=3, offset=10) == ([], 7)


async def test_list_alerts_filters(alert_repo, add_alert, cams):
    a = await add_alert(camera=0, minutes=0, severity="low", alert_type="motion")
    b = await add_alert(camera=0, minutes=10, severity="high", alert_type="intrusion")
    c = await add_alert(camera=1, minutes=20, severity="critical", alert_type="intrusion")
    d = await add_alert(camera=1, minutes=30, severity="high", alert_type="tamper")
    await alert_repo.acknowledge(b.id, "op")

    async def ids(**filters):
        items, total = await alert_repo.list_alerts(**filters)
        assert total == len(items)
        return [x.id for x in items]

    assert await ids(camera_id=cams[0].id) == [b.id, a.id]
    assert await ids(severity="high") == [d.id, b.id]
    assert await ids(severity=["high", "critical"]) == [d.id, c.id, b.id]
    assert await ids(alert_type="intrusion") == [c.id, b.id]
    assert await ids(acknowledged=True) == [b.id]
    assert await ids(acknowledged=False) == [d.id, c.id, a.id]
    # since is inclusive, until is exclusive
    assert await ids(since=at(10), until=at(30)) == [c.id, b.id]
    assert await ids(since=at(31)) == []
    assert await ids(camera_id=cams[1].id, severity="high", acknowledged=False, since=at(0)) == [d.id]


async def test_list_alerts_total_ignores_pagination(alert_repo, add_alert, cams):
    for i in range(4):
        await add_alert(camera=0, minutes=i, severity="high")
    await add_alert(camera=1, minutes=9, severity="high")
    items, total = await alert_repo.list_alerts(camera_id=cams[0].id, severity="high", limit=2, offset=1)
    assert total == 4
    assert [x.created_at for x in items] == [at(2), at(1)]


async def test_list_unacknowledged(alert_repo, add_alert):
    a = await add_alert(minutes=0)
    b = await add_alert(minutes=1)
    c = await add_alert(minutes=2)
    await alert_repo.acknowledge(b.id, "op")
    assert [x.id for x in await alert_repo.list_unacknowledged()] == [c.id, a.id]
    assert [x.id for x in await alert_repo.list_unacknowledged(limit=1)] == [c.id]


async def test_latest_for_camera(alert_repo, add_alert, cams):
    assert await alert_repo.latest_for_camera(cams[0].id) is None
    await add_alert(camera=0, minutes=1)
    newest = await add_alert(camera=0, minutes=7, metadata={"n": 1})
    await add_alert(camera=1, minutes=9)
    latest = await alert_repo.latest_for_camera(cams[0].id)
    assert latest.id == newest.id
    assert latest.metadata == {"n": 1}


async def test_acknowledge(alert_repo, add_alert, probe):
    alert = await add_alert(metadata={"zone": "a"})
    acked = await alert_repo.acknowledge(alert.id, "alice")
    assert acked.id == alert.id
    assert acked.acknowledged is True
    assert acked.acknowledged_by == "alice"
    assert isinstance(acked.acknowledged_at, datetime) and acked.acknowledged_at.tzinfo is not None
    assert acked.metadata == {"zone": "a"}

    # a second acknowledgement does not overwrite the first
    assert await alert_repo.acknowledge(alert.id, "bob") is None
    assert await probe.fetchval("SELECT acknowledged_by FROM alerts WHERE id = $1", alert.id) == "alice"
    assert await alert_repo.acknowledge(alert.id + 100, "bob") is None


async def test_acknowledge_many_counts_newly_acknowledged(alert_repo, add_alert, probe):
    a = await add_alert()
    b = await add_alert()
    c = await add_alert()
    d = await add_alert()
    await alert_repo.acknowledge(a.id, "alice")
    count = await alert_repo.acknowledge_many([a.id, b.id, c.id, 99999], "bob")
    assert count == 2 and isinstance(count, int)
    rows = await probe.fetch("SELECT id, acknowledged, acknowledged_by FROM alerts ORDER BY id")
    assert [(r["id"], r["acknowledged"], r["acknowledged_by"]) for r in rows] == [
        (a.id, True, "alice"),
        (b.id, True, "bob"),
        (c.id, True, "bob"),
        (d.id, False, None),
    ]
    assert await alert_repo.acknowledge_many([], "bob") == 0


async def test_delete_older_than(alert_repo, add_alert, probe):
    old_acked = await add_alert(minutes=0)
    old_open = await add_alert(minutes=1)
    new_acked = await add_alert(minutes=60)
    await alert_repo.acknowledge_many([old_acked.id, new_acked.id], "ops")

    deleted = await alert_repo.delete_older_than(at(30))
    assert deleted == 1 and isinstance(deleted, int)
    remaining = [r["id"] for r in await probe.fetch("SELECT id FROM alerts ORDER BY id")]
    assert remaining == [old_open.id, new_acked.id]

    assert await alert_repo.delete_older_than(at(30), acknowledged_only=False) == 1
    assert [r["id"] for r in await probe.fetch("SELECT id FROM alerts")] == [new_acked.id]
    assert await alert_repo.delete_older_than(at(30), acknowledged_only=False) == 0


async def test_count_by_severity(alert_repo, add_alert):
    for minutes, severity in [(0, "low"), (1, "high"), (2, "high"), (50, "critical"), (60, "high")]:
        await add_alert(minutes=minutes, severity=severity)
    counts = await alert_repo.count_by_severity()
    assert counts == {"low": 1, "high": 3, "critical": 1}
    assert all(isinstance(v, int) for v in counts.values())
    assert await alert_repo.count_by_severity(since=at(30)) == {"critical": 1, "high": 1}
    assert await alert_repo.count_by_severity(since=at(120)) == {}


async def test_hourly_counts(alert_repo, add_alert, cams):
    await add_alert(camera=0, minutes=5, severity="low")
    await add_alert(camera=0, minutes=40, severity="critical")
    await add_alert(camera=0, minutes=65, severity="high")
    await add_alert(camera=0, minutes=185, severity="medium")
    await add_alert(camera=1, minutes=10, severity="critical")  # other camera
    await add_alert(camera=0, minutes=-30)                      # before the window

    rows = await alert_repo.hourly_counts(cams[0].id, T0, T0 + timedelta(hours=4))
    assert rows == [
        {"bucket": T0, "label": "08:00", "total": 2, "severe": 1},
        {"bucket": T0 + timedelta(hours=1), "label": "09:00", "total": 1, "severe": 1},
        {"bucket": T0 + timedelta(hours=3), "label": "11:00", "total": 1, "severe": 0},
    ]
    assert all(r["bucket"].tzinfo is not None for r in rows)
    assert all(isinstance(r["total"], int) and isinstance(r["label"], str) for r in rows)
    assert await alert_repo.hourly_counts(cams[1].id, T0 + timedelta(hours=1), T0 + timedelta(hours=2)) == []


async def test_get_statistics(alert_repo, add_alert, probe):
    a = await add_alert(camera=0, minutes=0, severity="critical")
    b = await add_alert(camera=0, minutes=10, severity="low")
    await add_alert(camera=1, minutes=20, severity="critical")
    await add_alert(camera=1, minutes=-600, severity="critical")  # outside the window
    await probe.execute(
        "UPDATE alerts SET acknowledged = TRUE, acknowledged_by = 'ops', "
        "acknowledged_at = created_at + ($2 || ' seconds')::interval WHERE id = $1",
        a.id, "60",
    )
    await probe.execute(
        "UPDATE alerts SET acknowledged = TRUE, acknowledged_by = 'ops', "
        "acknowledged_at = created_at + interval '3 minutes' WHERE id = $1",
        b.id,
    )

    stats = await alert_repo.get_statistics(at(0))
    assert stats == {"total": 3, "open": 1, "critical": 2, "cameras": 2, "avg_ack_seconds": 120.0}
    assert isinstance(stats["avg_ack_seconds"], float)
    assert all(isinstance(stats[k], int) for k in ("total", "open", "critical", "cameras"))


async def test_get_statistics_empty_window(alert_repo, add_alert):
    await add_alert(minutes=0)
    stats = await alert_repo.get_statistics(at(60))
    assert stats == {"total": 0, "open": 0, "critical": 0, "cameras": 0, "avg_ack_seconds": None}


async def test_escalate_stale(alert_repo, add_alert):
    low = await add_alert(minutes=0, severity="low", metadata={"zone": "a"})
    medium = await add_alert(minutes=1, severity="medium")
    high = await add_alert(minutes=2, severity="high")
    critical = await add_alert(minutes=3, severity="critical")
    acked = await add_alert(minutes=4, severity="low")
    recent = await add_alert(minutes=90, severity="low")
    await alert_repo.acknowledge(acked.id, "ops")

    escalated = await alert_repo.escalate_stale(at(60))
    assert escalated == [low.id, medium.id, high.id]
    assert all(isinstance(i, int) for i in escalated)

    after = {i: await alert_repo.get_by_id(i) for i in (low.id, medium.id, high.id, critical.id, acked.id, recent.id)}
    assert after[low.id].severity == "medium"
    assert after[low.id].metadata == {"zone": "a", "escalated_from": "low"}
    assert after[medium.id].severity == "high"
    assert after[high.id].severity == "critical"
    assert after[high.id].metadata == {"escalated_from": "high"}
    assert after[critical.id].severity == "critical" and after[critical.id].metadata == {}
    assert after[acked.id].severity == "low"
    assert after[recent.id].severity == "low"

    # the next run moves the remaining ones up another level
    assert await alert_repo.escalate_stale(at(60)) == [low.id, medium.id]
    assert (await alert_repo.get_by_id(low.id)).metadata["escalated_from"] == "medium"
    assert await alert_repo.escalate_stale(at(-10)) == []
