"""What a long run is doing, on one transient line of a terminal.

The library says what it is doing through the `pgunify` loggers at INFO level (provisioning a
server, the phases of a migration) and through counts of files done; the command line shows
the newest of these on one status line. The line appears only on a terminal, and only once
the run has lasted about a second, so quick runs stay quiet; in a pipe or a file nothing is
drawn at all. `UNIFY_PROGRESS_DELAY` (seconds) changes the wait.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from rich.console import Console

DELAY = 1.0


class Activity:
    """`with Activity(console, "migrating") as activity:` then `activity.say(...)` or
    `activity.count(done, total)`; INFO records of the pgunify loggers are said too."""

    def __init__(self, console: Console, label: str, delay: float | None = None) -> None:
        self.console = console
        self.label = label
        self.text = label
        self.delay = float(os.environ.get("UNIFY_PROGRESS_DELAY", DELAY)) if delay is None else delay
        self.enabled = console.is_terminal
        self._lock = threading.Lock()
        self._status: Any = None
        self._timer: threading.Timer | None = None
        self._closed = False
        self._handler: logging.Handler | None = None
        self._level = logging.NOTSET

    def __enter__(self) -> Activity:
        if not self.enabled:
            return self
        self._handler = _Said(self)
        logger = logging.getLogger("pgunify")
        self._level = logger.level
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)  # no handler above prints INFO records: root has none
        logger.addHandler(self._handler)
        self._timer = threading.Timer(self.delay, self._show)
        self._timer.daemon = True
        self._timer.start()
        return self

    def say(self, text: str) -> None:
        with self._lock:
            self.text = f"{self.label}: {text}"
            if self._status is not None:
                self._status.update(self._escaped())

    def count(self, done: int, total: int, unit: str = "files") -> None:
        self.say(f"{done}/{total} {unit}")

    def _escaped(self) -> str:
        from rich.markup import escape

        return escape(self.text)

    def _show(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._status = self.console.status(self._escaped())
            self._status.start()

    def __exit__(self, *exc: object) -> None:
        if not self.enabled:
            return
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            if self._status is not None:
                self._status.stop()
        logger = logging.getLogger("pgunify")
        if self._handler is not None:
            logger.removeHandler(self._handler)
        logger.setLevel(self._level)


class _Said(logging.Handler):
    def __init__(self, activity: Activity) -> None:
        super().__init__(logging.INFO)
        self.activity = activity

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno == logging.INFO:
            try:
                self.activity.say(record.getMessage())
            except Exception:  # noqa: BLE001 - a status line never breaks a run
                pass
