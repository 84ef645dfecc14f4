"""Data access objects for the MLOps tables.

All methods take the request's AsyncSession; writes commit immediately so the
caller gets back fully refreshed objects (server defaults included).
"""
from __future__ import annotations

from typing import Any, Optional, Union

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from src.database.models import (
    Dataset,
    DatasetStatus,
    Deployment,
    DeploymentStatus,
    RunStatus,
    Workflow,
    WorkflowRun,
    WorkflowStatus,
)

DATASET_FIELDS = {
    "name", "version", "description", "source_path", "status",
    "sample_count", "size_bytes", "labels", "extra",
}
DEPLOYMENT_FIELDS = {
    "name", "model_name", "model_version", "environment", "status",
    "replicas", "config", "metrics", "dataset_id",
}
WORKFLOW_FIELDS = {"name", "description", "status", "trigger_type", "schedule", "steps", "config"}


def _clean(data: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"unknown fields: {', '.join(sorted(unknown))}")
    return dict(data)


class DatasetDAO:
    @staticmethod
    async def get_all(
        session: AsyncSession,
        skip: int = 0,
        limit: int = 100,
        status: Union[DatasetStatus, str, None] = None,
        search: Optional[str] = None,
    ) -> list[Dataset]:
        stmt = select(Dataset)
        if status is not None:
            stmt = stmt.where(Dataset.status == DatasetStatus(status))
        if search:
            stmt = stmt.where(Dataset.name.ilike(f"%{search}%"))
        stmt = stmt.order_by(Dataset.created_at.desc(), Dataset.id.desc()).offset(skip).limit(limit)
        result = await session.execute(stmt)
        return list(result.scalars().all())

    @staticmethod
    async def count(session: AsyncSession, status: Union[DatasetStatus, str, None] = None) -> int:
        stmt = select(func.count(Dataset.id))
        if status is not None:
            stmt = stmt.where(Dataset.status == DatasetStatus(status))
        return (await session.execute(stmt)).scalar_one()

    @staticmethod
    async def get_by_id(session: AsyncSession, dataset_id: int) -> Optional[Dataset]:
        return await session.get(Dataset, dataset_id)

    @staticmethod
    async def get_by_name(
        session: AsyncSession, name: str, version: Optional[str] = None
    ) -> Optional[Dataset]:
        stmt = select(Dataset).where(Dataset.name == name)
        if version is not None:
            stmt = stmt.where(Dataset.version == version)
        stmt = stmt.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(1)
        return (await session.execute(stmt)).scalars().first()

    @staticmethod
    async def create(session: AsyncSession, data: dict[str, Any]) -> Dataset:
        dataset = Dataset(**_clean(data, DATASET_FIELDS))
        session.add(dataset)
        await session.commit()
        await session.refresh(dataset)
        return dataset

    @staticmethod
    async def update(session: AsyncSession, dataset_id: int, data: dict[str, Any]) -> Optional[Dataset]:
        dataset = await session.get(Dataset, dataset_id)
        if dataset is None:
            return None
        for key, value in _clean(data, DATASET_FIELDS).items():
            setattr(dataset, key, value)
        await session.commit()
        await session.refresh(dataset)
        return dataset

    @staticmethod
    async def update_status(
        session: AsyncSession, dataset_id: int, status: Union[DatasetStatus, str]
    ) -> Optional[Dataset]:
        return await DatasetDAO.update(session, dataset_id, {"status": DatasetStatus(status)})

    @staticmethod
    async def delete(session: AsyncSession, dataset_id: int) -> bool:
        dataset = await session.get(Dataset, dataset_id)
        if dataset is None:
            return False
        await session.delete(dataset)
        await session.commit()
        return True


class DeploymentDAO:
    @staticmethod
    async def get_all(
        session: AsyncSession,
        skip: int = 0,
        limit: int = 100,
        environment: Optional[str] = None,
        status: Union[DeploymentStatus, str, None] = None,
    ) -> list[Deployment]:
        stmt = select(Deployment)
        if environment:
            stmt = stmt.where(Deployment.environment == environment)
        if status is not None:
            stmt = stmt.where(Deployment.status == DeploymentStatus(status))
        stmt = stmt.order_by(Deployment.created_at.desc(), Deployment.id.desc()).offset(skip).limit(limit)
        result = await session.execute(stmt)
        return list(result.scalars().all())

    @staticmethod
    async def get_by_id(session: AsyncSession, deployment_id: int) -> Optional[Deployment]:
        return await session.get(Deployment, deployment_id)

    @staticmethod
    async def get_active(
        session: AsyncSession, model_name: str, environment: str = "production"
    ) -> Optional[Deployment]:
        """The most recently deployed running deployment of a model."""
        stmt = (
            select(Deployment)
            .where(
                Deployment.model_name == model_name,
                Deployment.environment == environment,
                Deployment.status == DeploymentStatus.RUNNING,
            )
            .order_by(Deployment.deployed_at.desc().nulls_last(), Deployment.id.desc())
            .limit(1)
        )
        return (await session.execute(stmt)).scalars().first()

    @staticmethod
    async def create(session: AsyncSession, data: dict[str, Any]) -> Deployment:
        deployment = Deployment(**_clean(data, DEPLOYMENT_FIELDS))
        session.add(deployment)
        await session.commit()
        await session.refresh(deployment)
        return deployment

    @staticmethod
    async def update(
        session: AsyncSession, deployment_id: int, data: dict[str, Any]
    ) -> Optional[Deployment]:
        deployment = await session.get(Deployment, deployment_id)
        if deployment is None:
            return None
        for key, value in _clean(data, DEPLOYMENT_FIELDS).items():
            setattr(deployment, key, value)
        await session.commit()
        await session.refresh(deployment)
        return deployment

    @staticmethod
    async def update_status(
        session: AsyncSession, deployment_id: int, status: Union[DeploymentStatus, str]
    ) -> Optional[Deployment]:
        status = DeploymentStatus(status)
        deployment = await session.get(Deployment, deployment_id)
        if deployment is None:
            return None
        deployment.status = status
        if status is DeploymentStatus.RUNNING:
            deployment.deployed_at = func.now()
        await session.commit()
        await session.refresh(deployment)
        return deployment

    @staticmethod
    async def count_by_status(session: AsyncSession) -> dict[str, int]:
        stmt = select(Deployment.status, func.count()).group_by(Deployment.status)
        rows = (await session.execute(stmt)).all()
        return {status.value: n for status, n in rows}

    @staticmethod
    async def delete(session: AsyncSession, deployment_id: int) -> bool:
        result = await session.execute(delete(Deployment).where(Deployment.id == deployment_id))
        await session.commit()
        return result.rowcount > 0


class WorkflowDAO:
    @staticmethod
    async def get_all(
        session: AsyncSession,
        skip: int = 0,
        limit: int = 100,
        status: Union[WorkflowStatus, str, None] = None,
    ) -> list[Workflow]:
        stmt = select(Workflow)
        if status is not None:
            stmt = stmt.where(Workflow.status == WorkflowStatus(status))
        stmt = stmt.order_by(Workflow.name).offset(skip).limit(limit)
        return list((await session.execute(stmt)).scalars().all())

    @staticmethod
    async def get_by_id(session: AsyncSession, workflow_id: int) -> Optional[Workflow]:
        return await session.get(Workflow, workflow_id)

    @staticmethod
    async def get_by_name(session: AsyncSession, name: str) -> Optional[Workflow]:
        result = await session.execute(select(Workflow).where(Workflow.name == name))
        return result.scalar_one_or_none()

    @staticmethod
    async def create(session: AsyncSession, data: dict[str, Any]) -> Workflow:
        workflow = Workflow(**_clean(data, WORKFLOW_FIELDS))
        session.add(workflow)
        await session.commit()
        await session.refresh(workflow)
        return workflow

    @staticmethod
    async def update(session: AsyncSession, workflow_id: int, data: dict[str, Any]) -> Optional[Workflow]:
        values = _clean(data, WORKFLOW_FIELDS)
        if "status" in values:
            values["status"] = WorkflowStatus(values["status"])
        result = await session.execute(
            update(Workflow)
            .where(Workflow.id == workflow_id)
            .values(**values, updated_at=func.now())
            .returning(Workflow.id)
        )
        if result.scalar_one_or_none() is None:
            await session.rollback()
            return None
        await session.commit()
        workflow = await session.get(Workflow, workflow_id, populate_existing=True)
        return workflow

    @staticmethod
    async def delete(session: AsyncSession, workflow_id: int) -> bool:
        workflow = await session.get(Workflow, workflow_id)
        if workflow is None:
            return False
        await session.delete(workflow)  # runs go with it (ON DELETE CASCADE)
        await session.commit()
        return True

    @staticmethod
    async def start_run(
        session: AsyncSession, workflow_id: int, parameters: Optional[dict[str, Any]] = None
    ) -> WorkflowRun:
        run = WorkflowRun(
            workflow_id=workflow_id, status=RunStatus.RUNNING, parameters=parameters or {}
        )
        session.add(run)
        await session.commit()
        await session.refresh(run)
        return run

    @staticmethod
    async def finish_run(
        session: AsyncSession,
        run_id: int,
        status: Union[RunStatus, str],
        result: Optional[dict[str, Any]] = None,
        error_message: Optional[str] = None,
    ) -> Optional[WorkflowRun]:
        run = await session.get(WorkflowRun, run_id)
        if run is None:
            return None
        run.status = RunStatus(status)
        run.result = result
        run.error_message = error_message
        run.finished_at = func.now()
        await session.commit()
        await session.refresh(run)
        return run

    @staticmethod
    async def get_runs(session: AsyncSession, workflow_id: int, limit: int = 20) -> list[WorkflowRun]:
        stmt = (
            select(WorkflowRun)
            .where(WorkflowRun.workflow_id == workflow_id)
            .order_by(WorkflowRun.started_at.desc(), WorkflowRun.id.desc())
            .limit(limit)
        )
        return list((await session.execute(stmt)).scalars().all())

    @staticmethod
    async def get_run_stats(session: AsyncSession, workflow_id: int) -> dict[str, int]:
        stmt = (
            select(WorkflowRun.status, func.count(WorkflowRun.id))
            .where(WorkflowRun.workflow_id == workflow_id)
            .group_by(WorkflowRun.status)
        )
        rows = (await session.execute(stmt)).all()
        stats = {s.value: 0 for s in RunStatus}
        for status, n in rows:
            stats[status.value] = n
        stats["total"] = sum(n for _, n in rows)
        return stats
