"""PostgreSQLDetectionRecordRepository against a real database."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from src.domain.detection import DetectionRecord
from src.domain.exceptions import DuplicateFrameError

T0 = datetime(2024, 5, 6, 8, 0, tzinfo=timezone.utc)

PERSON = {"class": "person", "confidence": 0.91, "bbox": [10, 20, 110, 220]}
FORKLIFT = {"class": "forklift", "confidence": 0.8, "bbox": [300, 40, 520, 300]}
HELMET = {"class": "helmet", "confidence": 0.7, "bbox": [30, 20, 60, 45]}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
async def cams(make_camera):
    return [await make_camera(), await make_camera()]


@pytest.fixture
def rec(cams):
    def factory(
        frame_id, minutes=0, objects=(PERSON,), camera=0, confidence="0.9100", processing_ms=12.5, camera_id=None
    ):
        objects = list(objects)
        return DetectionRecord(
            camera_id=camera_id if camera_id is not None else cams[camera].id,
            frame_id=frame_id,
            detected_at=at(minutes),
            objects=objects,
            object_count=len(objects),
            confidence=Decimal(confidence) if confidence is not None else None,
            processing_ms=processing_ms,
        )

    return factory


async def test_save_returns_typed_record(detection_repo, rec, probe):
    stored = await detection_repo.save(rec(1, objects=[PERSON, FORKLIFT], confidence="0.8550", processing_ms=17.25))
    assert isinstance(stored, DetectionRecord)
    assert isinstance(stored.id, int)
    assert stored.frame_id == 1 and isinstance(stored.frame_id, int)
    assert stored.detected_at == at(0) and stored.detected_at.tzinfo is not None
    assert stored.objects == [PERSON, FORKLIFT]
    assert isinstance(stored.objects, list) and isinstance(stored.objects[0], dict)
    assert stored.object_count == 2
    assert stored.confidence == Decimal("0.8550") and isinstance(stored.confidence, Decimal)
    assert stored.processing_ms == 17.25 and isinstance(stored.processing_ms, float)
    assert await probe.fetchval(
        "SELECT jsonb_array_length(objects) FROM detection_records WHERE id = $1", stored.id
    ) == 2


async def test_save_rounds_confidence_to_column_scale(detection_repo, rec):
    stored = await detection_repo.save(rec(1, confidence="0.876549"))
    assert stored.confidence == Decimal("0.8765")
    empty = await detection_repo.save(rec(2, objects=[], confidence=None, processing_ms=None))
    assert empty.confidence is None and empty.processing_ms is None
    assert empty.objects == [] and empty.object_count == 0


async def test_save_overwrites_existing_frame(detection_repo, rec, probe):
    first = await detection_repo.save(rec(7, minutes=0, objects=[PERSON], confidence="0.9100"))
    second = await detection_repo.save(rec(7, minutes=1, objects=[FORKLIFT, HELMET], confidence="0.7500"))
    assert second.id == first.id
    assert second.objects == [FORKLIFT, HELMET]
    assert second.object_count == 2
    assert second.confidence == Decimal("0.7500")
    assert second.detected_at == at(1)
    assert await probe.fetchval("SELECT COUNT(*) FROM detection_records") == 1


async def test_save_if_absent(detection_repo, rec):
    assert await detection_repo.save_if_absent(rec(3, objects=[PERSON])) is True
    assert await detection_repo.save_if_absent(rec(3, objects=[FORKLIFT])) is False
    stored = await detection_repo.get_by_frame(rec(3).camera_id, 3)
    assert stored.objects == [PERSON]


async def test_save_many_reports_new_rows(detection_repo, rec, probe):
    await detection_repo.save(rec(2))
    written = await detection_repo.save_many([rec(1), rec(2), rec(3), rec(1, camera=1), rec(4, minutes=1)])
    assert written == 4 and isinstance(written, int)
    rows = await probe.fetch("SELECT camera_id, frame_id FROM detection_records ORDER BY camera_id, frame_id")
    c0, c1 = rec(1).camera_id, rec(1, camera=1).camera_id
    assert [tuple(r) for r in rows] == [(c0, 1), (c0, 2), (c0, 3), (c0, 4), (c1, 1)]
    assert await detection_repo.save_many([]) == 0
    assert await detection_repo.save_many([rec(1), rec(2)]) == 0


async def test_save_batch_keeps_valid_records(detection_repo, rec, probe):
    """A bad record is rolled back to its savepoint; the rest of the batch commits."""
    await detection_repo.save(rec(10))
    batch = [
        rec(11, objects=[PERSON]),
        rec(10, objects=[FORKLIFT]),           # frame already stored
        rec(12, camera_id=987654),                # camera does not exist
        rec(13, confidence="1.5000"),          # outside 0..1
        rec(14, objects=[HELMET], confidence="0.7000"),
        rec(11, objects=[HELMET]),             # duplicate inside the batch
    ]
    saved, rejected = await detection_repo.save_batch(batch)
    assert len(saved) == 2 and all(isinstance(i, int) for i in saved)
    assert rejected == [
        (10, "duplicate_frame"),
        (12, "unknown_camera"),
        (13, "invalid_values"),
        (11, "duplicate_frame"),
    ]
    frames = [r["frame_id"] for r in await probe.fetch("SELECT frame_id FROM detection_records ORDER BY frame_id")]
    assert frames == [10, 11, 14]
    assert (await detection_repo.get_by_id(saved[0])).objects == [PERSON]
    assert (await detection_repo.get_by_id(saved[1])).frame_id == 14
    # the pre-existing frame was not touched by the rejected duplicate
    assert (await detection_repo.get_by_frame(rec(10).camera_id, 10)).objects == [PERSON]
    assert await detection_repo.save_batch([]) == ([], [])


async def test_replace_frames(detection_repo, rec, probe):
    for frame in (1, 2, 3, 4, 5):
        await detection_repo.save(rec(frame, objects=[PERSON]))
    camera_id = rec(1).camera_id
    replaced = await detection_repo.replace_frames(camera_id, [rec(2, objects=[HELMET]), rec(4, objects=[])])
    assert replaced == 3  # frames 2..4 were dropped
    rows = await probe.fetch(
        "SELECT frame_id, object_count FROM detection_records WHERE camera_id = $1 ORDER BY frame_id", camera_id
    )
    assert [(r["frame_id"], r["object_count"]) for r in rows] == [(1, 1), (2, 1), (4, 0), (5, 1)]
    assert (await detection_repo.get_by_frame(camera_id, 2)).objects == [HELMET]
    assert await detection_repo.replace_frames(camera_id, []) == 0


async def test_replace_frames_failure_rolls_back_everything(detection_repo, rec, probe):
    for frame in (1, 2, 3):
        await detection_repo.save(rec(frame, objects=[PERSON]))
    camera_id = rec(1).camera_id
    before = await probe.fetch("SELECT id, frame_id, objects FROM detection_records ORDER BY frame_id")

    with pytest.raises(DuplicateFrameError) as excinfo:
        await detection_repo.replace_frames(camera_id, [rec(1, objects=[]), rec(3, objects=[]), rec(3, objects=[])])
    assert excinfo.value.camera_id == camera_id

    after = await probe.fetch("SELECT id, frame_id, objects FROM detection_records ORDER BY frame_id")
    assert [tuple(r) for r in after] == [tuple(r) for r in before]


async def test_get_by_id(detection_repo, rec):
    stored = await detection_repo.save(rec(1, objects=[PERSON, HELMET]))
    assert await detection_repo.get_by_id(stored.id) == stored
    assert await detection_repo.get_by_id(stored.id + 1) is None


async def test_get_by_frame(detection_repo, rec):
    stored = await detection_repo.save(rec(42, camera=1))
    assert await detection_repo.get_by_frame(stored.camera_id, 42) == stored
    assert await detection_repo.get_by_frame(rec(42).camera_id, 42) is None
    assert await detection_repo.get_by_frame(stored.camera_id, 43) is None


async def test_search_filters_and_pagination(detection_repo, rec, cams):
    r1 = await detection_repo.save(rec(1, minutes=0, objects=[PERSON], confidence="0.9100"))
    r2 = await detection_repo.save(rec(2, minutes=10, objects=[PERSON, FORKLIFT], confidence="0.8550"))
    r3 = await detection_repo.save(rec(3, minutes=20, objects=[HELMET], confidence="0.7000"))
    r4 = await detection_repo.save(rec(1, minutes=15, objects=[], confidence=None, camera=1))

    async def ids(**filters):
        return [r.id for r in await detection_repo.search(**filters)]

    assert await ids() == [r3.id, r4.id, r2.id, r1.id]
    assert await ids(camera_ids=[cams[0].id]) == [r3.id, r2.id, r1.id]
    assert await ids(camera_ids=[cams[1].id]) == [r4.id]
    assert await ids(camera_ids=[]) == []
    assert await ids(start=at(10), end=at(20)) == [r4.id, r2.id]
    assert await ids(min_confidence=Decimal("0.85")) == [r2.id, r1.id]
    assert await ids(min_objects=2) == [r2.id]
    assert await ids(object_class="person") == [r2.id, r1.id]
    assert await ids(object_class="forklift", start=at(5)) == [r2.id]
    assert await ids(limit=2) == [r3.id, r4.id]
    assert await ids(limit=2, offset=2) == [r2.id, r1.id]
    assert await ids(camera_ids=[cams[0].id], start=at(0), min_confidence=Decimal("0.5"), limit=1, offset=1) == [r2.id]

    found = await detection_repo.search(object_class="helmet")
    assert found[0].confidence == Decimal("0.7000")
    assert found[0].objects == [HELMET]


async def test_count_in_range(detection_repo, rec, cams):
    for frame, minutes in [(1, 0), (2, 5), (3, 10), (4, 60)]:
        await detection_repo.save(rec(frame, minutes=minutes))
    await detection_repo.save(rec(1, minutes=5, camera=1))
    count = await detection_repo.count_in_range(cams[0].id, at(0), at(10))
    assert count == 2 and isinstance(count, int)
    assert await detection_repo.count_in_range(cams[0].id, at(0), at(61)) == 4
    assert await detection_repo.count_in_range(cams[1].id, at(100), at(200)) == 0


async def test_latest_frame_id(detection_repo, rec, cams):
    assert await detection_repo.latest_frame_id(cams[0].id) is None
    for frame in (5, 17, 3):
        await detection_repo.save(rec(frame))
    await detection_repo.save(rec(99, camera=1))
    latest = await detection_repo.latest_frame_id(cams[0].id)
    assert latest == 17 and isinstance(latest, int)


async def test_hourly_summary(detection_repo, rec, cams):
    await detection_repo.save(rec(1, minutes=5, objects=[PERSON], confidence="0.9000", processing_ms=10.0))
    await detection_repo.save(rec(2, minutes=35, objects=[PERSON, FORKLIFT, HELMET], confidence="0.8000", processing_ms=30.0))
    await detection_repo.save(rec(3, minutes=70, objects=[], confidence=None, processing_ms=8.0))
    await detection_repo.save(rec(4, minutes=300, objects=[PERSON]))          # outside the window
    await detection_repo.save(rec(1, minutes=10, objects=[PERSON], camera=1))  # other camera

    rows = await detection_repo.hourly_summary(cams[0].id, T0, T0 + timedelta(hours=2))
    assert rows == [
        {"hour": T0, "frames": 2, "objects": 4, "avg_objects": 2.0,
         "avg_confidence": Decimal("0.85"), "max_processing_ms": 30.0},
        {"hour": T0 + timedelta(hours=1), "frames": 1, "objects": 0, "avg_objects": 0.0,
         "avg_confidence": None, "max_processing_ms": 8.0},
    ]
    first = rows[0]
    assert first["hour"].tzinfo is not None
    assert isinstance(first["frames"], int) and isinstance(first["objects"], int)
    assert isinstance(first["avg_objects"], float)
    assert isinstance(first["avg_confidence"], Decimal)
    assert isinstance(first["max_processing_ms"], float)
    assert await detection_repo.hourly_summary(cams[1].id, at(120), at(180)) == []


async def test_camera_summary(detection_repo, rec, cams, make_camera):
    idle = await make_camera()
    await detection_repo.save(rec(1, minutes=0, processing_ms=10.0))
    await detection_repo.save(rec(2, minutes=30, processing_ms=20.0))
    await detection_repo.save(rec(1, minutes=12, camera=1, processing_ms=5.0))

    summary = await detection_repo.camera_summary([cams[0].id, cams[1].id, idle.id])
    assert summary == {
        cams[0].id: {"frames": 2, "first_seen": at(0), "last_seen": at(30), "avg_processing_ms": 15.0},
        cams[1].id: {"frames": 1, "first_seen": at(12), "last_seen": at(12), "avg_processing_ms": 5.0},
    }
    assert all(isinstance(k, int) for k in summary)
    assert await detection_repo.camera_summary([]) == {}


async def test_object_class_counts(detection_repo, rec, cams):
    await detection_repo.save(rec(1, minutes=0, objects=[PERSON, PERSON, FORKLIFT]))
    await detection_repo.save(rec(2, minutes=10, objects=[PERSON, HELMET]))
    await detection_repo.save(rec(3, minutes=20, objects=[]))
    await detection_repo.save(rec(1, minutes=5, objects=[FORKLIFT], camera=1))

    counts = await detection_repo.object_class_counts(cams[0].id, at(0))
    assert counts == {"person": 3, "forklift": 1, "helmet": 1}
    assert list(counts) == ["person", "forklift", "helmet"]  # most frequent first, then by name
    assert await detection_repo.object_class_counts(cams[0].id, at(5)) == {"helmet": 1, "person": 1}
    assert await detection_repo.object_class_counts(cams[1].id, at(30)) == {}


async def test_update_objects(detection_repo, rec, probe):
    stored = await detection_repo.save(rec(1, objects=[PERSON]))
    ok = await detection_repo.update_objects(stored.id, [FORKLIFT, HELMET], Decimal("0.7500"))
    assert ok is True
    updated = await detection_repo.get_by_id(stored.id)
    assert updated.objects == [FORKLIFT, HELMET]
    assert updated.object_count == 2
    assert updated.confidence == Decimal("0.7500")
    assert updated.detected_at == stored.detected_at
    assert await detection_repo.update_objects(stored.id + 50, [], None) is False


async def test_delete_before(detection_repo, rec, cams, probe):
    for frame, minutes in [(1, 0), (2, 10), (3, 60)]:
        await detection_repo.save(rec(frame, minutes=minutes))
    await detection_repo.save(rec(1, minutes=0, camera=1))

    deleted = await detection_repo.delete_before(at(30), camera_id=cams[1].id)
    assert deleted == 1 and isinstance(deleted, int)
    assert await detection_repo.delete_before(at(30)) == 2
    rows = await probe.fetch("SELECT camera_id, frame_id FROM detection_records")
    assert [tuple(r) for r in rows] == [(cams[0].id, 3)]
    assert await detection_repo.delete_before(at(30)) == 0
