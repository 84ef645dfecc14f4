"""Alert persistence on the shared asyncpg pool."""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Iterable, Optional, Sequence, Union

import asyncpg

from src.domain.alert import Alert
from src.domain.exceptions import CameraNotFoundError

logger = logging.getLogger(__name__)

_ALERT_COLUMNS = """
    id, camera_id, alert_type, severity, message, metadata,
    acknowledged, acknowledged_by, acknowledged_at, created_at
"""


def _row_to_alert(row: asyncpg.Record) -> Alert:
    return Alert(
        id=row["id"],
        camera_id=row["camera_id"],
        alert_type=row["alert_type"],
        severity=row["severity"],
        message=row["message"],
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        acknowledged=row["acknowledged"],
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        created_at=row["created_at"],
    )


class PostgreSQLAlertRepository:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def create(self, alert: Alert) -> Alert:
        try:
            row = await self.pool.fetchrow(
                """
                INSERT INTO alerts (camera_id, alert_type, severity, message, metadata, created_at)
                VALUES ($1, $2, $3, $4, $5::jsonb, COALESCE($6, now()))
                RETURNING id, camera_id, alert_type, severity, message, metadata,
                          acknowledged, acknowledged_by, acknowledged_at, created_at
                """,
                alert.camera_id,
                alert.alert_type,
                alert.severity,
                alert.message,
                json.dumps(alert.metadata or {}),
                alert.created_at,
            )
        except asyncpg.ForeignKeyViolationError as exc:
            raise CameraNotFoundError(alert.camera_id) from exc
        return _row_to_alert(row)

    async def create_many(self, alerts: Sequence[Alert]) -> int:
        """Insert a batch of alerts atomically; returns the number inserted."""
        if not alerts:
            return 0
        args = [
            (
                a.camera_id,
                a.alert_type,
                a.severity,
                a.message,
                json.dumps(a.metadata or {}),
                a.created_at,
            )
            for a in alerts
        ]
        async with self.pool.acquire() as conn:
            async with conn.transaction():
                await conn.executemany(
                    "INSERT INTO alerts (camera_id, alert_type, severity, message, metadata, created_at) "
                    "VALUES ($1, $2, $3, $4, $5::jsonb, COALESCE($6, now()))",
                    args,
                )
        return len(args)

    async def get_by_id(self, alert_id: int) -> Optional[Alert]:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT " + _ALERT_COLUMNS + " FROM alerts WHERE id = $1", alert_id
            )
        if row is None:
            return None
        return _row_to_alert(row)

    async def list_alerts(
        self,
        *,
        camera_id: Optional[int] = None,
        severity: Union[str, Iterable[str], None] = None,
        alert_type: Optional[str] = None,
        acknowledged: Optional[bool] = None,
        since: Optional[datetime] = None,
        until: Optional[datetime] = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[Alert], int]:
        """Filtered, newest-first page of alerts plus the total matching count."""
        conditions: list[str] = []
        params: list[Any] = []

        if camera_id is not None:
            params.append(camera_id)
            conditions.append("camera_id = $%d" % len(params))
        if severity:
            severities = [severity] if isinstance(severity, str) else list(severity)
            params.append(severities)
            conditions.append("severity = ANY($%d::text[])" % len(params))
        if alert_type:
            params.append(alert_type)
            conditions.append("alert_type = $%d" % len(params))
        if acknowledged is not None:
            params.append(acknowledged)
            conditions.append("acknowledged = $%d" % len(params))
        if since is not None:
            params.append(since)
            conditions.append("created_at >= $%d" % len(params))
        if until is not None:
            params.append(until)
            conditions.append("created_at < $%d" % len(params))

        where = "WHERE " + " AND ".join(conditions) if conditions else ""
        count_query = f"SELECT COUNT(*) FROM alerts {where}"
        page_query = (
            f"SELECT {_ALERT_COLUMNS} FROM alerts {where} "
            f"ORDER BY created_at DESC, id DESC "
            f"LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"
        )

        async with self.pool.acquire() as conn:
            total = await conn.fetchval(count_query, *params)
            rows = await conn.fetch(page_query, *params, limit, offset)
        return [_row_to_alert(r) for r in rows], total

    async def list_unacknowledged(self, limit: int = 100) -> list[Alert]:
        rows = await self.pool.fetch(
            """
            SELECT * FROM alerts
            WHERE NOT acknowledged          -- served by idx_alerts_unacknowledged
            ORDER BY created_at DESC, id DESC
            LIMIT $1
            """,
            limit,
        )
        return [_row_to_alert(r) for r in rows]

    async def latest_for_camera(self, camera_id: int) -> Optional[Alert]:
        row = await self.pool.fetchrow(
            "SELECT * FROM alerts WHERE camera_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
            camera_id,
        )
        return _row_to_alert(row) if row else None

    async def acknowledge(self, alert_id: int, acknowledged_by: str) -> Optional[Alert]:
        """Acknowledge an open alert. Returns None if it is missing or already acknowledged."""
        row = await self.pool.fetchrow(
            """
            UPDATE alerts
               SET acknowledged = TRUE,
                   acknowledged_by = $2,
                   acknowledged_at = now()
             WHERE id = $1 AND NOT acknowledged
            RETURNING *
            """,
            alert_id,
            acknowledged_by,
        )
        return _row_to_alert(row) if row else None

    async def acknowledge_many(self, alert_ids: Iterable[int], acknowledged_by: str) -> int:
        result = await self.pool.execute(
            """
            UPDATE alerts
               SET acknowledged = TRUE, acknowledged_by = $2, acknowledged_at = now()
             WHERE id = ANY($1::bigint[]) AND NOT acknowledged
            """,
            list(alert_ids),
            acknowledged_by,
        )
        # asyncpg hands back the command tag, e.g. "UPDATE 3"
        return int(result.split()[-1])

    async def delete_older_than(self, cutoff: datetime, acknowledged_only: bool = True) -> int:
        async with self.pool.acquire() as conn:
            if acknowledged_only:
                result = await conn.execute(
                    "DELETE FROM alerts WHERE created_at < $1 AND acknowledged", cutoff
                )
            else:
                result = await conn.execute("DELETE FROM alerts WHERE created_at < $1", cutoff)
        deleted = int(result.split()[-1])
        logger.info("purged %d alerts older than %s", deleted, cutoff.isoformat())
        return deleted

    async def count_by_severity(self, since: Optional[datetime] = None) -> dict[str, int]:
        rows = await self.pool.fetch(
            """
            SELECT severity, COUNT(*)
              FROM alerts
             WHERE ($1::timestamptz IS NULL OR created_at >= $1)
             GROUP BY severity
            """,
            since,
        )
        return {row[0]: row[1] for row in rows}

    async def hourly_counts(
        self, camera_id: int, start: datetime, end: datetime
    ) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """
                SELECT date_trunc('hour', created_at) AS bucket,
                       to_char(date_trunc('hour', created_at), 'HH24:MI') AS label,
                       COUNT(*) AS total,
                       COUNT(*) FILTER (WHERE severity IN ('high', 'critical')) AS severe
                  FROM alerts
                 WHERE camera_id = $1
                   AND created_at >= $2 AND created_at < $3
                 GROUP BY 1, 2
                 ORDER BY 1
                """,
                camera_id,
                start,
                end,
            )
        return [dict(r) for r in rows]

    async def get_statistics(self, since: datetime) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            """
            SELECT COUNT(*) AS total,
                   COUNT(*) FILTER (WHERE NOT acknowledged) AS open,
                   COUNT(*) FILTER (WHERE severity = 'critical') AS critical,
                   COUNT(DISTINCT camera_id) AS cameras,
                   AVG(EXTRACT(EPOCH FROM acknowledged_at - created_at))::float8 AS avg_ack_seconds
              FROM alerts
             WHERE created_at >= $1
            """,
            since,
        )
        return dict(row)

    async def escalate_stale(self, older_than: datetime) -> list[int]:
        """Bump the severity of open alerts created before ``older_than`` by one level.

        Runs as a single transaction; rows are locked so two workers running
        the escalation job never escalate the same alert twice.
        """
        conn = await self.pool.acquire()
        try:
            async with conn.transaction():
                rows = await conn.fetch(
                    """
                    SELECT id FROM alerts
                     WHERE NOT acknowledged
                       AND severity <> 'critical'
                       AND created_at < $1
                     ORDER BY id
                       FOR UPDATE SKIP LOCKED
                    """,
                    older_than,
                )
                ids = [r["id"] for r in rows]
                if ids:
                    await conn.execute(
                        """
                        UPDATE alerts
                           SET severity = CASE severity
                                              WHEN 'low' THEN 'medium'
                                              WHEN 'medium' THEN 'high'
                                              ELSE 'critical'
                                          END,
                               metadata = metadata || jsonb_build_object('escalated_from', severity)
                         WHERE id = ANY($1::bigint[])
                        """,
                        ids,
                    )
        finally:
            await self.pool.release(conn)
        return ids
