"""Detection record persistence on the shared SQLAlchemy engine."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.detection import DetectionRecord
from src.domain.exceptions import DuplicateFrameError

logger = logging.getLogger(__name__)

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
CHECK_VIOLATION = "23514"

_INSERT = """
    INSERT INTO detection_records
        (camera_id, frame_id, detected_at, objects, object_count, confidence,
         processing_ms)
    VALUES (:camera_id, :frame_id, :detected_at, CAST(:objects AS jsonb),
            :object_count, :confidence, :processing_ms)
"""

UPSERT_DETECTION = text(
    _INSERT
    + """
    ON CONFLICT (camera_id, frame_id) DO UPDATE
       SET detected_at = EXCLUDED.detected_at,
           objects = EXCLUDED.objects,
           object_count = EXCLUDED.object_count,
           confidence = EXCLUDED.confidence,
           processing_ms = EXCLUDED.processing_ms
    RETURNING *
    """
)

INSERT_DETECTION_IF_ABSENT = text(
    _INSERT + "ON CONFLICT (camera_id, frame_id) DO NOTHING"
)

INSERT_DETECTION_RETURNING_ID = text(_INSERT + "RETURNING id")

INSERT_DETECTION = text(_INSERT)

COUNT_FOR_CAMERAS = text(
    "SELECT COUNT(*) FROM detection_records WHERE camera_id = ANY(CAST(:ids AS int[]))"
)

DELETE_FRAME_RANGE = text(
    "DELETE FROM detection_records "
    "WHERE camera_id = :camera_id AND frame_id BETWEEN :first AND :last"
)

SELECT_BY_ID = text("SELECT * FROM detection_records WHERE id = :id")

SELECT_BY_FRAME = text(
    "SELECT * FROM detection_records "
    "WHERE camera_id = :camera_id AND frame_id = :frame_id"
)

COUNT_IN_RANGE = text(
    """
    SELECT COUNT(*) FROM detection_records
     WHERE camera_id = :camera_id AND detected_at >= :start AND detected_at < :end
    """
)

LATEST_FRAME = text(
    "SELECT COUNT(*), MAX(frame_id) FROM detection_records WHERE camera_id = :camera_id"
)

HOURLY_SUMMARY = text(
    """
    SELECT date_trunc('hour', detected_at) AS hour,
           COUNT(*) AS frames,
           SUM(object_count) AS objects,
           AVG(object_count)::float8 AS avg_objects,
           AVG(confidence) AS avg_confidence,
           MAX(processing_ms) AS max_processing_ms
      FROM detection_records
     WHERE camera_id = :camera_id
       AND detected_at >= :start AND detected_at < :end
     GROUP BY date_trunc('hour', detected_at)
     ORDER BY hour
    """
)

CAMERA_SUMMARY = text(
    """
    SELECT camera_id,
           COUNT(*) AS frames,
           MIN(detected_at) AS first_seen,
           MAX(detected_at) AS last_seen,
           AVG(processing_ms) AS avg_processing_ms
      FROM detection_records
     WHERE camera_id = ANY(CAST(:ids AS int[]))
     GROUP BY camera_id
    """
)

OBJECT_CLASS_COUNTS = text(
    """
    SELECT obj ->> 'class' AS object_class, COUNT(*) AS n
      FROM detection_records d
      CROSS JOIN LATERAL jsonb_array_elements(d.objects) AS obj
     WHERE d.camera_id = :camera_id AND d.detected_at >= :since
     GROUP BY 1
     ORDER BY n DESC, object_class
    """
)

UPDATE_OBJECTS = text(
    """
    UPDATE detection_records
       SET objects = CAST(:objects AS jsonb), object_count = :object_count,
           confidence = :confidence
     WHERE id = :id
    """
)

DELETE_BEFORE = text(
    """
    DELETE FROM detection_records
     WHERE detected_at < :cutoff
       AND (CAST(:camera_id AS int) IS NULL OR camera_id = :camera_id)
    """
)

REJECTION_REASONS = {
    UNIQUE_VIOLATION: "duplicate_frame",
    FOREIGN_KEY_VIOLATION: "unknown_camera",
    CHECK_VIOLATION: "invalid_values",
}


def _to_record(row: RowMapping) -> DetectionRecord:
    # the engine decodes json and jsonb columns itself
    return DetectionRecord(
        id=row["id"],
        camera_id=row["camera_id"],
        frame_id=row["frame_id"],
        detected_at=row["detected_at"],
        objects=row["objects"] or [],
        object_count=row["object_count"],
        confidence=row["confidence"],
        processing_ms=row["processing_ms"],
    )


def _insert_params(record: DetectionRecord) -> dict[str, Any]:
    return {
        "camera_id": record.camera_id,
        "frame_id": record.frame_id,
        "detected_at": record.detected_at,
        "objects": json.dumps(record.objects or []),
        "object_count": record.object_count,
        "confidence": record.confidence,
        "processing_ms": record.processing_ms,
    }


class PostgreSQLDetectionRecordRepository:
    def __init__(self, engine: AsyncEngine):
        self._engine = engine

    async def save(self, record: DetectionRecord) -> DetectionRecord:
        """Insert a detection, or overwrite the one already stored for that frame."""
        async with self._engine.begin() as conn:
            result = await conn.execute(UPSERT_DETECTION, _insert_params(record))
            row = result.mappings().one()
        return _to_record(row)

    async def save_if_absent(self, record: DetectionRecord) -> bool:
        """Insert unless the frame is already stored. True if a row was written."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                INSERT_DETECTION_IF_ABSENT, _insert_params(record)
            )
        return result.rowcount == 1

    async def save_many(self, records: Sequence[DetectionRecord]) -> int:
        """Bulk insert, skipping frames that are already stored.

        Returns how many new rows were written.
        """
        if not records:
            return 0
        camera_ids = sorted({r.camera_id for r in records})
        async with self._engine.begin() as conn:
            count = {"ids": camera_ids}
            before = (await conn.execute(COUNT_FOR_CAMERAS, count)).scalar_one()
            await conn.execute(
                INSERT_DETECTION_IF_ABSENT, [_insert_params(r) for r in records]
            )
            after = (await conn.execute(COUNT_FOR_CAMERAS, count)).scalar_one()
        return after - before

    async def save_batch(
        self, records: Sequence[DetectionRecord]
    ) -> tuple[list[int], list[tuple[int, str]]]:
        """Store a batch from an edge device, keeping every record that is valid.

        Each insert runs in its own savepoint so one bad record (unknown
        camera, duplicate frame, out-of-range value) does not throw away the
        rest of the batch. Returns (ids of stored rows, [(frame_id, reason)]).
        """
        saved: list[int] = []
        rejected: list[tuple[int, str]] = []
        async with self._engine.begin() as conn:
            for record in records:
                try:
                    async with conn.begin_nested():
                        result = await conn.execute(
                            INSERT_DETECTION_RETURNING_ID, _insert_params(record)
                        )
                        new_id = result.scalar_one()
                except IntegrityError as exc:
                    reason = REJECTION_REASONS.get(exc.orig.sqlstate)
                    if reason is None:
                        raise
                    rejected.append((record.frame_id, reason))
                else:
                    saved.append(new_id)
        if rejected:
            logger.warning(
                "rejected %d of %d detection records", len(rejected), len(records)
            )
        return saved, rejected

    async def replace_frames(
        self, camera_id: int, records: Sequence[DetectionRecord]
    ) -> int:
        """Re-process a frame range: drop what is stored for it and write ``records``.

        All or nothing. Returns how many old rows were replaced.
        """
        if not records:
            return 0
        frame_range = {
            "camera_id": camera_id,
            "first": min(r.frame_id for r in records),
            "last": max(r.frame_id for r in records),
        }
        try:
            async with self._engine.begin() as conn:
                deleted = await conn.execute(DELETE_FRAME_RANGE, frame_range)
                await conn.execute(
                    INSERT_DETECTION, [_insert_params(r) for r in records]
                )
        except IntegrityError as exc:
            if exc.orig.sqlstate == UNIQUE_VIOLATION:
                raise DuplicateFrameError(camera_id, str(exc.orig)) from exc
            raise
        return deleted.rowcount

    async def get_by_id(self, record_id: int) -> DetectionRecord | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(SELECT_BY_ID, {"id": record_id})
            row = result.mappings().first()
        return _to_record(row) if row else None

    async def get_by_frame(
        self, camera_id: int, frame_id: int
    ) -> DetectionRecord | None:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                SELECT_BY_FRAME, {"camera_id": camera_id, "frame_id": frame_id}
            )
            row = result.mappings().first()
        if not row:
            return None
        return _to_record(row)

    async def search(
        self,
        *,
        camera_ids: Iterable[int] | None = None,
        start: datetime | None = None,
        end: datetime | None = None,
        min_confidence: Decimal | None = None,
        min_objects: int | None = None,
        object_class: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DetectionRecord]:
        clauses = []
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if camera_ids is not None:
            clauses.append("camera_id = ANY(CAST(:camera_ids AS int[]))")
            params["camera_ids"] = list(camera_ids)
        if start is not None:
            clauses.append("detected_at >= :start")
            params["start"] = start
        if end is not None:
            clauses.append("detected_at < :end")
            params["end"] = end
        if min_confidence is not None:
            clauses.append("confidence >= :min_confidence")
            params["min_confidence"] = min_confidence
        if min_objects is not None:
            clauses.append("object_count >= :min_objects")
            params["min_objects"] = min_objects
        if object_class is not None:
            # containment test against the objects array, e.g. [{"class": "person"}]
            clauses.append("objects @> CAST(:object_class AS jsonb)")
            params["object_class"] = json.dumps([{"class": object_class}])

        sql = "SELECT * FROM detection_records"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY detected_at DESC, id DESC LIMIT :limit OFFSET :offset"

        async with self._engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            rows = result.mappings().all()
        return [_to_record(r) for r in rows]

    async def count_in_range(
        self, camera_id: int, start: datetime, end: datetime
    ) -> int:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                COUNT_IN_RANGE, {"camera_id": camera_id, "start": start, "end": end}
            )
            return result.scalar_one()

    async def latest_frame_id(self, camera_id: int) -> int | None:
        # second column of the aggregate row: MAX(frame_id)
        async with self._engine.connect() as conn:
            result = await conn.execute(LATEST_FRAME, {"camera_id": camera_id})
            return result.one()[1]

    async def hourly_summary(
        self, camera_id: int, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                HOURLY_SUMMARY, {"camera_id": camera_id, "start": start, "end": end}
            )
            return [dict(r) for r in result.mappings()]

    async def camera_summary(
        self, camera_ids: Iterable[int]
    ) -> dict[int, dict[str, Any]]:
        async with self._engine.connect() as conn:
            result = await conn.execute(CAMERA_SUMMARY, {"ids": list(camera_ids)})
            rows = result.mappings().all()
        summary = {}
        for row in rows:
            data = dict(row)
            summary[data.pop("camera_id")] = data
        return summary

    async def object_class_counts(
        self, camera_id: int, since: datetime
    ) -> dict[str, int]:
        async with self._engine.connect() as conn:
            result = await conn.execute(
                OBJECT_CLASS_COUNTS, {"camera_id": camera_id, "since": since}
            )
            return {r["object_class"]: r["n"] for r in result.mappings()}

    async def update_objects(
        self,
        record_id: int,
        objects: list[dict[str, Any]],
        confidence: Decimal | None,
    ) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                UPDATE_OBJECTS,
                {
                    "id": record_id,
                    "objects": json.dumps(objects),
                    "object_count": len(objects),
                    "confidence": confidence,
                },
            )
        return result.rowcount > 0

    async def delete_before(
        self, cutoff: datetime, camera_id: int | None = None
    ) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                DELETE_BEFORE, {"cutoff": cutoff, "camera_id": camera_id}
            )
        return result.rowcount
