from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Optional

from src.domain.alert import SEVERITIES, Alert
from src.domain.exceptions import (
    AlertAlreadyAcknowledgedError,
    AlertNotFoundError,
    ValidationError,
)
from src.repositories.alert_repository import PostgreSQLAlertRepository


def _check_severity(severity: str) -> None:
    if severity not in SEVERITIES:
        raise ValidationError(f"unknown severity {severity!r}; expected one of {SEVERITIES}")


class AlertService:
    def __init__(self, alert_repository: PostgreSQLAlertRepository):
        self.alert_repository = alert_repository

    async def raise_alert(
        self,
        camera_id: int,
        alert_type: str,
        message: str,
        severity: str = "medium",
        metadata: Optional[dict[str, Any]] = None,
        created_at: Optional[datetime] = None,
    ) -> Alert:
        _check_severity(severity)
        if not message.strip():
            raise ValidationError("alert message must not be empty")
        alert = Alert(
            camera_id=camera_id,
            alert_type=alert_type,
            message=message.strip(),
            severity=severity,
            metadata=metadata or {},
            created_at=created_at,
        )
        return await self.alert_repository.create(alert)

    async def record_alerts(self, alerts: list[Alert]) -> int:
        for alert in alerts:
            _check_severity(alert.severity)
        return await self.alert_repository.create_many(alerts)

    async def get_alert(self, alert_id: int) -> Alert:
        alert = await self.alert_repository.get_by_id(alert_id)
        if alert is None:
            raise AlertNotFoundError(alert_id)
        return alert

    async def list_alerts(self, **filters: Any) -> tuple[list[Alert], int]:
        severity = filters.get("severity")
        if severity:
            for value in [severity] if isinstance(severity, str) else severity:
                _check_severity(value)
        return await self.alert_repository.list_alerts(**filters)

    async def open_alerts(self, limit: int = 100) -> list[Alert]:
        return await self.alert_repository.list_unacknowledged(limit)

    async def latest_for_camera(self, camera_id: int) -> Optional[Alert]:
        return await self.alert_repository.latest_for_camera(camera_id)

    async def acknowledge(self, alert_id: int, user: str) -> Alert:
        alert = await self.alert_repository.acknowledge(alert_id, user)
        if alert is not None:
            return alert
        # Nothing updated: tell the caller which of the two reasons applies.
        if await self.alert_repository.get_by_id(alert_id) is None:
            raise AlertNotFoundError(alert_id)
        raise AlertAlreadyAcknowledgedError(alert_id)

    async def acknowledge_many(self, alert_ids: Iterable[int], user: str) -> int:
        ids = sorted(set(alert_ids))
        if not ids:
            return 0
        return await self.alert_repository.acknowledge_many(ids, user)

    async def dashboard(self, hours: int = 24) -> dict[str, Any]:
        since = datetime.now(timezone.utc) - timedelta(hours=hours)
        stats = await self.alert_repository.get_statistics(since)
        counts = await self.alert_repository.count_by_severity(since)
        stats["by_severity"] = {sev: counts.get(sev, 0) for sev in SEVERITIES}
        stats["window_hours"] = hours
        return stats

    async def hourly_counts(self, camera_id: int, start: datetime, end: datetime) -> list[dict]:
        if end <= start:
            raise ValidationError("end must be after start")
        return await self.alert_repository.hourly_counts(camera_id, start, end)

    async def escalate_stale(self, max_age: timedelta = timedelta(minutes=30)) -> list[int]:
        return await self.alert_repository.escalate_stale(datetime.now(timezone.utc) - max_age)

    async def purge(self, retention_days: int = 30, include_open: bool = False) -> int:
        if retention_days < 1:
            raise ValidationError("retention_days must be at least 1")
        cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
        return await self.alert_repository.delete_older_than(cutoff, acknowledged_only=not include_open)
