"""Unified diffs that `git apply` and `patch -p1` accept, and their colouring."""

from __future__ import annotations

import difflib
import io
import tokenize

from rich.text import Text

from unify.rewrite.outcome import Changed


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
