"""Where a line of a rewritten module stood in the file as it is on disk.

The codemods of a run work on one tree in turn, each on what the one before it wrote, so the
positions the second codemod sees are those of a module that exists nowhere but in memory.
The report speaks of the file the user has open: every line a codemod names is carried back
to that file's line.

Lines are matched with their indentation left out, so code an earlier codemod only moved into
a new block (`async with engine.connect() as conn:`) keeps its own line. Among the lines an
earlier codemod wrote in place of others, each is matched, in order, with the replaced line
that shares the most of its words (`rows = all_records(await conn.execute(` with
`rows = await conn.fetch(`); a line added where nothing was replaced is given the line that
follows it in the original, the statement it was added for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from difflib import SequenceMatcher

_WORD = re.compile(r"\w+|[^\w\s]")


class LineOrigin:
    """`origin(line)`: the line of `original` that line `line` of `current` comes from (1-based;
    0, a line unknown, stays 0). `current` may be given as a function that returns it: the
    text is made, and the lines matched, on the first call only, so a codemod that names no
    line costs nothing."""

    def __init__(self, original: str, current: str | Callable[[], str]) -> None:
        self._original = original
        self._current = current
        self._lines: list[int] | None = None

    def __call__(self, line: int) -> int:
        if line <= 0:
            return line
        if self._lines is None:
            current = self._current if isinstance(self._current, str) else self._current()
            self._lines = _match(_lines(self._original), _lines(current))
        if line > len(self._lines):  # past the last line (the end of the module)
            return max(1, len(_lines(self._original)))
        return self._lines[line - 1]


def _lines(text: str) -> list[str]:
    """The lines as Python counts them: ended by \\n, \\r\\n or \\r only (str.splitlines() also
    breaks at form feeds and other separators a source may hold inside a line)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _match(old: list[str], new: list[str]) -> list[int]:
    """For each line of `new`, the 1-based line of `old` it comes from."""
    origin = [0] * len(new)
    matcher = SequenceMatcher(None, [line.strip() for line in old], [line.strip() for line in new], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            for offset in range(j2 - j1):
                origin[j1 + offset] = i1 + offset + 1
        elif tag == "insert":
            # added before old line i1 (0-based): that line, or the last one at the end
            for j in range(j1, j2):
                origin[j] = min(i1 + 1, max(1, len(old)))
        elif tag == "replace":
            for offset, i in enumerate(_align(old[i1:i2], new[j1:j2])):
                origin[j1 + offset] = i1 + i + 1
    return origin


def _align(old: list[str], new: list[str]) -> list[int]:
    """Each line of `new` paired with one of `old` (0-based), the pairs in order (a line of `old`
    may take several of `new`), so that the words they share are the most; among equal
    choices, the line at the same relative place."""
    words_old = [set(_WORD.findall(line)) for line in old]
    words_new = [set(_WORD.findall(line)) for line in new]
    m, n = len(old), len(new)

    def score(j: int, i: int) -> float:
        a, b = words_new[j], words_old[i]
        shared = 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0
        # a tie goes to the line at the same relative place in the block
        return shared - abs(i / m - j / n) * 1e-3

    # best[i]: the best total of lines 0..j of `new` with line j paired with line i of `old`
    best = [score(0, i) for i in range(m)]
    choices: list[list[int]] = []  # per line j > 0: for each i, the i' <= i line j-1 was paired with
    for j in range(1, n):
        running, where, step, back = float("-inf"), 0, [], []
        for i in range(m):
            if best[i] > running:
                running, where = best[i], i
            step.append(running + score(j, i))
            back.append(where)
        best = step
        choices.append(back)
    pairs = [max(range(m), key=lambda i: best[i])]
    for back in reversed(choices):
        pairs.append(back[pairs[-1]])
    return pairs[::-1]
