"""Rewrite asyncpg SQL (`$1`, `$2`, ...) into SQL for SQLAlchemy's `text()` (`:name`).

Two things make this more than a substitution:

* `text()` finds binds with a regular expression that knows nothing of SQL, so a
  colon inside a string literal (`'{"a":1}'`), a comment or a quoted identifier, or
  an array slice `a[:2]`, can be taken as a bind.  Such colons get a backslash, which
  the compiler removes again.  A bind followed by a colon (`$1::jsonb`) is not a
  bind at all for that expression, so the cast is written `:p1\\:\\:jsonb`.
* The backslash escape is itself a regular expression (`\\:name` not followed by
  `:` or a word character), so whether a given backslash is removed depends on its
  neighbours, and a backslash already in the SQL (`E'\\:'`) can be eaten.

Rather than re-deriving those rules, the colons to escape are found by running the
installed SQLAlchemy's own expressions over the candidate text until nothing is
misread, and the result must then pass `pgunify.sql.proof.prove`: compiled by the
asyncpg dialect it gives back the original statement.  Placeholders come from
PostgreSQL's scanner, never from a regular expression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

from pgunify.sql.lexing import SqlLexError, tokens
from pgunify.sql.proof import prove

_NAME = re.compile(r"\w+")
_WORD = re.compile(r"\w")


@dataclass(frozen=True)
class Edit:
    """Replace `original[start:end]` with `text`."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class BindRewrite:
    original: str
    sql: str  # the text for text(): `$n` -> `:name`, misreadable colons escaped as `\:`
    names: dict[int, str]  # n -> bind name, for every `$n` present
    edits: tuple[Edit, ...]  # sorted, non-overlapping; applied to `original` they give `sql`


class RewriteRefused(ValueError):
    """The SQL cannot be expressed for `text()` so that it compiles back unchanged."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _regexes():
    # The same objects text() and the compiler use; imported lazily so that a change
    # between SQLAlchemy releases is followed, not frozen here.
    from sqlalchemy.sql import compiler
    from sqlalchemy.sql.elements import TextClause

    return TextClause._bind_params_regex, compiler.BIND_PARAMS, compiler.BIND_PARAMS_ESC


def _is_word(ch: str) -> bool:
    return bool(ch) and _WORD.fullmatch(ch) is not None


@dataclass(frozen=True)
class _Param:
    start: int
    end: int
    n: int


def to_named_binds(sql: str, name_for: Callable[[int], str] | Mapping[int, str] | None = None) -> BindRewrite:
    """Rewrite `$n` placeholders to `:name` binds and escape colons `text()` would misread.

    `name_for` picks the bind name of each `$n` (a callable or a mapping); by default
    `$n` becomes `:pn`.  Raises `RewriteRefused` when the SQL does not lex, uses `$0`,
    names are invalid or clash, or a placeholder sits where `text()` cannot see a bind
    (right after a colon or a word character).
    """
    try:
        toks = tokens(sql)
    except SqlLexError as exc:
        raise RewriteRefused(f"the SQL does not lex: {exc}") from exc
    params = tuple(_Param(t.start, t.end, int(sql[t.start + 1 : t.end])) for t in toks if t.name == "PARAM")
    for p in params:
        if p.n == 0:
            raise RewriteRefused(f"$0 at offset {p.start} is not a placeholder asyncpg accepts (numbering starts at $1)")
    names = _resolve_names({p.n for p in params}, name_for)
    _check_surroundings(sql, params)
    escaped = _find_escapes(sql, params, names)

    edits: list[Edit] = [Edit(p.start, p.end, ":" + names[p.n]) for p in params]
    edits += [Edit(c, c + 1, "\\:") for c in escaped]
    edits.sort(key=lambda e: e.start)
    new_sql = apply_edits(sql, edits)
    proof = prove(sql, new_sql, names)
    if not proof.ok:
        raise RewriteRefused(f"the rewrite would not compile back to the original SQL: {proof.detail}")
    return BindRewrite(sql, new_sql, names, tuple(edits))


def apply_edits(original: str, edits: tuple[Edit, ...] | list[Edit]) -> str:
    """Apply sorted, non-overlapping edits to `original`."""
    out: list[str] = []
    pos = 0
    for e in edits:
        if e.start < pos or e.end < e.start:
            raise ValueError(f"edits overlap or are unsorted at {e}")
        out.append(original[pos : e.start])
        out.append(e.text)
        pos = e.end
    out.append(original[pos:])
    return "".join(out)


def _resolve_names(numbers: set[int], name_for: Callable[[int], str] | Mapping[int, str] | None) -> dict[int, str]:
    names: dict[int, str] = {}
    for n in sorted(numbers):
        if name_for is None:
            name = f"p{n}"
        elif isinstance(name_for, Mapping):
            if n not in name_for:
                raise RewriteRefused(f"no bind name given for ${n}")
            name = name_for[n]
        else:
            name = name_for(n)
        if not isinstance(name, str) or _NAME.fullmatch(name) is None:
            raise RewriteRefused(f"bind name {name!r} for ${n} is not made of word characters only")
        names[n] = name
    by_name: dict[str, int] = {}
    for n, name in names.items():
        if name in by_name:
            raise RewriteRefused(f"${by_name[name]} and ${n} would share the bind name {name!r}")
        by_name[name] = n
    return names


def _check_surroundings(sql: str, params: tuple[_Param, ...]) -> None:
    """Refuse placeholders whose neighbours stop `text()` from reading `:name` as a bind."""
    ends = {p.end for p in params}
    for p in params:
        before = sql[p.start - 1] if p.start else ""
        after = sql[p.end] if p.end < len(sql) else ""
        if p.start in ends:
            raise RewriteRefused(f"placeholders written together at offset {p.start} (`$a$b`); text() cannot separate two binds")
        if before == ":":
            raise RewriteRefused(
                f"${p.n} at offset {p.start} directly follows ':' (as in a[1:${p.n}]); text() never sees a bind "
                f"right after a colon, so put a space before the placeholder"
            )
        if before == "\\" or _is_word(before):
            raise RewriteRefused(f"${p.n} at offset {p.start} directly follows {before!r}; text() would not see a bind there")
        if _is_word(after):
            raise RewriteRefused(f"${p.n} at offset {p.start} is directly followed by {after!r}; the bind name would absorb it")


def _find_escapes(sql: str, params: tuple[_Param, ...], names: dict[int, str]) -> list[int]:
    """The offsets of the colons of `sql` that need a backslash, found by fixed point.

    Start with none; build the candidate text; run text()'s and the compiler's bind
    expressions and the compiler's unescape expression over it; every misreading
    names one more colon to escape.  Escapes only ever get added, so this ends.
    """
    text_re, compile_re, esc_re = _regexes()
    colons = [i for i, ch in enumerate(sql) if ch == ":"]
    escaped: set[int] = set()
    for _ in range(len(colons) + 2):
        more = _misreadings(sql, params, names, escaped, text_re, compile_re, esc_re)
        if not more:
            return sorted(escaped)
        if more <= escaped:  # pragma: no cover - defensive: no progress possible
            break
        escaped |= more
    raise RewriteRefused("could not find an escaping of the colons that text() reads back unchanged")


def _misreadings(sql, params, names, escaped, text_re, compile_re, esc_re) -> set[int]:
    # Build the candidate; origin[k] says where character k of it comes from:
    # ("s", i) sql[i] copied, ("esc", i) our backslash before the colon sql[i],
    # ("bind", i) part of the bind that replaces the placeholder starting at sql[i].
    by_start = {p.start: p for p in params}
    out: list[str] = []
    origin: list[tuple[str, int]] = []
    binds: dict[int, tuple[int, _Param]] = {}  # start in candidate -> (end, placeholder)
    i = 0
    while i < len(sql):
        p = by_start.get(i)
        if p is not None:
            b = ":" + names[p.n]
            binds[len(out)] = (len(out) + len(b), p)
            out.extend(b)
            origin.extend([("bind", i)] * len(b))
            i = p.end
            continue
        if i in escaped:
            out.append("\\")
            origin.append(("esc", i))
        out.append(sql[i])
        origin.append(("s", i))
        i += 1
    cand = "".join(out)

    def plain_colon(k: int) -> int | None:
        if 0 <= k < len(cand) and origin[k][0] == "s" and cand[k] == ":":
            return origin[k][1]
        return None

    more: set[int] = set()
    # 1. every bind regex must find exactly our binds
    for regex in (text_re,) if text_re is compile_re else (text_re, compile_re):
        found: set[int] = set()
        for m in regex.finditer(cand):
            span = binds.get(m.start())
            if span is not None and span[0] == m.end():
                found.add(m.start())
                continue
            c = plain_colon(m.start())
            if c is not None:
                more.add(c)
        for start, (end, p) in binds.items():
            if start in found:
                continue
            c = plain_colon(end)
            if c is None:
                raise RewriteRefused(f"text() would not read ${p.n} at offset {p.start} as the bind :{names[p.n]}")
            more.add(c)
    if more:
        return more

    # 2. the unescape must remove exactly our backslashes
    pchars: list[str] = []
    porigin: list[int | None] = []  # index into cand, None inside a rendered bind
    pos = 0
    for m in compile_re.finditer(cand):
        pchars.append(cand[pos : m.start()])
        porigin.extend(range(pos, m.start()))
        pchars.append("$1")
        porigin.extend((None, None))
        pos = m.end()
    pchars.append(cand[pos:])
    porigin.extend(range(pos, len(cand)))
    rendered = "".join(pchars)
    removed = {porigin[m.start()] for m in esc_re.finditer(rendered)}
    cand_to_rendered = {k: j for j, k in enumerate(porigin) if k is not None}
    for k, (kind, i) in enumerate(origin):
        if kind == "s" and cand[k] == "\\" and k in removed:
            c = plain_colon(k + 1)
            if c is None:  # pragma: no cover - the unescape only matches a backslash before a colon
                raise RewriteRefused(f"text() would drop the backslash at offset {i}")
            more.add(c)  # `\:` in the SQL: escape its colon so that `\\:` unescapes to `\:`
        elif kind == "esc" and k not in removed:
            # our backslash stays: the colon run after it continues into a colon
            j = cand_to_rendered[k] + 2
            while j < len(rendered) and (_is_word(rendered[j]) or rendered[j] == "$"):
                j += 1
            c = plain_colon(porigin[j]) if j < len(rendered) and porigin[j] is not None else None
            if c is None:
                raise RewriteRefused(f"cannot escape the colon at offset {i} so that text() removes the backslash again")
            more.add(c)
    return more
