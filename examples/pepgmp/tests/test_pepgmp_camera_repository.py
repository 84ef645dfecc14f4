"""PostgreSQLCameraRepository against a real database."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from src.domain.camera import Camera
from src.domain.exceptions import CameraAlreadyExistsError


async def test_create_returns_stored_camera(camera_repo, probe):
    config = {"fps": 15, "resolution": [1920, 1080], "zones": {"dock": {"x": 0.25, "enabled": True}}}
    camera = await camera_repo.create(
        Camera(
            name="dock-north",
            location="Loading dock",
            rtsp_url="rtsp://10.1.0.5/main",
            status="active",
            config=config,
            tags=["outdoor", "dock"],
        )
    )

    assert isinstance(camera, Camera)
    assert isinstance(camera.id, int) and camera.id > 0
    assert camera.name == "dock-north"
    assert camera.location == "Loading dock"
    assert camera.rtsp_url == "rtsp://10.1.0.5/main"
    assert camera.status == "active"
    assert camera.config == config
    assert isinstance(camera.config, dict)
    assert camera.tags == ["outdoor", "dock"]
    assert isinstance(camera.tags, list)
    assert isinstance(camera.created_at, datetime) and camera.created_at.tzinfo is not None
    assert isinstance(camera.updated_at, datetime) and camera.updated_at.tzinfo is not None

    row = await probe.fetchrow(
        "SELECT jsonb_typeof(config) AS kind, config -> 'zones' -> 'dock' ->> 'x' AS x, tags "
        "FROM cameras WHERE id = $1",
        camera.id,
    )
    assert row["kind"] == "object"
    assert row["x"] == "0.25"
    assert row["tags"] == ["outdoor", "dock"]


async def test_create_defaults(camera_repo):
    camera = await camera_repo.create(Camera(name="bare"))
    assert camera.status == "inactive"
    assert camera.config == {}
    assert camera.tags == []
    assert camera.location is None and camera.rtsp_url is None


async def test_create_duplicate_name_raises_domain_error(camera_repo, probe):
    await camera_repo.create(Camera(name="gate-1"))
    with pytest.raises(CameraAlreadyExistsError) as excinfo:
        await camera_repo.create(Camera(name="gate-1", location="elsewhere"))
    assert excinfo.value.name == "gate-1"
    assert await probe.fetchval("SELECT COUNT(*) FROM cameras") == 1
    # the pool is still usable after the failed insert
    assert (await camera_repo.get_by_name("gate-1")).location is None


async def test_get_by_id(camera_repo, make_camera):
    created = await make_camera(name="lobby", config={"fps": 10})
    fetched = await camera_repo.get_by_id(created.id)
    assert fetched == created
    assert await camera_repo.get_by_id(created.id + 1000) is None


async def test_get_by_name(camera_repo, make_camera):
    created = await make_camera(name="warehouse-east", tags=["indoor"])
    fetched = await camera_repo.get_by_name("warehouse-east")
    assert fetched.id == created.id
    assert fetched.tags == ["indoor"]
    assert await camera_repo.get_by_name("warehouse-west") is None


async def test_list_cameras_orders_by_name_and_filters(camera_repo, make_camera):
    await make_camera(name="c-charlie", status="active")
    await make_camera(name="a-alpha", status="maintenance")
    await make_camera(name="b-bravo", status="active")
    await make_camera(name="d-delta", status="error")

    all_cams = await camera_repo.list_cameras()
    assert [c.name for c in all_cams] == ["a-alpha", "b-bravo", "c-charlie", "d-delta"]

    active = await camera_repo.list_cameras(status="active")
    assert [c.name for c in active] == ["b-bravo", "c-charlie"]
    assert all(isinstance(c, Camera) for c in active)

    page = await camera_repo.list_cameras(limit=2, offset=1)
    assert [c.name for c in page] == ["b-bravo", "c-charlie"]
    assert await camera_repo.list_cameras(status="inactive") == []


async def test_count(camera_repo, make_camera):
    assert await camera_repo.count() == 0
    await make_camera(status="active")
    await make_camera(status="active")
    await make_camera(status="error")
    total = await camera_repo.count()
    assert total == 3 and isinstance(total, int)
    assert await camera_repo.count("active") == 2
    assert await camera_repo.count("maintenance") == 0


async def test_get_many(camera_repo, make_camera):
    a = await make_camera()
    b = await make_camera()
    c = await make_camera()
    found = await camera_repo.get_many([c.id, a.id, 9999])
    assert [cam.id for cam in found] == [a.id, c.id]
    assert await camera_repo.get_many([]) == []
    assert [cam.name for cam in await camera_repo.get_many(iter([b.id]))] == [b.name]


async def test_find_by_tag(camera_repo, make_camera):
    await make_camera(name="yard-2", tags=["outdoor", "ptz"])
    await make_camera(name="yard-1", tags=["outdoor"])
    await make_camera(name="office", tags=["indoor"])
    outdoor = await camera_repo.find_by_tag("outdoor")
    assert [c.name for c in outdoor] == ["yard-1", "yard-2"]
    assert [c.name for c in await camera_repo.find_by_tag("ptz")] == ["yard-2"]
    assert await camera_repo.find_by_tag("thermal") == []


async def test_exists(camera_repo, make_camera):
    await make_camera(name="present")
    assert await camera_repo.exists("present") is True
    assert await camera_repo.exists("absent") is False


async def test_update_changes_only_given_fields(camera_repo, make_camera):
    cam = await make_camera(name="old-name", location="hall", rtsp_url="rtsp://1/a", config={"fps": 5})
    updated = await camera_repo.update(cam.id, location="north hall")
    assert updated.id == cam.id
    assert updated.location == "north hall"
    assert updated.name == "old-name"
    assert updated.rtsp_url == "rtsp://1/a"
    assert updated.config == {"fps": 5}
    assert updated.updated_at >= cam.updated_at
    assert updated.created_at == cam.created_at

    renamed = await camera_repo.update(cam.id, name="new-name", rtsp_url="rtsp://1/b")
    assert (renamed.name, renamed.location, renamed.rtsp_url) == ("new-name", "north hall", "rtsp://1/b")
    assert await camera_repo.update(cam.id + 100, location="x") is None


async def test_update_to_taken_name_raises(camera_repo, make_camera):
    await make_camera(name="taken")
    other = await make_camera(name="free")
    with pytest.raises(CameraAlreadyExistsError):
        await camera_repo.update(other.id, name="taken")
    assert (await camera_repo.get_by_id(other.id)).name == "free"


async def test_update_status(camera_repo, make_camera, probe):
    cam = await make_camera(status="active")
    assert await camera_repo.update_status(cam.id, "maintenance") is True
    assert await probe.fetchval("SELECT status FROM cameras WHERE id = $1", cam.id) == "maintenance"
    assert await camera_repo.update_status(cam.id + 100, "active") is False


async def test_update_statuses_counts_only_changed_rows(camera_repo, make_camera, probe):
    a = await make_camera(status="active")
    b = await make_camera(status="error")
    c = await make_camera(status="maintenance")
    d = await make_camera(status="active")
    changed = await camera_repo.update_statuses([a.id, b.id, c.id, 12345], "maintenance")
    assert changed == 2 and isinstance(changed, int)
    rows = await probe.fetch("SELECT id, status FROM cameras ORDER BY id")
    assert {r["id"]: r["status"] for r in rows} == {
        a.id: "maintenance",
        b.id: "maintenance",
        c.id: "maintenance",
        d.id: "active",
    }
    assert await camera_repo.update_statuses([], "active") == 0


async def test_add_tags_merges_and_sorts(camera_repo, make_camera):
    cam = await make_camera(tags=["outdoor"])
    tags = await camera_repo.add_tags(cam.id, ["ptz", "outdoor", "night"])
    assert tags == ["night", "outdoor", "ptz"]
    assert (await camera_repo.get_by_id(cam.id)).tags == ["night", "outdoor", "ptz"]
    assert await camera_repo.add_tags(cam.id + 100, ["x"]) is None


async def test_remove_tag(camera_repo, make_camera):
    cam = await make_camera(tags=["a", "b", "c"])
    assert await camera_repo.remove_tag(cam.id, "b") is True
    assert (await camera_repo.get_by_id(cam.id)).tags == ["a", "c"]
    assert await camera_repo.remove_tag(cam.id, "b") is False
    assert await camera_repo.remove_tag(cam.id + 100, "a") is False


async def test_merge_config(camera_repo, make_camera, probe):
    cam = await make_camera(config={"fps": 10, "codec": "h264", "roi": [0, 0, 100, 100]})
    merged = await camera_repo.merge_config(cam.id, {"fps": 25, "night_mode": True})
    assert merged == {"fps": 25, "codec": "h264", "roi": [0, 0, 100, 100], "night_mode": True}
    assert isinstance(merged, dict)
    assert await probe.fetchval("SELECT (config ->> 'fps')::int FROM cameras WHERE id = $1", cam.id) == 25
    assert await camera_repo.merge_config(cam.id + 100, {"fps": 1}) is None


async def test_delete_cascades_to_alerts_and_detections(camera_repo, make_camera, probe):
    cam = await make_camera()
    keep = await make_camera()
    for camera_id in (cam.id, keep.id):
        await probe.execute(
            "INSERT INTO alerts (camera_id, alert_type, message) VALUES ($1, 'intrusion', 'x')", camera_id
        )
        await probe.execute(
            "INSERT INTO detection_records (camera_id, frame_id) VALUES ($1, 1)", camera_id
        )

    assert await camera_repo.delete(cam.id) is True
    assert await camera_repo.get_by_id(cam.id) is None
    assert await camera_repo.delete(cam.id) is False
    assert await probe.fetchval("SELECT COUNT(*) FROM alerts WHERE camera_id = $1", cam.id) == 0
    assert await probe.fetchval("SELECT COUNT(*) FROM detection_records WHERE camera_id = $1", cam.id) == 0
    assert await probe.fetchval("SELECT COUNT(*) FROM alerts") == 1
    assert await probe.fetchval("SELECT COUNT(*) FROM detection_records") == 1


async def test_count_by_status(camera_repo, make_camera):
    assert await camera_repo.count_by_status() == {}
    for status in ("active", "active", "active", "error", "maintenance"):
        await make_camera(status=status)
    counts = await camera_repo.count_by_status()
    assert counts == {"active": 3, "error": 1, "maintenance": 1}
    assert all(isinstance(v, int) for v in counts.values())


async def test_upsert_many_inserts_and_updates(camera_repo, make_camera):
    existing = await make_camera(
        name="gate", location="old", status="maintenance", config={"fps": 10, "owner": "ops"}, tags=["old"]
    )
    await camera_repo.upsert_many(
        [
            Camera(name="gate", location="main gate", rtsp_url="rtsp://gate/1", status="active",
                   config={"fps": 30}, tags=["entry"]),
            Camera(name="parking", location="lot B", status="active", config={"fps": 12}, tags=["outdoor"]),
        ]
    )
    gate = await camera_repo.get_by_name("gate")
    assert gate.id == existing.id
    assert gate.location == "main gate"
    assert gate.rtsp_url == "rtsp://gate/1"
    assert gate.status == "maintenance"  # operational status is not overwritten by a sync
    assert gate.config == {"fps": 30, "owner": "ops"}
    assert gate.tags == ["entry"]

    parking = await camera_repo.get_by_name("parking")
    assert parking is not None
    assert (parking.status, parking.config, parking.tags) == ("active", {"fps": 12}, ["outdoor"])
    assert await camera_repo.count() == 2

    await camera_repo.upsert_many([])
    assert await camera_repo.count() == 2


async def test_upsert_many_is_atomic(camera_repo):
    with pytest.raises(Exception):
        await camera_repo.upsert_many(
            [Camera(name="ok-1", status="active"), Camera(name="broken", status="exploded")]
        )
    assert await camera_repo.count() == 0


async def test_list_with_open_alerts(camera_repo, make_camera, probe):
    busy = await make_camera(name="busy")
    calm = await make_camera(name="calm")
    quiet = await make_camera(name="quiet")
    await probe.executemany(
        "INSERT INTO alerts (camera_id, alert_type, message, acknowledged, created_at) "
        "VALUES ($1, 'motion', 'm', $2, $3)",
        [
            (busy.id, False, datetime(2024, 5, 6, 8, 0, tzinfo=timezone.utc)),
            (busy.id, False, datetime(2024, 5, 6, 9, 30, tzinfo=timezone.utc)),
            (busy.id, True, datetime(2024, 5, 6, 7, 0, tzinfo=timezone.utc)),
            (calm.id, True, datetime(2024, 5, 6, 10, 0, tzinfo=timezone.utc)),
        ],
    )
    rows = await camera_repo.list_with_open_alerts()
    assert [r["name"] for r in rows] == ["busy", "calm", "quiet"]
    assert all(isinstance(r, dict) for r in rows)
    by_name = {r["name"]: r for r in rows}
    assert by_name["busy"]["open_alerts"] == 2
    assert by_name["busy"]["last_alert_at"].isoformat() == "2024-05-06T09:30:00+00:00"
    assert by_name["calm"]["open_alerts"] == 0
    assert by_name["calm"]["last_alert_at"].isoformat() == "2024-05-06T10:00:00+00:00"
    assert by_name["quiet"] == {
        "id": quiet.id, "name": "quiet", "status": "active", "open_alerts": 0, "last_alert_at": None
    }
