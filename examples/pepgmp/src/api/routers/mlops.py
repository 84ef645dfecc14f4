"""MLOps endpoints: datasets, deployments and workflows (SQLAlchemy ORM)."""
from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from src.api.schemas import (
    DatasetCreate,
    DatasetUpdate,
    DeploymentCreate,
    DeploymentStatusUpdate,
    WorkflowCreate,
    WorkflowRunCreate,
)
from src.database.connection import get_async_session
from src.database.dao import DatasetDAO, DeploymentDAO, WorkflowDAO
from src.database.models import DatasetStatus, DeploymentStatus, WorkflowStatus

router = APIRouter(prefix="/api/v1/mlops", tags=["mlops"])


def _parse_enum(enum_cls, value: Optional[str]):
    if value is None:
        return None
    try:
        return enum_cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum_cls)
        raise HTTPException(status_code=400, detail=f"invalid status {value!r}; expected one of: {allowed}")


# --- datasets ---------------------------------------------------------------


@router.get("/datasets")
async def get_datasets(
    skip: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
    status: Optional[str] = None,
    search: Optional[str] = None,
    session: AsyncSession = Depends(get_async_session),
):
    status_enum = _parse_enum(DatasetStatus, status)
    datasets = await DatasetDAO.get_all(session, skip=skip, limit=limit, status=status_enum, search=search)
    total = await DatasetDAO.count(session, status=status_enum)
    return {"items": [d.to_dict() for d in datasets], "total": total}


@router.post("/datasets", status_code=201)
async def create_dataset(body: DatasetCreate, session: AsyncSession = Depends(get_async_session)):
    data = body.model_dump()
    data["extra"] = data.pop("metadata")
    data["status"] = _parse_enum(DatasetStatus, data["status"])
    try:
        dataset = await DatasetDAO.create(session, data)
    except IntegrityError:
        raise HTTPException(
            status_code=409, detail=f"dataset {body.name!r} version {body.version!r} already exists"
        )
    return dataset.to_dict()


@router.get("/datasets/{dataset_id}")
async def get_dataset(dataset_id: int, session: AsyncSession = Depends(get_async_session)):
    dataset = await DatasetDAO.get_by_id(session, dataset_id)
    if dataset is None:
        raise HTTPException(status_code=404, detail="dataset not found")
    return dataset.to_dict()


@router.put("/datasets/{dataset_id}")
async def update_dataset(
    dataset_id: int, body: DatasetUpdate, session: AsyncSession = Depends(get_async_session)
):
    data = body.model_dump(exclude_unset=True)
    if "status" in data:
        data["status"] = _parse_enum(DatasetStatus, data["status"])
    dataset = await DatasetDAO.update(session, dataset_id, data)
    if dataset is None:
        raise HTTPException(status_code=404, detail="dataset not found")
    return dataset.to_dict()


@router.delete("/datasets/{dataset_id}", status_code=204)
async def delete_dataset(dataset_id: int, session: AsyncSession = Depends(get_async_session)):
    if not await DatasetDAO.delete(session, dataset_id):
        raise HTTPException(status_code=404, detail="dataset not found")
    return Response(status_code=204)


# --- deployments ------------------------------------------------------------


@router.get("/deployments")
async def get_deployments(
    skip: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
    environment: Optional[str] = None,
    status: Optional[str] = None,
    session: AsyncSession = Depends(get_async_session),
):
    deployments = await DeploymentDAO.get_all(
        session,
        skip=skip,
        limit=limit,
        environment=environment,
        status=_parse_enum(DeploymentStatus, status),
    )
    return [d.to_dict() for d in deployments]


@router.post("/deployments", status_code=201)
async def create_deployment(body: DeploymentCreate, session: AsyncSession = Depends(get_async_session)):
    if body.dataset_id is not None and await DatasetDAO.get_by_id(session, body.dataset_id) is None:
        raise HTTPException(status_code=404, detail="dataset not found")
    deployment = await DeploymentDAO.create(session, body.model_dump())
    return deployment.to_dict()


@router.get("/deployments/{deployment_id}")
async def get_deployment(deployment_id: int, session: AsyncSession = Depends(get_async_session)):
    deployment = await DeploymentDAO.get_by_id(session, deployment_id)
    if deployment is None:
        raise HTTPException(status_code=404, detail="deployment not found")
    return deployment.to_dict()


@router.put("/deployments/{deployment_id}/status")
async def update_deployment_status(
    deployment_id: int,
    body: DeploymentStatusUpdate,
    session: AsyncSession = Depends(get_async_session),
):
    deployment = await DeploymentDAO.update_status(
        session, deployment_id, _parse_enum(DeploymentStatus, body.status)
    )
    if deployment is None:
        raise HTTPException(status_code=404, detail="deployment not found")
    return deployment.to_dict()


# --- workflows --------------------------------------------------------------


@router.get("/workflows")
async def get_workflows(
    skip: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=500),
    status: Optional[str] = None,
    session: AsyncSession = Depends(get_async_session),
):
    workflows = await WorkflowDAO.get_all(
        session, skip=skip, limit=limit, status=_parse_enum(WorkflowStatus, status)
    )
    return [w.to_dict() for w in workflows]


@router.post("/workflows", status_code=201)
async def create_workflow(body: WorkflowCreate, session: AsyncSession = Depends(get_async_session)):
    data = body.model_dump()
    data["status"] = _parse_enum(WorkflowStatus, data["status"])
    try:
        workflow = await WorkflowDAO.create(session, data)
    except IntegrityError:
        raise HTTPException(status_code=409, detail=f"workflow {body.name!r} already exists")
    return workflow.to_dict()


@router.post("/workflows/{workflow_id}/runs", status_code=201)
async def start_workflow_run(
    workflow_id: int, body: WorkflowRunCreate, session: AsyncSession = Depends(get_async_session)
):
    workflow = await WorkflowDAO.get_by_id(session, workflow_id)
    if workflow is None:
        raise HTTPException(status_code=404, detail="workflow not found")
    if workflow.status is not WorkflowStatus.ACTIVE:
        raise HTTPException(status_code=409, detail=f"workflow is {workflow.status.value}, not active")
    run = await WorkflowDAO.start_run(session, workflow_id, body.parameters)
    return run.to_dict()


@router.get("/workflows/{workflow_id}/runs")
async def get_workflow_runs(
    workflow_id: int,
    limit: int = Query(20, ge=1, le=200),
    session: AsyncSession = Depends(get_async_session),
):
    if await WorkflowDAO.get_by_id(session, workflow_id) is None:
        raise HTTPException(status_code=404, detail="workflow not found")
    runs = await WorkflowDAO.get_runs(session, workflow_id, limit=limit)
    stats = await WorkflowDAO.get_run_stats(session, workflow_id)
    return {"items": [r.to_dict() for r in runs], "stats": stats}
