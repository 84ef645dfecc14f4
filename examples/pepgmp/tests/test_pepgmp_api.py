"""HTTP behaviour of the API, with the real lifespan and database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone


async def _camera(client, name="gate-1", **extra):
    body = {"name": name, "location": "main gate", "rtsp_url": "rtsp://10.0.0.1/s", "status": "active"}
    body.update(extra)
    response = await client.post("/api/v1/cameras", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_health(client):
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": True}


# --- cameras ------------------------------------------------------------------


async def test_camera_crud(client, probe):
    created = await _camera(client, config={"fps": 15}, tags=["Outdoor"])
    assert isinstance(created["id"], int)
    assert created["config"] == {"fps": 15}
    assert created["tags"] == ["outdoor"]
    assert datetime.fromisoformat(created["created_at"]).tzinfo is not None

    response = await client.get(f"/api/v1/cameras/{created['id']}")
    assert response.status_code == 200
    assert response.json() == created

    response = await client.patch(f"/api/v1/cameras/{created['id']}", json={"location": "north gate"})
    assert response.status_code == 200
    assert response.json()["location"] == "north gate"
    assert response.json()["name"] == "gate-1"

    response = await client.put(f"/api/v1/cameras/{created['id']}/status", json={"status": "maintenance"})
    assert response.status_code == 200
    assert response.json() == {"id": created["id"], "status": "maintenance"}
    assert await probe.fetchval("SELECT status FROM cameras WHERE id = $1", created["id"]) == "maintenance"

    response = await client.delete(f"/api/v1/cameras/{created['id']}")
    assert response.status_code == 204
    assert (await client.get(f"/api/v1/cameras/{created['id']}")).status_code == 404
    assert (await client.delete(f"/api/v1/cameras/{created['id']}")).status_code == 404


async def test_camera_errors(client):
    await _camera(client, name="dup")
    response = await client.post("/api/v1/cameras", json={"name": "dup"})
    assert response.status_code == 409
    assert "already exists" in response.json()["detail"]
    assert (await client.post("/api/v1/cameras", json={"name": "x", "status": "weird"})).status_code == 400
    assert (await client.post("/api/v1/cameras", json={"name": ""})).status_code == 422
    assert (await client.get("/api/v1/cameras/999")).status_code == 404
    assert (await client.put("/api/v1/cameras/999/status", json={"status": "active"})).status_code == 404
    assert (await client.get("/api/v1/cameras", params={"status": "weird"})).status_code == 400


async def test_camera_list_and_overview(client):
    await _camera(client, name="b", status="active")
    await _camera(client, name="a", status="error")
    await _camera(client, name="c", status="active")
    body = (await client.get("/api/v1/cameras")).json()
    assert body["total"] == 3
    assert [c["name"] for c in body["items"]] == ["a", "b", "c"]
    body = (await client.get("/api/v1/cameras", params={"status": "active", "limit": 1, "offset": 1})).json()
    assert body["total"] == 2
    assert [c["name"] for c in body["items"]] == ["c"]

    overview = (await client.get("/api/v1/cameras/overview")).json()
    assert overview["by_status"] == {"active": 2, "inactive": 0, "maintenance": 0, "error": 1}
    assert {c["name"]: c["open_alerts"] for c in overview["cameras"]} == {"a": 0, "b": 0, "c": 0}


# --- alerts -------------------------------------------------------------------


async def test_alert_lifecycle(client, probe):
    cam = await _camera(client)
    response = await client.post(
        "/api/v1/alerts",
        json={"camera_id": cam["id"], "alert_type": "intrusion", "message": "person in zone",
              "severity": "high", "metadata": {"zone": "dock", "score": 0.97}},
    )
    assert response.status_code == 201
    alert = response.json()
    assert alert["metadata"] == {"zone": "dock", "score": 0.97}
    assert alert["acknowledged"] is False

    fetched = (await client.get(f"/api/v1/alerts/{alert['id']}")).json()
    assert fetched == alert

    response = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"user": "alice"})
    assert response.status_code == 200
    acked = response.json()
    assert acked["acknowledged"] is True and acked["acknowledged_by"] == "alice"
    assert datetime.fromisoformat(acked["acknowledged_at"]).tzinfo is not None

    response = await client.post(f"/api/v1/alerts/{alert['id']}/acknowledge", json={"user": "bob"})
    assert response.status_code == 409
    assert (await client.post("/api/v1/alerts/999/acknowledge", json={"user": "bob"})).status_code == 404
    assert (await client.get("/api/v1/alerts/999")).status_code == 404
    assert await probe.fetchval("SELECT acknowledged_by FROM alerts WHERE id = $1", alert["id"]) == "alice"


async def test_alert_create_errors(client):
    cam = await _camera(client)
    bad = {"camera_id": cam["id"], "alert_type": "x", "message": "m", "severity": "apocalyptic"}
    assert (await client.post("/api/v1/alerts", json=bad)).status_code == 400
    missing = {"camera_id": cam["id"] + 50, "alert_type": "x", "message": "m"}
    assert (await client.post("/api/v1/alerts", json=missing)).status_code == 404


async def test_alert_list_filters_and_bulk_acknowledge(client):
    cam1 = await _camera(client, name="c1")
    cam2 = await _camera(client, name="c2")
    ids = []
    for cam, severity in [(cam1, "low"), (cam1, "high"), (cam2, "critical"), (cam2, "high"), (cam1, "medium")]:
        r = await client.post(
            "/api/v1/alerts",
            json={"camera_id": cam["id"], "alert_type": "motion", "message": severity, "severity": severity},
        )
        ids.append(r.json()["id"])

    body = (await client.get("/api/v1/alerts", params={"limit": 2})).json()
    assert body["total"] == 5 and body["limit"] == 2 and body["offset"] == 0
    assert [a["id"] for a in body["items"]] == [ids[4], ids[3]]

    body = (await client.get("/api/v1/alerts", params=[("severity", "high"), ("severity", "critical")])).json()
    assert sorted(a["id"] for a in body["items"]) == sorted([ids[1], ids[2], ids[3]])
    body = (await client.get("/api/v1/alerts", params={"camera_id": cam1["id"], "severity": "high"})).json()
    assert [a["id"] for a in body["items"]] == [ids[1]]
    assert (await client.get("/api/v1/alerts", params={"severity": "nope"})).status_code == 400

    response = await client.post("/api/v1/alerts/acknowledge", json={"alert_ids": ids[:3] + [9999], "user": "ops"})
    assert response.json() == {"acknowledged": 3}
    body = (await client.get("/api/v1/alerts", params={"acknowledged": "false"})).json()
    assert sorted(a["id"] for a in body["items"]) == sorted(ids[3:])

    since = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    assert (await client.get("/api/v1/alerts", params={"since": since})).json()["total"] == 0

    stats = (await client.get("/api/v1/alerts/statistics")).json()
    assert stats["total"] == 5 and stats["open"] == 2 and stats["critical"] == 1 and stats["cameras"] == 2
    assert stats["by_severity"] == {"low": 1, "medium": 1, "high": 2, "critical": 1}
    assert isinstance(stats["avg_ack_seconds"], float)


# --- detections ---------------------------------------------------------------


async def test_detections(client):
    cam = await _camera(client)
    detected_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=10)
    objects = [{"class": "person", "confidence": 0.9}, {"class": "forklift", "confidence": 0.6}]
    response = await client.post(
        "/api/v1/detections",
        json={"camera_id": cam["id"], "frame_id": 100, "objects": objects,
              "detected_at": detected_at.isoformat(), "processing_ms": 14.5},
    )
    assert response.status_code == 201
    record = response.json()
    assert record["object_count"] == 2
    assert record["confidence"] == 0.75
    assert record["objects"] == objects
    assert datetime.fromisoformat(record["detected_at"]) == detected_at

    assert (await client.get(f"/api/v1/detections/{record['id']}")).json() == record
    assert (await client.get("/api/v1/detections/999")).status_code == 404

    body = (await client.get("/api/v1/detections", params={"camera_id": cam["id"], "object_class": "forklift"})).json()
    assert [r["id"] for r in body["items"]] == [record["id"]]
    body = (await client.get("/api/v1/detections", params={"min_confidence": "0.8"})).json()
    assert body["items"] == []

    start = (detected_at - timedelta(hours=1)).isoformat()
    end = (detected_at + timedelta(hours=1)).isoformat()
    hourly = (await client.get(f"/api/v1/detections/cameras/{cam['id']}/hourly",
                               params={"start": start, "end": end})).json()
    assert sum(h["frames"] for h in hourly) == 1
    assert hourly[-1]["objects"] == 2
    bad = await client.get(f"/api/v1/detections/cameras/{cam['id']}/hourly", params={"start": end, "end": start})
    assert bad.status_code == 400

    classes = (await client.get(f"/api/v1/detections/cameras/{cam['id']}/classes")).json()
    assert classes == {"forklift": 1, "person": 1}


# --- MLOps --------------------------------------------------------------------


async def test_mlops_datasets(client, probe):
    response = await client.post(
        "/api/v1/mlops/datasets",
        json={"name": "ppe", "version": "v2", "sample_count": 1200, "labels": {"helmet": 0},
              "metadata": {"source": "site-a"}},
    )
    assert response.status_code == 201
    ds = response.json()
    assert ds["status"] == "pending"
    assert ds["labels"] == {"helmet": 0}
    assert ds["metadata"] == {"source": "site-a"}
    assert datetime.fromisoformat(ds["created_at"]).tzinfo is not None

    dup = await client.post("/api/v1/mlops/datasets", json={"name": "ppe", "version": "v2"})
    assert dup.status_code == 409
    assert (await client.post("/api/v1/mlops/datasets", json={"name": "x", "status": "odd"})).status_code == 400
    await client.post("/api/v1/mlops/datasets", json={"name": "other", "status": "ready"})

    body = (await client.get("/api/v1/mlops/datasets")).json()
    assert body["total"] == 2
    assert [d["name"] for d in body["items"]] == ["other", "ppe"]
    body = (await client.get("/api/v1/mlops/datasets", params={"status": "ready"})).json()
    assert (body["total"], [d["name"] for d in body["items"]]) == (1, ["other"])
    assert (await client.get("/api/v1/mlops/datasets", params={"status": "odd"})).status_code == 400

    assert (await client.get(f"/api/v1/mlops/datasets/{ds['id']}")).json()["name"] == "ppe"
    response = await client.put(f"/api/v1/mlops/datasets/{ds['id']}", json={"status": "ready", "sample_count": 1500})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["sample_count"]) == ("ready", 1500)
    assert await probe.fetchval("SELECT sample_count FROM datasets WHERE id = $1", ds["id"]) == 1500

    assert (await client.delete(f"/api/v1/mlops/datasets/{ds['id']}")).status_code == 204
    assert (await client.get(f"/api/v1/mlops/datasets/{ds['id']}")).status_code == 404
    assert (await client.put(f"/api/v1/mlops/datasets/{ds['id']}", json={})).status_code == 404
    assert (await client.delete(f"/api/v1/mlops/datasets/{ds['id']}")).status_code == 404


async def test_mlops_deployments(client):
    ds = (await client.post("/api/v1/mlops/datasets", json={"name": "train-set"})).json()
    response = await client.post(
        "/api/v1/mlops/deployments",
        json={"name": "ppe-prod", "model_name": "yolo-ppe", "model_version": "2.1.0",
              "environment": "production", "replicas": 3, "dataset_id": ds["id"]},
    )
    assert response.status_code == 201
    dep = response.json()
    assert (dep["status"], dep["replicas"], dep["dataset_id"], dep["deployed_at"]) == ("pending", 3, ds["id"], None)
    missing = {"name": "x", "model_name": "m", "model_version": "1", "dataset_id": 999}
    assert (await client.post("/api/v1/mlops/deployments", json=missing)).status_code == 404

    response = await client.put(f"/api/v1/mlops/deployments/{dep['id']}/status", json={"status": "running"})
    assert response.status_code == 200
    assert response.json()["status"] == "running"
    assert datetime.fromisoformat(response.json()["deployed_at"]).tzinfo is not None
    assert (await client.put("/api/v1/mlops/deployments/999/status", json={"status": "running"})).status_code == 404
    assert (await client.put(f"/api/v1/mlops/deployments/{dep['id']}/status", json={"status": "??"})).status_code == 400

    listed = (await client.get("/api/v1/mlops/deployments", params={"environment": "production"})).json()
    assert [d["id"] for d in listed] == [dep["id"]]
    assert (await client.get("/api/v1/mlops/deployments", params={"status": "failed"})).json() == []
    assert (await client.get(f"/api/v1/mlops/deployments/{dep['id']}")).json()["name"] == "ppe-prod"
    assert (await client.get("/api/v1/mlops/deployments/999")).status_code == 404


async def test_mlops_workflows(client):
    steps = [{"name": "train", "params": {"epochs": 5}}]
    draft = (await client.post("/api/v1/mlops/workflows", json={"name": "draft-wf", "steps": steps})).json()
    assert draft["status"] == "draft" and draft["steps"] == steps
    active = (await client.post("/api/v1/mlops/workflows", json={"name": "active-wf", "status": "active"})).json()
    assert (await client.post("/api/v1/mlops/workflows", json={"name": "active-wf"})).status_code == 409

    assert [w["name"] for w in (await client.get("/api/v1/mlops/workflows")).json()] == ["active-wf", "draft-wf"]
    assert [w["name"] for w in (await client.get("/api/v1/mlops/workflows", params={"status": "active"})).json()] == [
        "active-wf"
    ]

    response = await client.post(f"/api/v1/mlops/workflows/{draft['id']}/runs", json={})
    assert response.status_code == 409
    response = await client.post(f"/api/v1/mlops/workflows/{active['id']}/runs", json={"parameters": {"lr": 0.01}})
    assert response.status_code == 201
    run = response.json()
    assert (run["status"], run["parameters"], run["finished_at"]) == ("running", {"lr": 0.01}, None)
    assert (await client.post("/api/v1/mlops/workflows/999/runs", json={})).status_code == 404

    runs = (await client.get(f"/api/v1/mlops/workflows/{active['id']}/runs")).json()
    assert [r["id"] for r in runs["items"]] == [run["id"]]
    assert runs["stats"]["running"] == 1 and runs["stats"]["total"] == 1
    assert (await client.get("/api/v1/mlops/workflows/999/runs")).status_code == 404
