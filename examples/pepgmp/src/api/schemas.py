"""Request bodies accepted by the HTTP API."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Optional

from pydantic import BaseModel, Field


class CameraCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=120)
    location: Optional[str] = None
    rtsp_url: Optional[str] = None
    status: str = "inactive"
    config: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


class CameraUpdate(BaseModel):
    name: Optional[str] = Field(None, min_length=1, max_length=120)
    location: Optional[str] = None
    rtsp_url: Optional[str] = None


class CameraStatusUpdate(BaseModel):
    status: str


class AlertCreate(BaseModel):
    camera_id: int
    alert_type: str = Field(..., min_length=1)
    message: str
    severity: str = "medium"
    metadata: dict[str, Any] = Field(default_factory=dict)


class AcknowledgeRequest(BaseModel):
    user: str = Field(..., min_length=1)


class BulkAcknowledgeRequest(BaseModel):
    alert_ids: list[int]
    user: str = Field(..., min_length=1)


class DetectionCreate(BaseModel):
    camera_id: int
    frame_id: int = Field(..., ge=0)
    objects: list[dict[str, Any]] = Field(default_factory=list)
    detected_at: Optional[datetime] = None
    processing_ms: Optional[float] = Field(None, ge=0)


class DatasetCreate(BaseModel):
    name: str = Field(..., min_length=1, max_length=200)
    version: str = "v1"
    description: Optional[str] = None
    source_path: Optional[str] = None
    status: str = "pending"
    sample_count: int = Field(0, ge=0)
    size_bytes: int = Field(0, ge=0)
    labels: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


class DatasetUpdate(BaseModel):
    description: Optional[str] = None
    source_path: Optional[str] = None
    status: Optional[str] = None
    sample_count: Optional[int] = Field(None, ge=0)
    size_bytes: Optional[int] = Field(None, ge=0)
    labels: Optional[dict[str, Any]] = None


class DeploymentCreate(BaseModel):
    name: str = Field(..., min_length=1)
    model_name: str
    model_version: str
    environment: str = "staging"
    replicas: int = Field(1, ge=0)
    config: dict[str, Any] = Field(default_factory=dict)
    dataset_id: Optional[int] = None


class DeploymentStatusUpdate(BaseModel):
    status: str


class WorkflowCreate(BaseModel):
    name: str = Field(..., min_length=1)
    description: Optional[str] = None
    status: str = "draft"
    trigger_type: str = "manual"
    schedule: Optional[str] = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    config: dict[str, Any] = Field(default_factory=dict)


class WorkflowRunCreate(BaseModel):
    parameters: dict[str, Any] = Field(default_factory=dict)
