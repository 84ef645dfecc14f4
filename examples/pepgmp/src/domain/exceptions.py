"""Domain-level errors raised by repositories and services."""


class DomainError(Exception):
    """Base class for errors the API layer knows how to translate."""


class ValidationError(DomainError, ValueError):
    """Input rejected by a business rule."""


class CameraNotFoundError(DomainError):
    def __init__(self, camera_id):
        super().__init__(f"camera {camera_id} not found")
        self.camera_id = camera_id


class CameraAlreadyExistsError(DomainError):
    def __init__(self, name: str):
        super().__init__(f"camera with name {name!r} already exists")
        self.name = name


class AlertNotFoundError(DomainError):
    def __init__(self, alert_id: int):
        super().__init__(f"alert {alert_id} not found")
        self.alert_id = alert_id


class AlertAlreadyAcknowledgedError(DomainError):
    def __init__(self, alert_id: int):
        super().__init__(f"alert {alert_id} has already been acknowledged")
        self.alert_id = alert_id


class DetectionNotFoundError(DomainError):
    def __init__(self, record_id: int):
        super().__init__(f"detection record {record_id} not found")
        self.record_id = record_id


class DuplicateFrameError(DomainError):
    def __init__(self, camera_id: int, detail: str = ""):
        message = f"duplicate frame for camera {camera_id}"
        if detail:
            message = f"{message}: {detail}"
        super().__init__(message)
        self.camera_id = camera_id
