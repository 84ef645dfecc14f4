"""Alert persistence on the shared SQLAlchemy engine."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.alert import Alert
from src.domain.exceptions import CameraNotFoundError

logger = logging.getLogger(__name__)

FOREIGN_KEY_VIOLATION = "23503"

_ALERT_COLUMNS = """
    id, camera_id, alert_type, severity, message, metadata,
    acknowledged, acknowledged_by, acknowledged_at, created_at
"""

INSERT_ALERT = text(
    """
    INSERT INTO alerts (camera_id, alert_type, severity, message, metadata, created_at)
    VALUES (:camera_id, :alert_type, :severity, :message, CAST(:metadata AS jsonb),
            COALESCE(:created_at, now()))
    RETURNING id, camera_id, alert_type, severity, message, metadata,
              acknowledged, acknowledged_by, acknowledged_at, created_at
    """
)

INSERT_ALERT_ROW = text(
    "INSERT INTO alerts"
    " (camera_id, alert_type, severity, message, metadata, created_at) "
    "VALUES (:camera_id, :alert_type, :severity, :message, CAST(:metadata AS jsonb), "
    "COALESCE(:created_at, now()))"
)

SELECT_ALERT_BY_ID = text("SELECT " + _ALERT_COLUMNS + " FROM alerts WHERE id = :id")

LIST_UNACKNOWLEDGED = text(
    """
    SELECT * FROM alerts
    WHERE NOT acknowledged          -- served by idx_alerts_unacknowledged
    ORDER BY created_at DESC, id DESC
    LIMIT :limit
    """
)

LATEST_FOR_CAMERA = text(
    "SELECT * FROM alerts WHERE camera_id = :camera_id "
    "ORDER BY created_at DESC, id DESC LIMIT 1"
)

ACKNOWLEDGE = text(
    """
    UPDATE alerts
       SET acknowledged = TRUE,
           acknowledged_by = :acknowledged_by,
           acknowledged_at = now()
     WHERE id = :id AND NOT acknowledged
    RETURNING *
    """
)

ACKNOWLEDGE_MANY = text(
    """
    UPDATE alerts
       SET acknowledged = TRUE,
           acknowledged_by = :acknowledged_by,
           acknowledged_at = now()
     WHERE id = ANY(CAST(:ids AS bigint[])) AND NOT acknowledged
    """
)

DELETE_ACKNOWLEDGED_BEFORE = text(
    "DELETE FROM alerts WHERE created_at < :cutoff AND acknowledged"
)

DELETE_BEFORE = text("DELETE FROM alerts WHERE created_at < :cutoff")

COUNT_BY_SEVERITY = text(
    """
    SELECT severity, COUNT(*)
      FROM alerts
     WHERE (CAST(:since AS timestamptz) IS NULL OR created_at >= :since)
     GROUP BY severity
    """
)

HOURLY_COUNTS = text(
    """
    SELECT date_trunc('hour', created_at) AS bucket,
           to_char(date_trunc('hour', created_at), 'HH24:MI') AS label,
           COUNT(*) AS total,
           COUNT(*) FILTER (WHERE severity IN ('high', 'critical')) AS severe
      FROM alerts
     WHERE camera_id = :camera_id
       AND created_at >= :start AND created_at < :end
     GROUP BY 1, 2
     ORDER BY 1
    """
)

STATISTICS = text(
    """
    SELECT COUNT(*) AS total,
           COUNT(*) FILTER (WHERE NOT acknowledged) AS open,
           COUNT(*) FILTER (WHERE severity = 'critical') AS critical,
           COUNT(DISTINCT camera_id) AS cameras,
           AVG(EXTRACT(EPOCH FROM acknowledged_at - created_at))::float8
               AS avg_ack_seconds
      FROM alerts
     WHERE created_at >= :since
    """
)

SELECT_STALE_FOR_UPDATE = text(
    """
    SELECT id FROM alerts
     WHERE NOT acknowledged
       AND severity <> 'critical'
       AND created_at < :older_than
     ORDER BY id
       FOR UPDATE SKIP LOCKED
    """
)

ESCALATE = text(
    """
    UPDATE alerts
       SET severity = CASE severity
                          WHEN 'low' THEN 'medium'
                          WHEN 'medium' THEN 'high'
                          ELSE 'critical'
                      END,
           metadata = metadata || jsonb_build_object('escalated_from', severity)
     WHERE id = ANY(CAST(:ids AS bigint[]))
    """
)


def _row_to_alert(row: RowMapping) -> Alert:
    # the engine decodes json and jsonb columns itself
    return Alert(
        id=row["id"],
        camera_id=row["camera_id"],
        alert_type=row["alert_type"],
        severity=row["severity"],
        message=row["message"],
        metadata=row["metadata"] or {},
        acknowledged=row["acknowledged"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        created_at=row["created_at"],
    )


def _alert_params(alert: Alert) -> dict[str, Any]:
    return {
        "camera_id": alert.camera_id,
        "alert_type": alert.alert_type,
        "severity": alert.severity,
        "message": alert.message,
        "metadata": json.dumps(alert.metadata or {}),
        "created_at": alert.created_at,
    }


class PostgreSQLAlertRepository:
    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def create(self, alert: Alert) -> Alert:
        try:
            async with self.engine.begin() as conn:
                result = await conn.execute(INSERT_ALERT, _alert_params(alert))
                row = result.mappings().one()
        except IntegrityError as exc:
            if exc.orig.sqlstate == FOREIGN_KEY_VIOLATION:
                raise CameraNotFoundError(alert.camera_id) from exc
            raise
        return _row_to_alert(row)

    async def create_many(self, alerts: Sequence[Alert]) -> int:
        """Insert a batch of alerts atomically; returns the number inserted."""
        if not alerts:
            return 0
        params = [_alert_params(a) for a in alerts]
        async with self.engine.begin() as conn:
            await conn.execute(INSERT_ALERT_ROW, params)
        return len(params)

    async def get_by_id(self, alert_id: int) -> Alert | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(SELECT_ALERT_BY_ID, {"id": alert_id})
            row = result.mappings().first()
        if row is None:
            return None
        return _row_to_alert(row)

    async def list_alerts(
        self,
        *,
        camera_id: int | None = None,
        severity: str | Iterable[str] | None = None,
        alert_type: str | None = None,
        acknowledged: bool | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Alert], int]:
        """Filtered, newest-first page of alerts plus the total matching count."""
        conditions: list[str] = []
        params: dict[str, Any] = {}

        if camera_id is not None:
            params["camera_id"] = camera_id
            conditions.append("camera_id = :camera_id")
        if severity:
            severities = [severity] if isinstance(severity, str) else list(severity)
            params["severities"] = severities
            conditions.append("severity = ANY(CAST(:severities AS text[]))")
        if alert_type:
            params["alert_type"] = alert_type
            conditions.append("alert_type = :alert_type")
        if acknowledged is not None:
            params["acknowledged"] = acknowledged
            conditions.append("acknowledged = :acknowledged")
        if since is not None:
            params["since"] = since
            conditions.append("created_at >= :since")
        if until is not None:
            params["until"] = until
            conditions.append("created_at < :until")

        where = "WHERE " + " AND ".join(conditions) if conditions else ""
        count_query = text(f"SELECT COUNT(*) FROM alerts {where}")
        page_query = text(
            f"SELECT {_ALERT_COLUMNS} FROM alerts {where} "
            "ORDER BY created_at DESC, id DESC "
            "LIMIT :limit OFFSET :offset"
        )

        async with self.engine.connect() as conn:
            total = (await conn.execute(count_query, params)).scalar_one()
            result = await conn.execute(
                page_query, {**params, "limit": limit, "offset": offset}
            )
            rows = result.mappings().all()
        return [_row_to_alert(r) for r in rows], total

    async def list_unacknowledged(self, limit: int = 100) -> list[Alert]:
        async with self.engine.connect() as conn:
            result = await conn.execute(LIST_UNACKNOWLEDGED, {"limit": limit})
            rows = result.mappings().all()
        return [_row_to_alert(r) for r in rows]

    async def latest_for_camera(self, camera_id: int) -> Alert | None:
        async with self.engine.connect() as conn:
            result = await conn.execute(LATEST_FOR_CAMERA, {"camera_id": camera_id})
            row = result.mappings().first()
        return _row_to_alert(row) if row else None

    async def acknowledge(self, alert_id: int, acknowledged_by: str) -> Alert | None:
        """Acknowledge an open alert. Returns None if it is missing or already
        acknowledged."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                ACKNOWLEDGE, {"id": alert_id, "acknowledged_by": acknowledged_by}
            )
            row = result.mappings().first()
        return _row_to_alert(row) if row else None

    async def acknowledge_many(
        self, alert_ids: Iterable[int], acknowledged_by: str
    ) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                ACKNOWLEDGE_MANY,
                {"ids": list(alert_ids), "acknowledged_by": acknowledged_by},
            )
        return result.rowcount

    async def delete_older_than(
        self, cutoff: datetime, acknowledged_only: bool = True
    ) -> int:
        statement = DELETE_ACKNOWLEDGED_BEFORE if acknowledged_only else DELETE_BEFORE
        async with self.engine.begin() as conn:
            result = await conn.execute(statement, {"cutoff": cutoff})
        deleted = result.rowcount
        logger.info("purged %d alerts older than %s", deleted, cutoff.isoformat())
        return deleted

    async def count_by_severity(self, since: datetime | None = None) -> dict[str, int]:
        async with self.engine.connect() as conn:
            result = await conn.execute(COUNT_BY_SEVERITY, {"since": since})
            return {severity: count for severity, count in result}

    async def hourly_counts(
        self, camera_id: int, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(
                HOURLY_COUNTS, {"camera_id": camera_id, "start": start, "end": end}
            )
            return [dict(r) for r in result.mappings()]

    async def get_statistics(self, since: datetime) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            result = await conn.execute(STATISTICS, {"since": since})
            return dict(result.mappings().one())

    async def escalate_stale(self, older_than: datetime) -> list[int]:
        """Bump the severity of open alerts created before ``older_than`` by one level.

        Runs as a single transaction; rows are locked so two workers running
        the escalation job never escalate the same alert twice.
        """
        async with self.engine.begin() as conn:
            result = await conn.execute(
                SELECT_STALE_FOR_UPDATE, {"older_than": older_than}
            )
            ids = list(result.scalars())
            if ids:
                await conn.execute(ESCALATE, {"ids": ids})
        return ids
