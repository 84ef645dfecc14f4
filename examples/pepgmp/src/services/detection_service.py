from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Optional

from src.domain.detection import DetectionRecord
from src.domain.exceptions import DetectionNotFoundError, ValidationError
from src.repositories.detection_repository import PostgreSQLDetectionRecordRepository

_FOUR_PLACES = Decimal("0.0001")


def mean_confidence(objects: list[dict[str, Any]]) -> Optional[Decimal]:
    """Average of the per-object scores, rounded to the column's 4 decimal places."""
    scores = [Decimal(str(o["confidence"])) for o in objects if o.get("confidence") is not None]
    if not scores:
        return None
    return (sum(scores) / len(scores)).quantize(_FOUR_PLACES, rounding=ROUND_HALF_UP)


def build_record(
    camera_id: int,
    frame_id: int,
    objects: list[dict[str, Any]],
    detected_at: Optional[datetime] = None,
    processing_ms: Optional[float] = None,
) -> DetectionRecord:
    if detected_at is None:
        detected_at = datetime.now(timezone.utc)
    elif detected_at.tzinfo is None:
        raise ValidationError("detected_at must be timezone-aware")
    return DetectionRecord(
        camera_id=camera_id,
        frame_id=frame_id,
        detected_at=detected_at,
        objects=list(objects),
        object_count=len(objects),
        confidence=mean_confidence(objects),
        processing_ms=processing_ms,
    )


class DetectionService:
    def __init__(self, detection_repository: PostgreSQLDetectionRecordRepository):
        self.detection_repository = detection_repository

    async def record(
        self,
        camera_id: int,
        frame_id: int,
        objects: list[dict[str, Any]],
        detected_at: Optional[datetime] = None,
        processing_ms: Optional[float] = None,
    ) -> DetectionRecord:
        record = build_record(camera_id, frame_id, objects, detected_at, processing_ms)
        return await self.detection_repository.save(record)

    async def ingest_batch(self, records: list[DetectionRecord]) -> dict[str, Any]:
        saved, rejected = await self.detection_repository.save_batch(records)
        return {
            "saved": len(saved),
            "ids": saved,
            "rejected": [{"frame_id": f, "reason": reason} for f, reason in rejected],
        }

    async def get(self, record_id: int) -> DetectionRecord:
        record = await self.detection_repository.get_by_id(record_id)
        if record is None:
            raise DetectionNotFoundError(record_id)
        return record

    async def search(self, **filters: Any) -> list[DetectionRecord]:
        start, end = filters.get("start"), filters.get("end")
        if start is not None and end is not None and end <= start:
            raise ValidationError("end must be after start")
        return await self.detection_repository.search(**filters)

    async def hourly_summary(self, camera_id: int, start: datetime, end: datetime) -> list[dict]:
        if end <= start:
            raise ValidationError("end must be after start")
        return await self.detection_repository.hourly_summary(camera_id, start, end)

    async def class_breakdown(self, camera_id: int, hours: int = 24) -> dict[str, int]:
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        return await self.detection_repository.object_class_counts(camera_id, since)

    async def camera_summary(self, camera_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        return await self.detection_repository.camera_summary(camera_ids)

    async def next_frame_id(self, camera_id: int) -> int:
        latest = await self.detection_repository.latest_frame_id(camera_id)
        return 1 if latest is None else latest + 1

    async def purge(self, retention_days: int = 7) -> int:
        if retention_days < 1:
            raise ValidationError("retention_days must be at least 1")
        cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
        return await self.detection_repository.delete_before(cutoff)
