from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Optional

# Ordered from least to most urgent; escalation walks this list.
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass
class Alert:
    camera_id: int
    alert_type: str
    message: str
    severity: str = "medium"
    metadata: dict[str, Any] = field(default_factory=dict)
    acknowledged: bool = False
    acknowledged_by: Optional[str] = None
    acknowledged_at: Optional[datetime] = None
    created_at: Optional[datetime] = None
    id: Optional[int] = None

    @property
    def is_critical(self) -> bool:
        return self.severity == "critical"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
