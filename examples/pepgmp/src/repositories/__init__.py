from src.repositories.alert_repository import PostgreSQLAlertRepository
from src.repositories.camera_repository import PostgreSQLCameraRepository
from src.repositories.detection_repository import PostgreSQLDetectionRecordRepository

__all__ = [
    "PostgreSQLAlertRepository",
    "PostgreSQLCameraRepository",
    "PostgreSQLDetectionRecordRepository",
]
