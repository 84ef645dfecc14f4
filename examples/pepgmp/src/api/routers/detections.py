from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query

from src.api.schemas import DetectionCreate
from src.domain.exceptions import DetectionNotFoundError, ValidationError
from src.repositories.detection_repository import PostgreSQLDetectionRecordRepository
from src.services.database_service import get_db_service
from src.services.detection_service import DetectionService

router = APIRouter(prefix="/api/v1/detections", tags=["detections"])


async def get_detection_service():
    db = await get_db_service()
    detection_repo = PostgreSQLDetectionRecordRepository(db.pool)
    return DetectionService(detection_repo)


@router.post("", status_code=201)
async def record_detection(
    body: DetectionCreate, service: DetectionService = Depends(get_detection_service)
):
    try:
        record = await service.record(
            camera_id=body.camera_id,
            frame_id=body.frame_id,
            objects=body.objects,
            detected_at=body.detected_at,
            processing_ms=body.processing_ms,
        )
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return record.to_dict()


@router.get("")
async def search_detections(
    camera_id: Optional[list[int]] = Query(None),
    start: Optional[datetime] = None,
    end: Optional[datetime] = None,
    min_confidence: Optional[Decimal] = Query(None, ge=0, le=1),
    object_class: Optional[str] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    service: DetectionService = Depends(get_detection_service),
):
    try:
        records = await service.search(
            camera_ids=camera_id,
            start=start,
            end=end,
            min_confidence=min_confidence,
            object_class=object_class,
            limit=limit,
            offset=offset,
        )
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return {"items": [r.to_dict() for r in records], "limit": limit, "offset": offset}


@router.get("/cameras/{camera_id}/hourly")
async def hourly_summary(
    camera_id: int,
    start: datetime,
    end: datetime,
    service: DetectionService = Depends(get_detection_service),
):
    try:
        return await service.hourly_summary(camera_id, start, end)
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))


@router.get("/cameras/{camera_id}/classes")
async def class_breakdown(
    camera_id: int,
    hours: int = Query(24, ge=1, le=24 * 30),
    service: DetectionService = Depends(get_detection_service),
):
    return await service.class_breakdown(camera_id, hours)


@router.get("/{record_id}")
async def get_detection(record_id: int, service: DetectionService = Depends(get_detection_service)):
    try:
        return (await service.get(record_id)).to_dict()
    except DetectionNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
