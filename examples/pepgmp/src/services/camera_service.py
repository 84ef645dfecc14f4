from __future__ import annotations

from typing import Any, Iterable, Optional

from src.domain.camera import CAMERA_STATUSES, Camera
from src.domain.exceptions import CameraAlreadyExistsError, CameraNotFoundError, ValidationError
from src.repositories.camera_repository import PostgreSQLCameraRepository


def _check_status(status: str) -> None:
    if status not in CAMERA_STATUSES:
        raise ValidationError(f"unknown camera status {status!r}")


def _normalise_tags(tags: Iterable[str]) -> list[str]:
    return sorted({t.strip().lower() for t in tags if t and t.strip()})


class CameraService:
    def __init__(self, camera_repository: PostgreSQLCameraRepository):
        self.camera_repository = camera_repository

    async def register(
        self,
        name: str,
        location: Optional[str] = None,
        rtsp_url: Optional[str] = None,
        status: str = "inactive",
        config: Optional[dict[str, Any]] = None,
        tags: Iterable[str] = (),
    ) -> Camera:
        name = name.strip()
        if not name:
            raise ValidationError("camera name must not be empty")
        _check_status(status)
        if rtsp_url and not rtsp_url.startswith(("rtsp://", "rtsps://")):
            raise ValidationError("rtsp_url must start with rtsp:// or rtsps://")
        if await self.camera_repository.exists(name):
            raise CameraAlreadyExistsError(name)
        camera = Camera(
            name=name,
            location=location,
            rtsp_url=rtsp_url,
            status=status,
            config=config or {},
            tags=_normalise_tags(tags),
        )
        return await self.camera_repository.create(camera)

    async def get(self, camera_id: int) -> Camera:
        camera = await self.camera_repository.get_by_id(camera_id)
        if camera is None:
            raise CameraNotFoundError(camera_id)
        return camera

    async def get_by_name(self, name: str) -> Camera:
        camera = await self.camera_repository.get_by_name(name)
        if camera is None:
            raise CameraNotFoundError(name)
        return camera

    async def list_cameras(
        self, status: Optional[str] = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[Camera], int]:
        if status is not None:
            _check_status(status)
        cameras = await self.camera_repository.list_cameras(status, limit, offset)
        total = await self.camera_repository.count(status)
        return cameras, total

    async def get_many(self, camera_ids: Iterable[int]) -> list[Camera]:
        return await self.camera_repository.get_many(camera_ids)

    async def find_by_tag(self, tag: str) -> list[Camera]:
        return await self.camera_repository.find_by_tag(tag.strip().lower())

    async def update(self, camera_id: int, **fields: Optional[str]) -> Camera:
        rtsp_url = fields.get("rtsp_url")
        if rtsp_url and not rtsp_url.startswith(("rtsp://", "rtsps://")):
            raise ValidationError("rtsp_url must start with rtsp:// or rtsps://")
        camera = await self.camera_repository.update(camera_id, **fields)
        if camera is None:
            raise CameraNotFoundError(camera_id)
        return camera

    async def set_status(self, camera_id: int, status: str) -> None:
        _check_status(status)
        if not await self.camera_repository.update_status(camera_id, status):
            raise CameraNotFoundError(camera_id)

    async def bulk_set_status(self, camera_ids: Iterable[int], status: str) -> int:
        _check_status(status)
        return await self.camera_repository.update_statuses(camera_ids, status)

    async def add_tags(self, camera_id: int, tags: Iterable[str]) -> list[str]:
        result = await self.camera_repository.add_tags(camera_id, _normalise_tags(tags))
        if result is None:
            raise CameraNotFoundError(camera_id)
        return result

    async def remove_tag(self, camera_id: int, tag: str) -> bool:
        return await self.camera_repository.remove_tag(camera_id, tag.strip().lower())

    async def update_config(self, camera_id: int, patch: dict[str, Any]) -> dict[str, Any]:
        config = await self.camera_repository.merge_config(camera_id, patch)
        if config is None:
            raise CameraNotFoundError(camera_id)
        return config

    async def remove(self, camera_id: int) -> None:
        if not await self.camera_repository.delete(camera_id):
            raise CameraNotFoundError(camera_id)

    async def sync_inventory(self, cameras: Iterable[Camera]) -> int:
        cameras = list(cameras)
        for cam in cameras:
            _check_status(cam.status)
            cam.tags = _normalise_tags(cam.tags)
        await self.camera_repository.upsert_many(cameras)
        return len(cameras)

    async def status_overview(self) -> dict[str, int]:
        counts = await self.camera_repository.count_by_status()
        return {status: counts.get(status, 0) for status in CAMERA_STATUSES}

    async def alert_overview(self) -> list[dict[str, Any]]:
        return await self.camera_repository.list_with_open_alerts()
