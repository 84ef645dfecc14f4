"""Detection record persistence on the shared asyncpg pool."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Optional, Sequence

import asyncpg

from src.domain.detection import DetectionRecord
from src.domain.exceptions import DuplicateFrameError

logger = logging.getLogger(__name__)


def _to_record(row: asyncpg.Record) -> DetectionRecord:
    return DetectionRecord(
        id=row["id"],
        camera_id=row["camera_id"],
        frame_id=row["frame_id"],
        detected_at=row["detected_at"],
        objects=json.loads(row["objects"]) if row["objects"] else [],
        object_count=row["object_count"],
        confidence=row["confidence"],
        processing_ms=row["processing_ms"],
    )


def _insert_args(record: DetectionRecord) -> tuple:
    return (
        record.camera_id,
        record.frame_id,
        record.detected_at,
        json.dumps(record.objects or []),
        record.object_count,
        record.confidence,
        record.processing_ms,
    )


class PostgreSQLDetectionRecordRepository:
    def __init__(self, pool: asyncpg.Pool):
        self._pool = pool

    async def save(self, record: DetectionRecord) -> DetectionRecord:
        """Insert a detection, or overwrite the one already stored for that frame."""
        row = await self._pool.fetchrow(
            """
            INSERT INTO detection_records
                (camera_id, frame_id, detected_at, objects, object_count, confidence, processing_ms)
            VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
            ON CONFLICT (camera_id, frame_id) DO UPDATE
               SET detected_at = EXCLUDED.detected_at,
                   objects = EXCLUDED.objects,
                   object_count = EXCLUDED.object_count,
                   confidence = EXCLUDED.confidence,
                   processing_ms = EXCLUDED.processing_ms
            RETURNING *
            """,
            *_insert_args(record),
        )
        return _to_record(row)

    async def save_if_absent(self, record: DetectionRecord) -> bool:
        """Insert unless the frame is already stored. True if a row was written."""
        async with self._pool.acquire() as conn:
            status = await conn.execute(
                """
                INSERT INTO detection_records
                    (camera_id, frame_id, detected_at, objects, object_count, confidence, processing_ms)
                VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                ON CONFLICT (camera_id, frame_id) DO NOTHING
                """,
                *_insert_args(record),
            )
        return status == "INSERT 0 1"

    async def save_many(self, records: Sequence[DetectionRecord]) -> int:
        """Bulk insert, skipping frames that are already stored.

        Returns how many new rows were written.
        """
        if not records:
            return 0
        camera_ids = sorted({r.camera_id for r in records})
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                before = await conn.fetchval(
                    "SELECT COUNT(*) FROM detection_records WHERE camera_id = ANY($1::int[])",
                    camera_ids,
                )
                await conn.executemany(
                    """
                    INSERT INTO detection_records
                        (camera_id, frame_id, detected_at, objects, object_count, confidence, processing_ms)
                    VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                    ON CONFLICT (camera_id, frame_id) DO NOTHING
                    """,
                    [_insert_args(r) for r in records],
                )
                after = await conn.fetchval(
                    "SELECT COUNT(*) FROM detection_records WHERE camera_id = ANY($1::int[])",
                    camera_ids,
                )
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
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                for record in records:
                    try:
                        async with conn.transaction():
                            new_id = await conn.fetchval(
                                """
                                INSERT INTO detection_records
                                    (camera_id, frame_id, detected_at, objects,
                                     object_count, confidence, processing_ms)
                                VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                                RETURNING id
                                """,
                                *_insert_args(record),
                            )
                    except asyncpg.UniqueViolationError:
                        rejected.append((record.frame_id, "duplicate_frame"))
                    except asyncpg.ForeignKeyViolationError:
                        rejected.append((record.frame_id, "unknown_camera"))
                    except asyncpg.CheckViolationError:
                        rejected.append((record.frame_id, "invalid_values"))
                    else:
                        saved.append(new_id)
        if rejected:
            logger.warning("rejected %d of %d detection records", len(rejected), len(records))
        return saved, rejected

    async def replace_frames(self, camera_id: int, records: Sequence[DetectionRecord]) -> int:
        """Re-process a frame range: drop what is stored for it and write ``records``.

        All or nothing. Returns how many old rows were replaced.
        """
        if not records:
            return 0
        first = min(r.frame_id for r in records)
        last = max(r.frame_id for r in records)
        async with self._pool.acquire() as conn:
            try:
                async with conn.transaction():
                    deleted = await conn.execute(
                        "DELETE FROM detection_records WHERE camera_id = $1 AND frame_id BETWEEN $2 AND $3",
                        camera_id,
                        first,
                        last,
                    )
                    await conn.executemany(
                        """
                        INSERT INTO detection_records
                            (camera_id, frame_id, detected_at, objects, object_count, confidence, processing_ms)
                        VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
                        """,
                        [_insert_args(r) for r in records],
                    )
            except asyncpg.UniqueViolationError as exc:
                raise DuplicateFrameError(camera_id, str(exc)) from exc
        return int(deleted.split()[-1])

    async def get_by_id(self, record_id: int) -> Optional[DetectionRecord]:
        row = await self._pool.fetchrow("SELECT * FROM detection_records WHERE id = $1", record_id)
        return _to_record(row) if row else None

    async def get_by_frame(self, camera_id: int, frame_id: int) -> Optional[DetectionRecord]:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT * FROM detection_records WHERE camera_id = $1 AND frame_id = $2",
                camera_id,
                frame_id,
            )
        if not row:
            return None
        return _to_record(row)

    async def search(
        self,
        *,
        camera_ids: Optional[Iterable[int]] = None,
        start: Optional[datetime] = None,
        end: Optional[datetime] = None,
        min_confidence: Optional[Decimal] = None,
        min_objects: Optional[int] = None,
        object_class: Optional[str] = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[DetectionRecord]:
        clauses = []
        values: list[Any] = []
        idx = 1
        if camera_ids is not None:
            clauses.append(f"camera_id = ANY(${idx}::int[])")
            values.append(list(camera_ids))
            idx += 1
        if start is not None:
            clauses.append(f"detected_at >= ${idx}")
            values.append(start)
            idx += 1
        if end is not None:
            clauses.append(f"detected_at < ${idx}")
            values.append(end)
            idx += 1
        if min_confidence is not None:
            clauses.append(f"confidence >= ${idx}")
            values.append(min_confidence)
            idx += 1
        if min_objects is not None:
            clauses.append(f"object_count >= ${idx}")
            values.append(min_objects)
            idx += 1
        if object_class is not None:
            # containment test against the objects array, e.g. [{"class": "person"}]
            clauses.append(f"objects @> ${idx}::jsonb")
            values.append(json.dumps([{"class": object_class}]))
            idx += 1

        sql = "SELECT * FROM detection_records"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += f" ORDER BY detected_at DESC, id DESC LIMIT ${idx} OFFSET ${idx + 1}"
        values.extend([limit, offset])

        rows = await self._pool.fetch(sql, *values)
        return [_to_record(r) for r in rows]

    async def count_in_range(self, camera_id: int, start: datetime, end: datetime) -> int:
        return await self._pool.fetchval(
            """
            SELECT COUNT(*) FROM detection_records
             WHERE camera_id = $1 AND detected_at >= $2 AND detected_at < $3
            """,
            camera_id,
            start,
            end,
        )

    async def latest_frame_id(self, camera_id: int) -> Optional[int]:
        # second column of the aggregate row: MAX(frame_id)
        return await self._pool.fetchval(
            "SELECT COUNT(*), MAX(frame_id) FROM detection_records WHERE camera_id = $1",
            camera_id,
            column=1,
        )

    async def hourly_summary(
        self, camera_id: int, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            """
            SELECT date_trunc('hour', detected_at) AS hour,
                   COUNT(*) AS frames,
                   SUM(object_count) AS objects,
                   AVG(object_count)::float8 AS avg_objects,
                   AVG(confidence) AS avg_confidence,
                   MAX(processing_ms) AS max_processing_ms
              FROM detection_records
             WHERE camera_id = $1
               AND detected_at >= $2 AND detected_at < $3
             GROUP BY date_trunc('hour', detected_at)
             ORDER BY hour
            """,
            camera_id,
            start,
            end,
        )
        return [dict(r) for r in rows]

    async def camera_summary(self, camera_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT camera_id,
                       COUNT(*) AS frames,
                       MIN(detected_at) AS first_seen,
                       MAX(detected_at) AS last_seen,
                       AVG(processing_ms) AS avg_processing_ms
                  FROM detection_records
                 WHERE camera_id = ANY($1::int[])
                 GROUP BY camera_id
                """,
                list(camera_ids),
            )
        summary = {}
        for row in rows:
            data = dict(row)
            summary[data.pop("camera_id")] = data
        return summary

    async def object_class_counts(self, camera_id: int, since: datetime) -> dict[str, int]:
        rows = await self._pool.fetch(
            """
            SELECT obj ->> 'class' AS object_class, COUNT(*) AS n
              FROM detection_records d
              CROSS JOIN LATERAL jsonb_array_elements(d.objects) AS obj
             WHERE d.camera_id = $1 AND d.detected_at >= $2
             GROUP BY 1
             ORDER BY n DESC, object_class
            """,
            camera_id,
            since,
        )
        return {r["object_class"]: r["n"] for r in rows}

    async def update_objects(
        self, record_id: int, objects: list[dict[str, Any]], confidence: Optional[Decimal]
    ) -> bool:
        result = await self._pool.execute(
            """
            UPDATE detection_records
               SET objects = $2::jsonb, object_count = $3, confidence = $4
             WHERE id = $1
            """,
            record_id,
            json.dumps(objects),
            len(objects),
            confidence,
        )
        if result == "UPDATE 0":
            return False
        return True

    async def delete_before(self, cutoff: datetime, camera_id: Optional[int] = None) -> int:
        async with self._pool.acquire() as conn:
            result = await conn.execute(
                """
                DELETE FROM detection_records
                 WHERE detected_at < $1
                   AND ($2::int IS NULL OR camera_id = $2)
                """,
                cutoff,
                camera_id,
            )
        return int(result.split()[-1])
