"""Unified diffs that `git apply` and `patch -p1` accept, and their colouring."""

from __future__ import annotations

import difflib
import io
import os
import tokenize
from pathlib import Path

from rich.text import Text

from pgunify.dsn import redact_text
from pgunify.rewrite.outcome import Changed


def decode_source(data: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError:
        encoding = "utf-8"
    return data.decode(encoding, errors="replace")


def unified_diff(outcome: Changed, context: int = 3) -> str:
    old_lines = decode_source(outcome.old).splitlines(keepends=True) if outcome.old is not None else []
    new_lines = decode_source(outcome.new).splitlines(keepends=True)
    fromfile = f"a/{outcome.path}" if outcome.old is not None else "/dev/null"
    out = []
    for line in difflib.unified_diff(old_lines, new_lines, fromfile=fromfile, tofile=f"b/{outcome.path}", n=context):
        if line.endswith("\n"):
            out.append(line)
        else:  # the last line of a file without a final newline
            out.append(line + "\n\\ No newline at end of file\n")
    return "".join(out)


def redacted(diff: str) -> tuple[str, int]:
    """The diff with every URL password shown as ***, and how many lines that changed.

    Such a diff no longer applies where it masked something; `exact_patch` is the one to apply."""
    folded = diff.casefold()  # as the patterns' IGNORECASE matches (a long s is an s)
    if "://" not in folded and "passw" not in folded:
        return diff, 0  # nothing any pattern of `redact_text` could match (each needs one of these)
    lines, masked = [], 0
    for line in diff.splitlines(keepends=True):
        safe = redact_text(line)
        masked += safe != line
        lines.append(safe)
    return "".join(lines), masked


def exact_patch(outcomes: list[Changed]) -> str:
    return "".join(unified_diff(o) for o in outcomes)


def write_private(path: Path, text: str) -> None:
    """Create or replace a file only its owner can read: it may hold the source's secrets."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def colour(diff: str) -> Text:
    text = Text()
    for line in diff.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line, style=style)
    return text
