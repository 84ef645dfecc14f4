"""ORM models for the MLOps module."""
from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import BigInteger, DateTime, Enum, ForeignKey, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from src.database.connection import Base


def _pg_enum(enum_cls: type[enum.Enum], name: str) -> Enum:
    # Store the lower-case values, not the Python member names.
    return Enum(enum_cls, name=name, values_callable=lambda e: [m.value for m in e])


class DatasetStatus(str, enum.Enum):
    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    ARCHIVED = "archived"


class DeploymentStatus(str, enum.Enum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"
    ROLLED_BACK = "rolled_back"


class WorkflowStatus(str, enum.Enum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now(), nullable=False
    )


class Dataset(TimestampMixin, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_datasets_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    version: Mapped[str] = mapped_column(String(50), nullable=False, default="v1")
    description: Mapped[Optional[str]] = mapped_column(Text)
    source_path: Mapped[Optional[str]] = mapped_column(String(500))
    status: Mapped[DatasetStatus] = mapped_column(
        _pg_enum(DatasetStatus, "dataset_status"), nullable=False, default=DatasetStatus.PENDING
    )
    sample_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    labels: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)

    # ON DELETE SET NULL does the work; never load the collection just to delete.
    deployments: Mapped[list["Deployment"]] = relationship(
        back_populates="dataset", passive_deletes=True
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "source_path": self.source_path,
            "status": self.status.value,
            "sample_count": self.sample_count,
            "size_bytes": self.size_bytes,
            "labels": self.labels,
            "metadata": self.extra,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class Deployment(TimestampMixin, Base):
    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    model_name: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    model_version: Mapped[str] = mapped_column(String(50), nullable=False)
    environment: Mapped[str] = mapped_column(String(50), nullable=False, default="staging")
    status: Mapped[DeploymentStatus] = mapped_column(
        _pg_enum(DeploymentStatus, "deployment_status"),
        nullable=False,
        default=DeploymentStatus.PENDING,
    )
    replicas: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    dataset_id: Mapped[Optional[int]] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), nullable=True
    )
    deployed_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    dataset: Mapped[Optional[Dataset]] = relationship(back_populates="deployments")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "model_name": self.model_name,
            "model_version": self.model_version,
            "environment": self.environment,
            "status": self.status.value,
            "replicas": self.replicas,
            "config": self.config,
            "metrics": self.metrics,
            "dataset_id": self.dataset_id,
            "deployed_at": self.deployed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class Workflow(TimestampMixin, Base):
    __tablename__ = "workflows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    description: Mapped[Optional[str]] = mapped_column(Text)
    status: Mapped[WorkflowStatus] = mapped_column(
        _pg_enum(WorkflowStatus, "workflow_status"), nullable=False, default=WorkflowStatus.DRAFT
    )
    trigger_type: Mapped[str] = mapped_column(String(20), nullable=False, default="manual")
    schedule: Mapped[Optional[str]] = mapped_column(String(100))  # cron expression
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, nullable=False, default=list)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)

    runs: Mapped[list["WorkflowRun"]] = relationship(
        back_populates="workflow", cascade="all, delete-orphan", passive_deletes=True
    )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "status": self.status.value,
            "trigger_type": self.trigger_type,
            "schedule": self.schedule,
            "steps": self.steps,
            "config": self.config,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


class WorkflowRun(Base):
    __tablename__ = "workflow_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow_id: Mapped[int] = mapped_column(
        ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[RunStatus] = mapped_column(
        _pg_enum(RunStatus, "workflow_run_status"), nullable=False, default=RunStatus.QUEUED
    )
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    result: Mapped[Optional[dict[str, Any]]] = mapped_column(JSONB)
    error_message: Mapped[Optional[str]] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    finished_at: Mapped[Optional[datetime]] = mapped_column(DateTime(timezone=True))

    workflow: Mapped[Workflow] = relationship(back_populates="runs")

    @property
    def duration_seconds(self) -> Optional[float]:
        if self.finished_at is None or self.started_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflow_id": self.workflow_id,
            "status": self.status.value,
            "parameters": self.parameters,
            "result": self.result,
            "error_message": self.error_message,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
        }
