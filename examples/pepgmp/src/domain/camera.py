from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Optional

CAMERA_STATUSES = ("active", "inactive", "maintenance", "error")


@dataclass
class Camera:
    name: str
    location: Optional[str] = None
    rtsp_url: Optional[str] = None
    status: str = "inactive"
    config: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    id: Optional[int] = None
    created_at: Optional[datetime] = None
    updated_at: Optional[datetime] = None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
