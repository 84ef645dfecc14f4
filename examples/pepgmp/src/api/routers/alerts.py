from __future__ import annotations

from datetime import datetime
from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, status

from src.api.schemas import AcknowledgeRequest, AlertCreate, BulkAcknowledgeRequest
from src.domain.exceptions import (
    AlertAlreadyAcknowledgedError,
    AlertNotFoundError,
    CameraNotFoundError,
    ValidationError,
)
from src.repositories.alert_repository import PostgreSQLAlertRepository
from src.services.alert_service import AlertService
from src.services.database_service import get_db_service

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])


async def get_alert_service():
    db = await get_db_service()
    alert_repo = PostgreSQLAlertRepository(db.pool)
    return AlertService(alert_repo)


@router.get("")
async def list_alerts(
    camera_id: Optional[int] = None,
    severity: Optional[list[str]] = Query(None),
    alert_type: Optional[str] = None,
    acknowledged: Optional[bool] = None,
    since: Optional[datetime] = None,
    until: Optional[datetime] = None,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
    service: AlertService = Depends(get_alert_service),
):
    try:
        alerts, total = await service.list_alerts(
            camera_id=camera_id,
            severity=severity,
            alert_type=alert_type,
            acknowledged=acknowledged,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return {
        "items": [a.to_dict() for a in alerts],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


@router.get("/statistics")
async def alert_statistics(
    hours: int = Query(24, ge=1, le=24 * 30),
    service: AlertService = Depends(get_alert_service),
):
    return await service.dashboard(hours)


@router.get("/{alert_id}")
async def get_alert(alert_id: int, service: AlertService = Depends(get_alert_service)):
    try:
        alert = await service.get_alert(alert_id)
    except AlertNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
    return alert.to_dict()


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_alert(body: AlertCreate, service: AlertService = Depends(get_alert_service)):
    try:
        alert = await service.raise_alert(
            camera_id=body.camera_id,
            alert_type=body.alert_type,
            message=body.message,
            severity=body.severity,
            metadata=body.metadata,
        )
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    except CameraNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
    return alert.to_dict()


@router.post("/acknowledge")
async def acknowledge_alerts(
    body: BulkAcknowledgeRequest, service: AlertService = Depends(get_alert_service)
):
    count = await service.acknowledge_many(body.alert_ids, body.user)
    return {"acknowledged": count}


@router.post("/{alert_id}/acknowledge")
async def acknowledge_alert(
    alert_id: int, body: AcknowledgeRequest, service: AlertService = Depends(get_alert_service)
):
    try:
        alert = await service.acknowledge(alert_id, body.user)
    except AlertNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
    except AlertAlreadyAcknowledgedError as exc:
        raise HTTPException(status_code=409, detail=str(exc))
    return alert.to_dict()
