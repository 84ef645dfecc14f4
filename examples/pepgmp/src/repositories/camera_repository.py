"""Camera persistence on the shared asyncpg pool."""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable, Optional

import asyncpg

from src.domain.camera import Camera
from src.domain.exceptions import CameraAlreadyExistsError

logger = logging.getLogger(__name__)

INSERT_CAMERA_SQL = """
    INSERT INTO cameras (name, location, rtsp_url, status, config, tags)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6::text[])
    RETURNING id, name, location, rtsp_url, status, config, tags, created_at, updated_at
"""

SELECT_CAMERA_BY_ID_SQL = "SELECT * FROM cameras WHERE id = $1"

SELECT_CAMERA_BY_NAME_SQL = "SELECT * FROM cameras WHERE name = $1"

LIST_CAMERAS_SQL = """
    SELECT * FROM cameras
    WHERE ($1::text IS NULL OR status = $1)
    ORDER BY name
    LIMIT $2 OFFSET $3
"""

COUNT_CAMERAS_SQL = "SELECT COUNT(*) FROM cameras WHERE ($1::text IS NULL OR status = $1)"

SELECT_CAMERAS_BY_IDS_SQL = "SELECT * FROM cameras WHERE id = ANY($1::int[]) ORDER BY id"

SELECT_CAMERAS_BY_TAG_SQL = "SELECT * FROM cameras WHERE $1 = ANY(tags) ORDER BY name"

CAMERA_EXISTS_SQL = "SELECT EXISTS (SELECT 1 FROM cameras WHERE name = $1)"

# COALESCE keeps the current value for any field the caller did not send.
UPDATE_CAMERA_SQL = """
    UPDATE cameras
       SET name = COALESCE($2, name),
           location = COALESCE($3, location),
           rtsp_url = COALESCE($4, rtsp_url)
     WHERE id = $1
    RETURNING *
"""

UPDATE_CAMERA_STATUS_SQL = "UPDATE cameras SET status = $2 WHERE id = $1"

UPDATE_CAMERA_STATUSES_SQL = """
    UPDATE cameras SET status = $2
     WHERE id = ANY($1::int[]) AND status <> $2
"""

ADD_CAMERA_TAGS_SQL = """
    UPDATE cameras
       SET tags = ARRAY(SELECT DISTINCT t FROM unnest(tags || $2::text[]) AS t ORDER BY t)
     WHERE id = $1
    RETURNING tags
"""

REMOVE_CAMERA_TAG_SQL = """
    UPDATE cameras SET tags = array_remove(tags, $2)
     WHERE id = $1 AND $2 = ANY(tags)
"""

MERGE_CAMERA_CONFIG_SQL = """
    UPDATE cameras SET config = config || $2::jsonb
     WHERE id = $1
    RETURNING config
"""

DELETE_CAMERA_SQL = "DELETE FROM cameras WHERE id = $1"

COUNT_BY_STATUS_SQL = "SELECT status, COUNT(*) FROM cameras GROUP BY status ORDER BY status"

# Inventory sync from the provisioning sheet: the sheet owns location, URL,
# tags and config keys, but never the operational status.
UPSERT_CAMERA_SQL = """
    INSERT INTO cameras (name, location, rtsp_url, status, config, tags)
    VALUES ($1, $2, $3, $4, $5::jsonb, $6::text[])
    ON CONFLICT (name) DO UPDATE
       SET location = EXCLUDED.location,
           rtsp_url = EXCLUDED.rtsp_url,
           config = cameras.config || EXCLUDED.config,
           tags = EXCLUDED.tags
"""

CAMERAS_WITH_OPEN_ALERTS_SQL = """
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


def _record_to_camera(record: asyncpg.Record) -> Camera:
    config = record["config"]
    return Camera(
        id=record["id"],
        name=record["name"],
        location=record["location"],
        rtsp_url=record["rtsp_url"],
        status=record["status"],
        config=json.loads(config) if config else {},
        tags=list(record["tags"] or []),
        created_at=record["created_at"],
        updated_at=record["updated_at"],
    )


class PostgreSQLCameraRepository:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def create(self, camera: Camera) -> Camera:
        async with self._pool.acquire() as conn:
            try:
                row = await conn.fetchrow(
                    INSERT_CAMERA_SQL,
                    camera.name,
                    camera.location,
                    camera.rtsp_url,
                    camera.status,
                    json.dumps(camera.config or {}),
                    list(camera.tags or []),
                )
            except asyncpg.UniqueViolationError as exc:
                raise CameraAlreadyExistsError(camera.name) from exc
        logger.info("camera %s registered with id %s", camera.name, row["id"])
        return _record_to_camera(row)

    async def get_by_id(self, camera_id: int) -> Optional[Camera]:
        row = await self._pool.fetchrow(SELECT_CAMERA_BY_ID_SQL, camera_id)
        return _record_to_camera(row) if row else None

    async def get_by_name(self, name: str) -> Optional[Camera]:
        row = await self._pool.fetchrow(SELECT_CAMERA_BY_NAME_SQL, name)
        if row is None:
            return None
        return _record_to_camera(row)

    async def list_cameras(
        self, status: Optional[str] = None, limit: int = 100, offset: int = 0
    ) -> list[Camera]:
        rows = await self._pool.fetch(LIST_CAMERAS_SQL, status, limit, offset)
        return [_record_to_camera(r) for r in rows]

    async def count(self, status: Optional[str] = None) -> int:
        return await self._pool.fetchval(COUNT_CAMERAS_SQL, status)

    async def get_many(self, camera_ids: Iterable[int]) -> list[Camera]:
        ids = list(camera_ids)
        if not ids:
            return []
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(SELECT_CAMERAS_BY_IDS_SQL, ids)
        return [_record_to_camera(r) for r in rows]

    async def find_by_tag(self, tag: str) -> list[Camera]:
        rows = await self._pool.fetch(SELECT_CAMERAS_BY_TAG_SQL, tag)
        return [_record_to_camera(r) for r in rows]

    async def exists(self, name: str) -> bool:
        return await self._pool.fetchval(CAMERA_EXISTS_SQL, name)

    async def update(
        self,
        camera_id: int,
        *,
        name: Optional[str] = None,
        location: Optional[str] = None,
        rtsp_url: Optional[str] = None,
    ) -> Optional[Camera]:
        try:
            row = await self._pool.fetchrow(UPDATE_CAMERA_SQL, camera_id, name, location, rtsp_url)
        except asyncpg.UniqueViolationError as exc:
            raise CameraAlreadyExistsError(name) from exc
        return _record_to_camera(row) if row else None

    async def update_status(self, camera_id: int, status: str) -> bool:
        result = await self._pool.execute(UPDATE_CAMERA_STATUS_SQL, camera_id, status)
        return result != "UPDATE 0"

    async def update_statuses(self, camera_ids: Iterable[int], status: str) -> int:
        """Set the status of several cameras; returns how many actually changed."""
        async with self._pool.acquire() as conn:
            result = await conn.execute(UPDATE_CAMERA_STATUSES_SQL, list(camera_ids), status)
        return int(result.split()[-1])

    async def add_tags(self, camera_id: int, tags: Iterable[str]) -> Optional[list[str]]:
        async with self._pool.acquire() as conn:
            new_tags = await conn.fetchval(ADD_CAMERA_TAGS_SQL, camera_id, list(tags))
        return list(new_tags) if new_tags is not None else None

    async def remove_tag(self, camera_id: int, tag: str) -> bool:
        result = await self._pool.execute(REMOVE_CAMERA_TAG_SQL, camera_id, tag)
        return result == "UPDATE 1"

    async def merge_config(self, camera_id: int, patch: dict[str, Any]) -> Optional[dict[str, Any]]:
        config = await self._pool.fetchval(MERGE_CAMERA_CONFIG_SQL, camera_id, json.dumps(patch))
        if config is None:
            return None
        return json.loads(config)

    async def delete(self, camera_id: int) -> bool:
        async with self._pool.acquire() as conn:
            result = await conn.execute(DELETE_CAMERA_SQL, camera_id)
        return result == "DELETE 1"

    async def count_by_status(self) -> dict[str, int]:
        rows = await self._pool.fetch(COUNT_BY_STATUS_SQL)
        counts: dict[str, int] = {}
        for status, total in rows:
            counts[status] = total
        return counts

    async def upsert_many(self, cameras: Iterable[Camera]) -> None:
        args = [
            (
                cam.name,
                cam.location,
                cam.rtsp_url,
                cam.status,
                json.dumps(cam.config or {}),
                list(cam.tags or []),
            )
            for cam in cameras
        ]
        if not args:
            return
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await conn.executemany(UPSERT_CAMERA_SQL, args)

    async def list_with_open_alerts(self) -> list[dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(CAMERAS_WITH_OPEN_ALERTS_SQL)
        return [dict(r) for r in rows]
