"""Apply a `BindRewrite` to the Python string literal the SQL was written in.

The literal is edited in place, not rebuilt: quotes, prefixes, escape sequences,
line breaks and the comments between implicitly concatenated parts stay as the
author wrote them, so the diff shows only the placeholders and the escapes.  To do
that, every character of the literal's value is mapped back to the span of source
text that produces it (through escape sequences and line continuations).
"""

from __future__ import annotations

import ast
import unicodedata
import warnings
from dataclasses import dataclass

import libcst as cst

from pgunify.sql.binds import BindRewrite, Edit

_SIMPLE_ESCAPES = {
    "\\": "\\",
    "'": "'",
    '"': '"',
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
}
_OCTAL = "01234567"
_HEX = "0123456789abcdefABCDEF"


class LiteralRefused(ValueError):
    """The literal cannot carry the rewrite without being rebuilt."""


@dataclass(frozen=True)
class _Unit:
    """Source `body[src_start:src_end]` evaluates to `value[val_start:val_end]`."""

    val_start: int
    val_end: int
    src_start: int
    src_end: int


@dataclass
class _Part:
    node: cst.SimpleString
    prefix: str
    quote: str
    body: str
    value: str
    units: list[_Unit]  # the non-empty ones, in order
    offset: int  # where this part's value starts in the whole value

    @property
    def raw(self) -> bool:
        return "r" in self.prefix.lower()


def rewrite_literal(node: cst.SimpleString | cst.ConcatenatedString, rewrite: BindRewrite) -> cst.BaseExpression:
    """Return `node` with `rewrite.edits` applied to its source text.

    The node must evaluate to `rewrite.original`; the result evaluates to
    `rewrite.sql`.  An added backslash is written `\\:` in a raw part; a non-raw part
    without any backslash becomes raw (gains an `r` prefix) so the SQL stays
    readable; otherwise the backslash is escaped (`\\\\:`).
    """
    parts = _parts(node)
    value = "".join(p.value for p in parts)
    if value != rewrite.original:
        raise LiteralRefused("the literal does not evaluate to the SQL that was rewritten")

    per_part: dict[int, list[Edit]] = {}
    for edit in rewrite.edits:
        idx = _part_of(parts, edit)
        per_part.setdefault(idx, []).append(edit)

    replaced: dict[int, cst.SimpleString] = {}
    for idx, edits in per_part.items():
        replaced[idx] = _rewrite_part(parts[idx], edits)
    new = _rebuild(node, iter(range(len(parts))), replaced)

    code = cst.Module(body=[]).code_for_node(new)
    try:
        with warnings.catch_warnings():  # invalid escapes kept from the original literal warn again
            warnings.simplefilter("ignore")
            # parenthesised: parts on several lines are only an expression inside brackets
            result = ast.literal_eval("(" + code + "\n)")
    except (SyntaxError, ValueError) as exc:
        raise LiteralRefused(f"the edited literal is not valid Python: {exc}") from exc
    if result != rewrite.sql:
        # a safety net: e.g. a general edit text starting with a digit right after a short octal escape
        raise LiteralRefused("the edited literal would not evaluate to the rewritten SQL")
    return new


def _parts(node: cst.BaseExpression) -> list[_Part]:
    parts: list[_Part] = []

    def walk(n: cst.BaseExpression) -> None:
        if isinstance(n, cst.ConcatenatedString):
            walk(n.left)
            walk(n.right)
        elif isinstance(n, cst.SimpleString):
            offset = sum(len(p.value) for p in parts)
            parts.append(_decode(n, offset))
        elif isinstance(n, cst.FormattedString):
            raise LiteralRefused("f-strings are not rewritten: their value is not known until run time")
        else:
            raise LiteralRefused(f"{type(n).__name__} is not a plain string literal")

    walk(node)
    return parts


def _decode(node: cst.SimpleString, offset: int) -> _Part:
    token = node.value
    q = min(i for i in (token.find("'"), token.find('"')) if i >= 0)
    prefix = token[:q]
    quote = token[q : q + 3] if token[q : q + 3] in ("'''", '"""') else token[q]
    body = token[len(prefix) + len(quote) : len(token) - len(quote)]
    lower = prefix.lower()
    if "b" in lower:
        raise LiteralRefused("bytes literals are not SQL text for text()")
    if "f" in lower or "t" in lower:
        raise LiteralRefused("f-strings and t-strings are not rewritten")
    if "\r" in body:
        raise LiteralRefused("a carriage return inside the literal's source makes offsets ambiguous")
    units: list[_Unit] = []
    chars: list[str] = []

    def emit(text: str, s0: int, s1: int) -> None:
        if text:
            v0 = len(chars)
            chars.extend(text)
            units.append(_Unit(v0, len(chars), s0, s1))

    i = 0
    raw = "r" in lower
    while i < len(body):
        ch = body[i]
        if ch != "\\" or raw:
            emit(ch, i, i + 1)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt == "\n":  # line continuation: no value at all
            i += 2
        elif nxt in _SIMPLE_ESCAPES:
            emit(_SIMPLE_ESCAPES[nxt], i, i + 2)
            i += 2
        elif nxt in _OCTAL:
            j = i + 1
            while j < len(body) and j < i + 4 and body[j] in _OCTAL:
                j += 1
            emit(chr(int(body[i + 1 : j], 8)), i, j)
            i = j
        elif nxt in "xuU":
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or any(d not in _HEX for d in digits) or int(digits, 16) > 0x10FFFF:
                raise LiteralRefused(f"malformed \\{nxt} escape in the literal")
            emit(chr(int(digits, 16)), i, i + 2 + width)
            i += 2 + width
        elif nxt == "N" and body[i + 2 : i + 3] == "{":
            close = body.find("}", i + 3)
            if close < 0:
                raise LiteralRefused("malformed \\N{...} escape in the literal")
            try:
                emit(unicodedata.lookup(body[i + 3 : close]), i, close + 1)
            except KeyError as exc:
                raise LiteralRefused(f"unknown character name in \\N{{{body[i + 3 : close]}}}") from exc
            i = close + 1
        else:  # an unknown escape keeps its backslash: two characters of value
            emit("\\" + nxt, i, i + 2)
            i += 2
    return _Part(node, prefix, quote, body, "".join(chars), units, offset)


def _part_of(parts: list[_Part], edit: Edit) -> int:
    """The index of the part that holds `edit` whole."""
    for idx, p in enumerate(parts):
        lo, hi = p.offset, p.offset + len(p.value)
        if edit.start == edit.end:
            # an insertion belongs with the character it precedes; at the very end, to the last part
            if lo <= edit.start < hi or (edit.start == hi and idx == len(parts) - 1):
                return idx
        elif lo <= edit.start and edit.end <= hi:
            return idx
    raise LiteralRefused(f"the edit at {edit.start}..{edit.end} spans two concatenated string parts")


def _unit_at(part: _Part, k: int) -> _Unit:
    lo, hi = 0, len(part.units)
    while lo < hi:
        mid = (lo + hi) // 2
        if part.units[mid].val_end <= k:
            lo = mid + 1
        else:
            hi = mid
    return part.units[lo]


def _rewrite_part(part: _Part, edits: list[Edit]) -> cst.SimpleString:
    prefix = part.prefix
    raw = part.raw
    if not raw and "\\" not in part.body and "u" not in prefix.lower() and any("\\" in e.text for e in edits):
        prefix = "r" + prefix  # no escapes to keep: a raw literal shows `\:` as SQLAlchemy reads it
        raw = True
    encode = _encode_raw if raw else _encode_escaped
    out: list[str] = []
    pos = 0
    for e in edits:
        s, t = e.start - part.offset, e.end - part.offset
        if s == t:
            src0 = _unit_at(part, s).src_start if s < len(part.value) else len(part.body)
            src1 = src0
            new = encode(e.text, part.quote)
        else:
            first, last = _unit_at(part, s), _unit_at(part, t - 1)
            src0, src1 = first.src_start, last.src_end
            # an edit may cut through a unit that yields several characters (`\q`)
            keep = part.value[first.val_start : s] + e.text + part.value[t : last.val_end]
            new = encode(keep, part.quote)
        if src0 < pos:
            raise LiteralRefused("edits overlap inside one escape sequence")
        out.append(part.body[pos:src0])
        out.append(new)
        pos = src1
    out.append(part.body[pos:])
    return part.node.with_changes(value=prefix + part.quote + "".join(out) + part.quote)


def _encode_raw(text: str, quote: str) -> str:
    if quote[0] in text or (len(quote) == 1 and "\n" in text) or text.endswith("\\"):
        raise LiteralRefused(f"{text!r} cannot be written inside a raw literal")
    return text


def _encode_escaped(text: str, quote: str) -> str:
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == quote[0]:
            out.append("\\" + ch)
        elif ch == "\n" and len(quote) == 3:
            out.append(ch)
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])
    return "".join(out)


def _rebuild(node: cst.BaseExpression, counter, replaced: dict[int, cst.SimpleString]) -> cst.BaseExpression:
    if isinstance(node, cst.ConcatenatedString):
        left = _rebuild(node.left, counter, replaced)
        right = _rebuild(node.right, counter, replaced)
        return node.with_changes(left=left, right=right)
    idx = next(counter)
    return replaced.get(idx, node)
