from src.domain.alert import SEVERITIES, Alert
from src.domain.camera import CAMERA_STATUSES, Camera
from src.domain.detection import DetectionRecord
from src.domain.exceptions import (
    AlertAlreadyAcknowledgedError,
    AlertNotFoundError,
    CameraAlreadyExistsError,
    CameraNotFoundError,
    DetectionNotFoundError,
    DomainError,
    DuplicateFrameError,
    ValidationError,
)

__all__ = [
    "Alert",
    "AlertAlreadyAcknowledgedError",
    "AlertNotFoundError",
    "CAMERA_STATUSES",
    "Camera",
    "CameraAlreadyExistsError",
    "CameraNotFoundError",
    "DetectionNotFoundError",
    "DetectionRecord",
    "DomainError",
    "DuplicateFrameError",
    "SEVERITIES",
    "ValidationError",
]
