"""Business rules in the service layer, on top of the real repositories."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from src.domain.alert import Alert
from src.domain.camera import Camera
from src.domain.exceptions import (
    AlertAlreadyAcknowledgedError,
    AlertNotFoundError,
    CameraAlreadyExistsError,
    CameraNotFoundError,
    DetectionNotFoundError,
    ValidationError,
)
from src.services.detection_service import build_record, mean_confidence


# --- cameras ------------------------------------------------------------------


async def test_register_normalises_and_stores(camera_service):
    cam = await camera_service.register(
        "  yard-1 ", location="yard", rtsp_url="rtsp://10.0.0.9/s", tags=["Outdoor", "outdoor ", "PTZ", ""]
    )
    assert cam.name == "yard-1"
    assert cam.tags == ["outdoor", "ptz"]
    assert (await camera_service.get(cam.id)).name == "yard-1"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "   "},
        {"name": "x", "status": "broken"},
        {"name": "x", "rtsp_url": "http://10.0.0.1/stream"},
    ],
)
async def test_register_validation(camera_service, kwargs):
    with pytest.raises(ValidationError):
        await camera_service.register(**kwargs)
    assert await camera_service.camera_repository.count() == 0


async def test_register_duplicate(camera_service):
    await camera_service.register("gate")
    with pytest.raises(CameraAlreadyExistsError):
        await camera_service.register("gate")


async def test_camera_not_found_paths(camera_service):
    with pytest.raises(CameraNotFoundError):
        await camera_service.get(1)
    with pytest.raises(CameraNotFoundError):
        await camera_service.get_by_name("nope")
    with pytest.raises(CameraNotFoundError):
        await camera_service.update(1, location="x")
    with pytest.raises(CameraNotFoundError):
        await camera_service.set_status(1, "active")
    with pytest.raises(CameraNotFoundError):
        await camera_service.add_tags(1, ["a"])
    with pytest.raises(CameraNotFoundError):
        await camera_service.update_config(1, {"a": 1})
    with pytest.raises(CameraNotFoundError):
        await camera_service.remove(1)


async def test_camera_service_operations(camera_service, make_camera):
    a = await make_camera(name="a", status="active", tags=["outdoor"])
    b = await make_camera(name="b", status="error")
    cameras, total = await camera_service.list_cameras(status="active")
    assert ([c.name for c in cameras], total) == (["a"], 1)
    with pytest.raises(ValidationError):
        await camera_service.list_cameras(status="sleeping")
    assert [c.id for c in await camera_service.get_many([b.id, a.id])] == [a.id, b.id]
    assert [c.name for c in await camera_service.find_by_tag(" OUTDOOR ")] == ["a"]
    assert (await camera_service.get_by_name("b")).id == b.id
    assert (await camera_service.update(a.id, location="gate")).location == "gate"
    with pytest.raises(ValidationError):
        await camera_service.update(a.id, rtsp_url="ftp://x")
    await camera_service.set_status(b.id, "maintenance")
    with pytest.raises(ValidationError):
        await camera_service.set_status(b.id, "on-fire")
    assert await camera_service.bulk_set_status([a.id, b.id], "inactive") == 2
    assert await camera_service.add_tags(a.id, ["Night"]) == ["night", "outdoor"]
    assert await camera_service.remove_tag(a.id, "NIGHT") is True
    assert await camera_service.update_config(a.id, {"fps": 5}) == {"fps": 5}
    assert await camera_service.status_overview() == {"active": 0, "inactive": 2, "maintenance": 0, "error": 0}
    assert [r["name"] for r in await camera_service.alert_overview()] == ["a", "b"]
    await camera_service.remove(b.id)
    assert await camera_service.camera_repository.count() == 1


async def test_sync_inventory(camera_service):
    count = await camera_service.sync_inventory([Camera(name="s1", tags=["B", "a"]), Camera(name="s2")])
    assert count == 2
    assert (await camera_service.get_by_name("s1")).tags == ["a", "b"]
    with pytest.raises(ValidationError):
        await camera_service.sync_inventory([Camera(name="s3", status="??")])


# --- alerts -------------------------------------------------------------------


async def test_raise_alert_validation(alert_service, make_camera):
    cam = await make_camera()
    alert = await alert_service.raise_alert(cam.id, "intrusion", "  person at gate  ", "high", {"zone": "g"})
    assert alert.message == "person at gate"
    assert alert.metadata == {"zone": "g"}
    with pytest.raises(ValidationError):
        await alert_service.raise_alert(cam.id, "intrusion", "x", severity="urgent")
    with pytest.raises(ValidationError):
        await alert_service.raise_alert(cam.id, "intrusion", "   ")
    with pytest.raises(CameraNotFoundError):
        await alert_service.raise_alert(cam.id + 10, "intrusion", "x")


async def test_acknowledge_distinguishes_missing_and_already_acknowledged(alert_service, make_camera):
    cam = await make_camera()
    alert = await alert_service.raise_alert(cam.id, "motion", "m")
    acked = await alert_service.acknowledge(alert.id, "alice")
    assert acked.acknowledged_by == "alice"
    with pytest.raises(AlertAlreadyAcknowledgedError):
        await alert_service.acknowledge(alert.id, "bob")
    with pytest.raises(AlertNotFoundError):
        await alert_service.acknowledge(alert.id + 1, "bob")
    with pytest.raises(AlertNotFoundError):
        await alert_service.get_alert(alert.id + 1)
    assert (await alert_service.get_alert(alert.id)).acknowledged is True


async def test_alert_service_queries(alert_service, make_camera):
    cam = await make_camera()
    now = datetime.now(timezone.utc)
    recorded = await alert_service.record_alerts(
        [
            Alert(camera_id=cam.id, alert_type="motion", message="a", severity="low", created_at=now - timedelta(hours=2)),
            Alert(camera_id=cam.id, alert_type="motion", message="b", severity="critical", created_at=now - timedelta(minutes=5)),
            Alert(camera_id=cam.id, alert_type="motion", message="c", severity="high", created_at=now - timedelta(days=3)),
        ]
    )
    assert recorded == 3
    with pytest.raises(ValidationError):
        await alert_service.record_alerts([Alert(camera_id=cam.id, alert_type="m", message="x", severity="meh")])
    with pytest.raises(ValidationError):
        await alert_service.list_alerts(severity=["low", "meh"])
    items, total = await alert_service.list_alerts(severity="critical")
    assert total == 1 and items[0].message == "b"
    assert [a.message for a in await alert_service.open_alerts()] == ["b", "a", "c"]
    assert (await alert_service.latest_for_camera(cam.id)).message == "b"

    dashboard = await alert_service.dashboard(hours=24)
    assert dashboard["total"] == 2
    assert dashboard["by_severity"] == {"low": 1, "medium": 0, "high": 0, "critical": 1}
    assert dashboard["window_hours"] == 24

    hourly = await alert_service.hourly_counts(cam.id, now - timedelta(hours=3), now)
    assert sum(r["total"] for r in hourly) == 2
    with pytest.raises(ValidationError):
        await alert_service.hourly_counts(cam.id, now, now)

    escalated = await alert_service.escalate_stale(timedelta(minutes=30))
    assert len(escalated) == 2  # "a" (low) and "c" (high); "b" is recent
    assert await alert_service.acknowledge_many([items[0].id, items[0].id], "ops") == 1
    assert await alert_service.acknowledge_many([], "ops") == 0
    with pytest.raises(ValidationError):
        await alert_service.purge(retention_days=0)
    assert await alert_service.purge(retention_days=1) == 0          # the old one is still open
    assert await alert_service.purge(retention_days=1, include_open=True) == 1


# --- detections ---------------------------------------------------------------


def test_mean_confidence():
    assert mean_confidence([]) is None
    assert mean_confidence([{"class": "person"}]) is None
    assert mean_confidence([{"confidence": 0.9}, {"confidence": 0.85}, {"confidence": 0.8}]) == Decimal("0.8500")
    assert mean_confidence([{"confidence": 0.33335}]) == Decimal("0.3334")


def test_build_record_requires_aware_timestamp():
    with pytest.raises(ValidationError):
        build_record(1, 1, [], detected_at=datetime(2024, 1, 1))
    record = build_record(1, 1, [{"class": "person", "confidence": 0.5}])
    assert record.detected_at.tzinfo is not None
    assert (record.object_count, record.confidence) == (1, Decimal("0.5000"))


async def test_detection_service(detection_service, make_camera):
    cam = await make_camera()
    now = datetime.now(timezone.utc)
    objects = [{"class": "person", "confidence": 0.9}, {"class": "helmet", "confidence": 0.7}]
    record = await detection_service.record(cam.id, 1, objects, detected_at=now - timedelta(minutes=1), processing_ms=9.5)
    assert record.object_count == 2
    assert record.confidence == Decimal("0.8000")
    assert (await detection_service.get(record.id)).objects == objects
    with pytest.raises(DetectionNotFoundError):
        await detection_service.get(record.id + 1)

    assert await detection_service.next_frame_id(cam.id) == 2
    assert await detection_service.next_frame_id(cam.id + 1) == 1

    result = await detection_service.ingest_batch(
        [build_record(cam.id, 2, objects), build_record(cam.id, 1, []), build_record(cam.id + 99, 3, [])]
    )
    assert result["saved"] == 1 and len(result["ids"]) == 1
    assert result["rejected"] == [
        {"frame_id": 1, "reason": "duplicate_frame"},
        {"frame_id": 3, "reason": "unknown_camera"},
    ]
    assert len(await detection_service.search(camera_ids=[cam.id])) == 2
    with pytest.raises(ValidationError):
        await detection_service.search(start=now, end=now - timedelta(hours=1))
    assert await detection_service.class_breakdown(cam.id) == {"helmet": 2, "person": 2}
    assert (await detection_service.camera_summary([cam.id]))[cam.id]["frames"] == 2
    hourly = await detection_service.hourly_summary(cam.id, now - timedelta(hours=2), now + timedelta(hours=1))
    assert sum(r["frames"] for r in hourly) == 2
    with pytest.raises(ValidationError):
        await detection_service.hourly_summary(cam.id, now, now)
    with pytest.raises(ValidationError):
        await detection_service.purge(0)
    assert await detection_service.purge(1) == 0
