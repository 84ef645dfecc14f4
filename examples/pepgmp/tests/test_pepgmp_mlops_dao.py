"""MLOps DAOs (SQLAlchemy async ORM) against a real database.

The ORM modules read ASYNC_DATABASE_URL when imported, so they are reached
through fixtures (see conftest.py) rather than imported at module level.
"""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy.exc import IntegrityError


# --- datasets -----------------------------------------------------------------


async def test_dataset_create_applies_defaults(dataset_dao, session, models, probe):
    ds = await dataset_dao.create(session, {"name": "ppe-helmets", "labels": {"helmet": 0, "head": 1}})
    assert isinstance(ds, models.Dataset)
    assert isinstance(ds.id, int)
    assert ds.version == "v1"
    assert ds.status is models.DatasetStatus.PENDING
    assert ds.sample_count == 0 and ds.size_bytes == 0
    assert ds.labels == {"helmet": 0, "head": 1}
    assert ds.extra == {}
    assert isinstance(ds.created_at, datetime) and ds.created_at.tzinfo is not None
    assert isinstance(ds.updated_at, datetime) and ds.updated_at.tzinfo is not None

    row = await probe.fetchrow("SELECT status::text AS status, jsonb_typeof(labels) AS kind FROM datasets WHERE id = $1", ds.id)
    assert dict(row) == {"status": "pending", "kind": "object"}


async def test_dataset_create_full(dataset_dao, session, models):
    ds = await dataset_dao.create(
        session,
        {
            "name": "forklift-night",
            "version": "v3",
            "description": "night shift footage",
            "source_path": "s3://datasets/forklift/v3",
            "status": models.DatasetStatus.READY,
            "sample_count": 12000,
            "size_bytes": 48 * 1024**3,
            "labels": {"forklift": 0},
            "extra": {"annotator": "team-b", "splits": {"train": 0.8, "val": 0.2}},
        },
    )
    assert ds.size_bytes == 48 * 1024**3
    assert ds.extra["splits"] == {"train": 0.8, "val": 0.2}
    d = ds.to_dict()
    assert d["status"] == "ready"
    assert d["metadata"] == {"annotator": "team-b", "splits": {"train": 0.8, "val": 0.2}}


async def test_dataset_create_rejects_unknown_fields(dataset_dao, session):
    with pytest.raises(ValueError):
        await dataset_dao.create(session, {"name": "x", "colour": "red"})


async def test_dataset_duplicate_name_version_raises(dataset_dao, session, mlops_db):
    await dataset_dao.create(session, {"name": "dup", "version": "v1"})
    with pytest.raises(IntegrityError):
        await dataset_dao.create(session, {"name": "dup", "version": "v1"})
    await session.rollback()
    other = await dataset_dao.create(session, {"name": "dup", "version": "v2"})
    assert other.version == "v2"
    async with mlops_db.AsyncSessionLocal() as fresh:
        assert await dataset_dao.count(fresh) == 2


async def test_dataset_get_all_order_filters_and_paging(dataset_dao, session, models):
    a = await dataset_dao.create(session, {"name": "alpha", "status": models.DatasetStatus.READY})
    b = await dataset_dao.create(session, {"name": "bravo"})
    c = await dataset_dao.create(session, {"name": "alphabet", "status": models.DatasetStatus.READY})

    all_ds = await dataset_dao.get_all(session)
    assert [d.id for d in all_ds] == [c.id, b.id, a.id]  # newest first
    assert all(isinstance(d, models.Dataset) for d in all_ds)
    assert [d.id for d in await dataset_dao.get_all(session, skip=1, limit=1)] == [b.id]
    assert [d.id for d in await dataset_dao.get_all(session, status=models.DatasetStatus.READY)] == [c.id, a.id]
    assert [d.id for d in await dataset_dao.get_all(session, status="pending")] == [b.id]
    assert [d.id for d in await dataset_dao.get_all(session, search="ALPHA")] == [c.id, a.id]
    assert await dataset_dao.get_all(session, search="zulu") == []


async def test_dataset_count(dataset_dao, session, models):
    assert await dataset_dao.count(session) == 0
    await dataset_dao.create(session, {"name": "a"})
    await dataset_dao.create(session, {"name": "b", "status": models.DatasetStatus.ARCHIVED})
    total = await dataset_dao.count(session)
    assert total == 2 and isinstance(total, int)
    assert await dataset_dao.count(session, status="archived") == 1
    assert await dataset_dao.count(session, status=models.DatasetStatus.READY) == 0


async def test_dataset_get_by_id(dataset_dao, session, mlops_db):
    ds = await dataset_dao.create(session, {"name": "lookup", "labels": {"a": 1}})
    async with mlops_db.AsyncSessionLocal() as fresh:
        loaded = await dataset_dao.get_by_id(fresh, ds.id)
        assert loaded.name == "lookup" and loaded.labels == {"a": 1}
        assert loaded.created_at == ds.created_at
        assert await dataset_dao.get_by_id(fresh, ds.id + 100) is None


async def test_dataset_get_by_name(dataset_dao, session):
    await dataset_dao.create(session, {"name": "ppe", "version": "v1"})
    v2 = await dataset_dao.create(session, {"name": "ppe", "version": "v2"})
    assert (await dataset_dao.get_by_name(session, "ppe")).id == v2.id  # latest
    assert (await dataset_dao.get_by_name(session, "ppe", "v1")).version == "v1"
    assert await dataset_dao.get_by_name(session, "ppe", "v9") is None
    assert await dataset_dao.get_by_name(session, "unknown") is None


async def test_dataset_update(dataset_dao, session, mlops_db, models):
    ds = await dataset_dao.create(session, {"name": "upd", "description": "first"})
    created_at, updated_at = ds.created_at, ds.updated_at
    updated = await dataset_dao.update(
        session, ds.id, {"description": "second", "sample_count": 500, "labels": {"x": 1}}
    )
    assert updated.description == "second"
    assert updated.sample_count == 500
    assert updated.labels == {"x": 1}
    assert updated.created_at == created_at
    assert updated.updated_at > updated_at
    async with mlops_db.AsyncSessionLocal() as fresh:
        reloaded = await dataset_dao.get_by_id(fresh, ds.id)
        assert (reloaded.description, reloaded.sample_count, reloaded.labels) == ("second", 500, {"x": 1})
    assert await dataset_dao.update(session, ds.id + 100, {"description": "nope"}) is None
    with pytest.raises(ValueError):
        await dataset_dao.update(session, ds.id, {"owner": "me"})


async def test_dataset_update_status(dataset_dao, session, models, probe):
    ds = await dataset_dao.create(session, {"name": "st"})
    updated = await dataset_dao.update_status(session, ds.id, "processing")
    assert updated.status is models.DatasetStatus.PROCESSING
    assert await probe.fetchval("SELECT status::text FROM datasets WHERE id = $1", ds.id) == "processing"
    assert await dataset_dao.update_status(session, ds.id + 1, models.DatasetStatus.READY) is None
    with pytest.raises(ValueError):
        await dataset_dao.update_status(session, ds.id, "exploded")


async def test_dataset_delete_detaches_deployments(dataset_dao, deployment_dao, session, mlops_db, probe):
    ds = await dataset_dao.create(session, {"name": "gone"})
    dep = await deployment_dao.create(
        session, {"name": "d", "model_name": "m", "model_version": "1", "dataset_id": ds.id}
    )
    assert await dataset_dao.delete(session, ds.id) is True
    assert await dataset_dao.delete(session, ds.id) is False
    assert await probe.fetchval("SELECT COUNT(*) FROM datasets") == 0
    async with mlops_db.AsyncSessionLocal() as fresh:
        assert (await deployment_dao.get_by_id(fresh, dep.id)).dataset_id is None


# --- deployments --------------------------------------------------------------


def _deployment(name, **extra):
    data = {"name": name, "model_name": "yolo-ppe", "model_version": "1.0.0"}
    data.update(extra)
    return data


async def test_deployment_create(deployment_dao, session, models):
    dep = await deployment_dao.create(
        session, _deployment("ppe-staging", replicas=2, config={"gpu": True, "batch": 8})
    )
    assert isinstance(dep, models.Deployment)
    assert dep.status is models.DeploymentStatus.PENDING
    assert dep.environment == "staging"
    assert dep.replicas == 2
    assert dep.config == {"gpu": True, "batch": 8}
    assert dep.metrics == {}
    assert dep.deployed_at is None
    assert dep.dataset_id is None
    assert dep.created_at.tzinfo is not None
    assert dep.to_dict()["status"] == "pending"


async def test_deployment_get_all_filters(deployment_dao, session, models):
    a = await deployment_dao.create(session, _deployment("a", environment="production"))
    b = await deployment_dao.create(session, _deployment("b", environment="staging"))
    c = await deployment_dao.create(session, _deployment("c", environment="production", status=models.DeploymentStatus.RUNNING))
    assert [d.id for d in await deployment_dao.get_all(session)] == [c.id, b.id, a.id]
    assert [d.id for d in await deployment_dao.get_all(session, environment="production")] == [c.id, a.id]
    assert [d.id for d in await deployment_dao.get_all(session, status="running")] == [c.id]
    assert [d.id for d in await deployment_dao.get_all(session, environment="staging", status="running")] == []
    assert [d.id for d in await deployment_dao.get_all(session, skip=1, limit=5)] == [b.id, a.id]


async def test_deployment_get_by_id(deployment_dao, session):
    dep = await deployment_dao.create(session, _deployment("x"))
    assert (await deployment_dao.get_by_id(session, dep.id)).name == "x"
    assert await deployment_dao.get_by_id(session, dep.id + 1) is None


async def test_deployment_update(deployment_dao, session, mlops_db):
    dep = await deployment_dao.create(session, _deployment("scale"))
    updated_at = dep.updated_at
    updated = await deployment_dao.update(session, dep.id, {"replicas": 4, "metrics": {"p95_ms": 41.5}})
    assert updated.replicas == 4
    assert updated.metrics == {"p95_ms": 41.5}
    assert updated.updated_at > updated_at
    async with mlops_db.AsyncSessionLocal() as fresh:
        assert (await deployment_dao.get_by_id(fresh, dep.id)).metrics == {"p95_ms": 41.5}
    assert await deployment_dao.update(session, dep.id + 9, {"replicas": 1}) is None


async def test_deployment_update_status_sets_deployed_at(deployment_dao, session, models):
    dep = await deployment_dao.create(session, _deployment("rollout"))
    deploying = await deployment_dao.update_status(session, dep.id, "deploying")
    assert deploying.status is models.DeploymentStatus.DEPLOYING
    assert deploying.deployed_at is None
    running = await deployment_dao.update_status(session, dep.id, models.DeploymentStatus.RUNNING)
    assert running.status is models.DeploymentStatus.RUNNING
    assert isinstance(running.deployed_at, datetime) and running.deployed_at.tzinfo is not None
    assert running.deployed_at >= running.created_at
    assert await deployment_dao.update_status(session, dep.id + 3, "running") is None


async def test_deployment_get_active(deployment_dao, session):
    old = await deployment_dao.create(session, _deployment("old", environment="production"))
    new = await deployment_dao.create(session, _deployment("new", environment="production"))
    await deployment_dao.create(session, _deployment("pending", environment="production"))
    staging = await deployment_dao.create(session, _deployment("stg", environment="staging"))
    assert await deployment_dao.get_active(session, "yolo-ppe") is None
    await deployment_dao.update_status(session, old.id, "running")
    await deployment_dao.update_status(session, new.id, "running")
    await deployment_dao.update_status(session, staging.id, "running")
    assert (await deployment_dao.get_active(session, "yolo-ppe")).id == new.id
    assert (await deployment_dao.get_active(session, "yolo-ppe", "staging")).id == staging.id
    assert await deployment_dao.get_active(session, "other-model") is None


async def test_deployment_count_by_status(deployment_dao, session):
    assert await deployment_dao.count_by_status(session) == {}
    for name, status in [("a", "running"), ("b", "running"), ("c", "failed"), ("d", None)]:
        dep = await deployment_dao.create(session, _deployment(name))
        if status:
            await deployment_dao.update_status(session, dep.id, status)
    assert await deployment_dao.count_by_status(session) == {"running": 2, "failed": 1, "pending": 1}


async def test_deployment_delete(deployment_dao, session, probe):
    dep = await deployment_dao.create(session, _deployment("bye"))
    keep = await deployment_dao.create(session, _deployment("stay"))
    assert await deployment_dao.delete(session, dep.id) is True
    assert await deployment_dao.delete(session, dep.id) is False
    assert [r["id"] for r in await probe.fetch("SELECT id FROM deployments")] == [keep.id]


# --- workflows ----------------------------------------------------------------

STEPS = [
    {"name": "extract_frames", "params": {"fps": 2}},
    {"name": "train", "params": {"epochs": 50, "lr": 0.001}},
    {"name": "evaluate", "params": {}},
]


async def test_workflow_create(workflow_dao, session, models):
    wf = await workflow_dao.create(
        session, {"name": "nightly-retrain", "trigger_type": "schedule", "schedule": "0 2 * * *", "steps": STEPS}
    )
    assert isinstance(wf, models.Workflow)
    assert wf.status is models.WorkflowStatus.DRAFT
    assert wf.steps == STEPS and isinstance(wf.steps, list)
    assert wf.config == {}
    assert wf.schedule == "0 2 * * *"
    assert wf.to_dict()["status"] == "draft"
    with pytest.raises(IntegrityError):
        await workflow_dao.create(session, {"name": "nightly-retrain"})


async def test_workflow_get_all(workflow_dao, session, models):
    await workflow_dao.create(session, {"name": "zeta", "status": models.WorkflowStatus.ACTIVE})
    await workflow_dao.create(session, {"name": "alpha"})
    await workflow_dao.create(session, {"name": "mid", "status": models.WorkflowStatus.ACTIVE})
    assert [w.name for w in await workflow_dao.get_all(session)] == ["alpha", "mid", "zeta"]
    assert [w.name for w in await workflow_dao.get_all(session, status="active")] == ["mid", "zeta"]
    assert [w.name for w in await workflow_dao.get_all(session, skip=1, limit=1)] == ["mid"]


async def test_workflow_get_by_id_and_name(workflow_dao, session):
    wf = await workflow_dao.create(session, {"name": "lookup", "steps": STEPS})
    assert (await workflow_dao.get_by_id(session, wf.id)).name == "lookup"
    assert await workflow_dao.get_by_id(session, wf.id + 5) is None
    assert (await workflow_dao.get_by_name(session, "lookup")).id == wf.id
    assert await workflow_dao.get_by_name(session, "missing") is None


async def test_workflow_update(workflow_dao, session, mlops_db, models):
    wf = await workflow_dao.create(session, {"name": "wf", "config": {"gpu": 1}})
    created_at, updated_at = wf.created_at, wf.updated_at
    updated = await workflow_dao.update(session, wf.id, {"status": "active", "config": {"gpu": 2}})
    assert updated.status is models.WorkflowStatus.ACTIVE
    assert updated.config == {"gpu": 2}
    assert updated.created_at == created_at
    assert updated.updated_at > updated_at
    async with mlops_db.AsyncSessionLocal() as fresh:
        assert (await workflow_dao.get_by_id(fresh, wf.id)).status is models.WorkflowStatus.ACTIVE
    assert await workflow_dao.update(session, wf.id + 5, {"description": "x"}) is None


async def test_workflow_runs_lifecycle(workflow_dao, session, models):
    wf = await workflow_dao.create(session, {"name": "runner", "status": models.WorkflowStatus.ACTIVE})
    run = await workflow_dao.start_run(session, wf.id, {"epochs": 3})
    assert isinstance(run, models.WorkflowRun)
    assert run.status is models.RunStatus.RUNNING
    assert run.parameters == {"epochs": 3}
    assert run.started_at.tzinfo is not None
    assert run.finished_at is None and run.duration_seconds is None

    done = await workflow_dao.finish_run(session, run.id, "succeeded", result={"mAP": 0.71})
    assert done.status is models.RunStatus.SUCCEEDED
    assert done.result == {"mAP": 0.71}
    assert done.error_message is None
    assert done.finished_at >= done.started_at
    assert isinstance(done.duration_seconds, float) and done.duration_seconds >= 0

    failed = await workflow_dao.start_run(session, wf.id)
    failed = await workflow_dao.finish_run(session, failed.id, models.RunStatus.FAILED, error_message="OOM")
    assert (failed.status, failed.error_message, failed.result, failed.parameters) == (
        models.RunStatus.FAILED, "OOM", None, {}
    )
    assert await workflow_dao.finish_run(session, failed.id + 10, "succeeded") is None


async def test_workflow_get_runs_and_stats(workflow_dao, session):
    wf = await workflow_dao.create(session, {"name": "stats"})
    other = await workflow_dao.create(session, {"name": "other"})
    r1 = await workflow_dao.start_run(session, wf.id)
    r2 = await workflow_dao.start_run(session, wf.id)
    r3 = await workflow_dao.start_run(session, wf.id)
    await workflow_dao.start_run(session, other.id)
    await workflow_dao.finish_run(session, r1.id, "succeeded")
    await workflow_dao.finish_run(session, r2.id, "failed", error_message="x")

    runs = await workflow_dao.get_runs(session, wf.id)
    assert [r.id for r in runs] == [r3.id, r2.id, r1.id]
    assert [r.id for r in await workflow_dao.get_runs(session, wf.id, limit=2)] == [r3.id, r2.id]

    stats = await workflow_dao.get_run_stats(session, wf.id)
    assert stats == {
        "queued": 0, "running": 1, "succeeded": 1, "failed": 1, "cancelled": 0, "total": 3,
    }
    empty = await workflow_dao.create(session, {"name": "empty"})
    assert (await workflow_dao.get_run_stats(session, empty.id))["total"] == 0
    assert await workflow_dao.get_runs(session, empty.id) == []


async def test_workflow_delete_removes_runs(workflow_dao, session, probe):
    wf = await workflow_dao.create(session, {"name": "doomed"})
    await workflow_dao.start_run(session, wf.id)
    await workflow_dao.start_run(session, wf.id)
    assert await workflow_dao.delete(session, wf.id) is True
    assert await workflow_dao.delete(session, wf.id) is False
    assert await probe.fetchval("SELECT COUNT(*) FROM workflow_runs") == 0
    assert await probe.fetchval("SELECT COUNT(*) FROM workflows") == 0


# --- session dependency -------------------------------------------------------


async def test_get_async_session_commits_on_success(mlops_db, models, probe):
    gen = mlops_db.get_async_session()
    s = await gen.__anext__()
    s.add(models.Dataset(name="via-dependency"))
    with pytest.raises(StopAsyncIteration):
        await gen.__anext__()
    assert await probe.fetchval("SELECT name FROM datasets") == "via-dependency"


async def test_get_async_session_rolls_back_on_error(mlops_db, models, probe):
    gen = mlops_db.get_async_session()
    s = await gen.__anext__()
    s.add(models.Dataset(name="never-stored"))
    await s.flush()
    with pytest.raises(RuntimeError):
        await gen.athrow(RuntimeError("request failed"))
    assert await probe.fetchval("SELECT COUNT(*) FROM datasets") == 0
