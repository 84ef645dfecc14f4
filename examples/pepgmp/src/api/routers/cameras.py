from __future__ import annotations

from typing import Optional

from fastapi import APIRouter, Depends, HTTPException, Query, Response, status

from src.api.schemas import CameraCreate, CameraStatusUpdate, CameraUpdate
from src.domain.exceptions import CameraAlreadyExistsError, CameraNotFoundError, ValidationError
from src.repositories.camera_repository import PostgreSQLCameraRepository
from src.services.camera_service import CameraService
from src.services.database_service import get_db_service

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])


async def get_camera_service():
    db = await get_db_service()
    camera_repo = PostgreSQLCameraRepository(db.pool)
    return CameraService(camera_repo)


@router.get("")
async def list_cameras(
    status: Optional[str] = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
    service: CameraService = Depends(get_camera_service),
):
    try:
        cameras, total = await service.list_cameras(status, limit, offset)
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return {"items": [c.to_dict() for c in cameras], "total": total}


@router.get("/overview")
async def camera_overview(service: CameraService = Depends(get_camera_service)):
    return {
        "by_status": await service.status_overview(),
        "cameras": await service.alert_overview(),
    }


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_camera(body: CameraCreate, service: CameraService = Depends(get_camera_service)):
    try:
        camera = await service.register(
            name=body.name,
            location=body.location,
            rtsp_url=body.rtsp_url,
            status=body.status,
            config=body.config,
            tags=body.tags,
        )
    except CameraAlreadyExistsError as exc:
        raise HTTPException(status_code=409, detail=str(exc))
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return camera.to_dict()


@router.get("/{camera_id}")
async def get_camera(camera_id: int, service: CameraService = Depends(get_camera_service)):
    try:
        return (await service.get(camera_id)).to_dict()
    except CameraNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))


@router.patch("/{camera_id}")
async def update_camera(
    camera_id: int, body: CameraUpdate, service: CameraService = Depends(get_camera_service)
):
    try:
        camera = await service.update(camera_id, **body.model_dump(exclude_unset=True))
    except CameraNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
    except CameraAlreadyExistsError as exc:
        raise HTTPException(status_code=409, detail=str(exc))
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return camera.to_dict()


@router.put("/{camera_id}/status")
async def set_camera_status(
    camera_id: int, body: CameraStatusUpdate, service: CameraService = Depends(get_camera_service)
):
    try:
        await service.set_status(camera_id, body.status)
    except CameraNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
    except ValidationError as exc:
        raise HTTPException(status_code=400, detail=str(exc))
    return {"id": camera_id, "status": body.status}


@router.delete("/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_camera(camera_id: int, service: CameraService = Depends(get_camera_service)):
    try:
        await service.remove(camera_id)
    except CameraNotFoundError as exc:
        raise HTTPException(status_code=404, detail=str(exc))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
