"""Camera persistence on the shared SQLAlchemy engine."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.camera import Camera
from src.domain.exceptions import CameraAlreadyExistsError

logger = logging.getLogger(__name__)

UNIQUE_VIOLATION = "23505"

INSERT_CAMERA = text(
    """
    INSERT INTO cameras (name, location, rtsp_url, status, config, tags)
    VALUES (:name, :location, :rtsp_url, :status, CAST(:config AS jsonb),
            CAST(:tags AS text[]))
    RETURNING id, name, location, rtsp_url, status, config, tags, created_at, updated_at
    """
)

SELECT_CAMERA_BY_ID = text("SELECT * FROM cameras WHERE id = :id")

SELECT_CAMERA_BY_NAME = text("SELECT * FROM cameras WHERE name = :name")

LIST_CAMERAS = text(
    """
    SELECT * FROM cameras
    WHERE (CAST(:status AS text) IS NULL OR status = :status)
    ORDER BY name
    LIMIT :limit OFFSET :offset
    """
)

COUNT_CAMERAS = text(
    "SELECT COUNT(*) FROM cameras"
    " WHERE (CAST(:status AS text) IS NULL OR status = :status)"
)

SELECT_CAMERAS_BY_IDS = text(
    "SELECT * FROM cameras WHERE id = ANY(CAST(:ids AS int[])) ORDER BY id"
)

SELECT_CAMERAS_BY_TAG = text(
    "SELECT * FROM cameras WHERE :tag = ANY(tags) ORDER BY name"
)

CAMERA_EXISTS = text("SELECT EXISTS (SELECT 1 FROM cameras WHERE name = :name)")

# COALESCE keeps the current value for any field the caller did not send.
UPDATE_CAMERA = text(
    """
    UPDATE cameras
       SET name = COALESCE(:name, name),
           location = COALESCE(:location, location),
           rtsp_url = COALESCE(:rtsp_url, rtsp_url)
     WHERE id = :id
    RETURNING *
    """
)

UPDATE_CAMERA_STATUS = text("UPDATE cameras SET status = :status WHERE id = :id")

UPDATE_CAMERA_STATUSES = text(
    """
    UPDATE cameras SET status = :status
     WHERE id = ANY(CAST(:ids AS int[])) AND status <> :status
    """
)

ADD_CAMERA_TAGS = text(
    """
    UPDATE cameras
       SET tags = ARRAY(SELECT DISTINCT t
                          FROM unnest(tags || CAST(:tags AS text[])) AS t
                         ORDER BY t)
     WHERE id = :id
    RETURNING tags
    """
)

REMOVE_CAMERA_TAG = text(
    """
    UPDATE cameras SET tags = array_remove(tags, :tag)
     WHERE id = :id AND :tag = ANY(tags)
    """
)

MERGE_CAMERA_CONFIG = text(
    """
    UPDATE cameras SET config = config || CAST(:patch AS jsonb)
     WHERE id = :id
    RETURNING config
    """
)

DELETE_CAMERA = text("DELETE FROM cameras WHERE id = :id")

COUNT_BY_STATUS = text(
    "SELECT status, COUNT(*) FROM cameras GROUP BY status ORDER BY status"
)

# Inventory sync from the provisioning sheet: the sheet owns location, URL,
# tags and config keys, but never the operational status.
UPSERT_CAMERA = text(
    """
    INSERT INTO cameras (name, location, rtsp_url, status, config, tags)
    VALUES (:name, :location, :rtsp_url, :status, CAST(:config AS jsonb),
            CAST(:tags AS text[]))
    ON CONFLICT (name) DO UPDATE
       SET location = EXCLUDED.location,
           rtsp_url = EXCLUDED.rtsp_url,
           config = cameras.config || EXCLUDED.config,
           tags = EXCLUDED.tags
    """
)

CAMERAS_WITH_OPEN_ALERTS = text(
    """
    SELECT c.id,
           c.name,
           c.status,
           COUNT(a.id) FILTER (WHERE NOT a.acknowledged) AS open_alerts,
           MAX(a.created_at) AS last_alert_at
      FROM cameras c
      LEFT JOIN alerts a ON a.camera_id = c.id
     GROUP BY c.id, c.name, c.status
     ORDER BY open_alerts DESC, c.name
    """
)


def _row_to_camera(row: RowMapping) -> Camera:
    # the engine decodes json and jsonb columns itself
    return Camera(
        id=row["id"],
        name=row["name"],
        location=row["location"],
        rtsp_url=row["rtsp_url"],
        status=row["status"],
        config=row["config"] or {},
        tags=list(row["tags"] or []),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _camera_params(camera: Camera) -> dict[str, Any]:
    return {
        "name": camera.name,
        "location": camera.location,
        "rtsp_url": camera.rtsp_url,
        "status": camera.status,
        "config": json.dumps(camera.config or {}),
        "tags": list(camera.tags or []),
    }


class PostgreSQLCameraRepository:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def create(self, camera: Camera) -> Camera:
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(INSERT_CAMERA, _camera_params(camera))
                row = result.mappings().one()
        except IntegrityError as exc:
            if exc.orig.sqlstate == UNIQUE_VIOLATION:
                raise CameraAlreadyExistsError(camera.name) from exc
            raise
        logger.info("camera %s registered with id %s", camera.name, row["id"])
        return _row_to_camera(row)

    async def get_by_id(self, camera_id: int) -> Camera | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(SELECT_CAMERA_BY_ID, {"id": camera_id})
            row = result.mappings().first()
        return _row_to_camera(row) if row else None

    async def get_by_name(self, name: str) -> Camera | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(SELECT_CAMERA_BY_NAME, {"name": name})
            row = result.mappings().first()
        if row is None:
            return None
        return _row_to_camera(row)

    async def list_cameras(
        self, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Camera]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                LIST_CAMERAS, {"status": status, "limit": limit, "offset": offset}
            )
            rows = result.mappings().all()
        return [_row_to_camera(r) for r in rows]

    async def count(self, status: str | None = None) -> int:
        async with self._engine.connect() as conn:
            result = await conn.execute(COUNT_CAMERAS, {"status": status})
            return result.scalar_one()

    async def get_many(self, camera_ids: Iterable[int]) -> list[Camera]:
        ids = list(camera_ids)
        if not ids:
            return []
        async with self._engine.connect() as conn:
            result = await conn.execute(SELECT_CAMERAS_BY_IDS, {"ids": ids})
            rows = result.mappings().all()
        return [_row_to_camera(r) for r in rows]

    async def find_by_tag(self, tag: str) -> list[Camera]:
        async with self._engine.connect() as conn:
            result = await conn.execute(SELECT_CAMERAS_BY_TAG, {"tag": tag})
            rows = result.mappings().all()
        return [_row_to_camera(r) for r in rows]

    async def exists(self, name: str) -> bool:
        async with self._engine.connect() as conn:
            result = await conn.execute(CAMERA_EXISTS, {"name": name})
            return result.scalar_one()

    async def update(
        self,
        camera_id: int,
        *,
        name: str | None = None,
        location: str | None = None,
        rtsp_url: str | None = None,
    ) -> Camera | None:
        params = {
            "id": camera_id,
            "name": name,
            "location": location,
            "rtsp_url": rtsp_url,
        }
        try:
            async with self._engine.begin() as conn:
                result = await conn.execute(UPDATE_CAMERA, params)
                row = result.mappings().first()
        except IntegrityError as exc:
            if exc.orig.sqlstate == UNIQUE_VIOLATION:
                raise CameraAlreadyExistsError(name) from exc
            raise
        return _row_to_camera(row) if row else None

    async def update_status(self, camera_id: int, status: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                UPDATE_CAMERA_STATUS, {"id": camera_id, "status": status}
            )
        return result.rowcount > 0

    async def update_statuses(self, camera_ids: Iterable[int], status: str) -> int:
        """Set the status of several cameras; returns how many actually changed."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                UPDATE_CAMERA_STATUSES, {"ids": list(camera_ids), "status": status}
            )
        return result.rowcount

    async def add_tags(self, camera_id: int, tags: Iterable[str]) -> list[str] | None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                ADD_CAMERA_TAGS, {"id": camera_id, "tags": list(tags)}
            )
            new_tags = result.scalar_one_or_none()
        return list(new_tags) if new_tags is not None else None

    async def remove_tag(self, camera_id: int, tag: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                REMOVE_CAMERA_TAG, {"id": camera_id, "tag": tag}
            )
        return result.rowcount == 1

    async def merge_config(
        self, camera_id: int, patch: dict[str, Any]
    ) -> dict[str, Any] | None:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                MERGE_CAMERA_CONFIG, {"id": camera_id, "patch": json.dumps(patch)}
            )
            return result.scalar_one_or_none()

    async def delete(self, camera_id: int) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(DELETE_CAMERA, {"id": camera_id})
        return result.rowcount == 1

    async def count_by_status(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            result = await conn.execute(COUNT_BY_STATUS)
            return {status: total for status, total in result}

    async def upsert_many(self, cameras: Iterable[Camera]) -> None:
        params = [_camera_params(cam) for cam in cameras]
        if not params:
            return
        async with self._engine.begin() as conn:
            await conn.execute(UPSERT_CAMERA, params)

    async def list_with_open_alerts(self) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            result = await conn.execute(CAMERAS_WITH_OPEN_ALERTS)
            return [dict(r) for r in result.mappings()]
