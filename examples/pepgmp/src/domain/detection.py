from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Optional


@dataclass
class DetectionRecord:
    camera_id: int
    frame_id: int
    detected_at: datetime
    objects: list[dict[str, Any]] = field(default_factory=list)
    object_count: int = 0
    confidence: Optional[Decimal] = None
    processing_ms: Optional[float] = None
    id: Optional[int] = None

    def classes(self) -> set[str]:
        return {obj.get("class") for obj in self.objects if obj.get("class")}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
