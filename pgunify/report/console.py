"""Consoles for the command line: at a terminal, its width; in CI logs, pipes and files,
tables at the width from COLUMNS, else 160 rather than rich's 80, and lines of text not
wrapped at all, so that a path, a location or a summary line is not broken where a reader
or `grep` would look for it."""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console

PLAIN_WIDTH = 160


def make_console(*, stderr: bool = False, **options: Any) -> Console:
    console = Console(stderr=stderr, **options)
    if not console.is_terminal:
        if "width" not in options and not os.environ.get("COLUMNS", "").strip().isdigit():
            console.width = PLAIN_WIDTH
        if "soft_wrap" not in options:
            console.soft_wrap = True
    return console
