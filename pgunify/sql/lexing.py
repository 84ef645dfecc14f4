"""SQL seen through PostgreSQL's own scanner (pglast), never through regular expressions.

The scanner knows where string literals, dollar-quoted bodies, quoted identifiers and
comments begin and end, so a `$1` or a `:` inside them is never mistaken for syntax.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pglast import parser as _pg


class SqlLexError(ValueError):
    pass


@dataclass(frozen=True)
class Token:
    start: int  # offset of the first character
    end: int  # offset one past the last character
    name: str  # pglast token name: PARAM, TYPECAST, SCONST, IDENT, SQL_COMMENT, ...
    kind: str


@dataclass(frozen=True)
class Placeholder:
    number: int  # the n of $n
    start: int
    end: int
    cast: str | None  # the type named right after `::`, if any


@dataclass(frozen=True)
class SqlShape:
    """What the scan reports about one statement string."""

    placeholders: tuple[Placeholder, ...]
    statements: int  # top-level statements separated by `;`
    first_keyword: str | None  # SELECT, INSERT, CREATE, ...

    @property
    def numbers(self) -> tuple[int, ...]:
        return tuple(sorted({p.number for p in self.placeholders}))

    @property
    def casts(self) -> tuple[tuple[int, str], ...]:
        return tuple((p.number, p.cast) for p in self.placeholders if p.cast)

    @property
    def is_ddl(self) -> bool:
        return self.first_keyword in {"CREATE", "ALTER", "DROP", "COMMENT", "GRANT"}


@lru_cache(maxsize=4096)
def tokens(sql: str) -> tuple[Token, ...]:
    try:
        raw = _pg.scan(sql)
    except Exception as exc:  # pglast raises its own ParseError subclasses
        raise SqlLexError(str(exc)) from exc
    return tuple(Token(t.start, t.end + 1, t.name, t.kind) for t in raw)


def shape(sql: str) -> SqlShape:
    toks = tokens(sql)
    placeholders: list[Placeholder] = []
    statements = 0
    in_statement = False
    first_keyword: str | None = None
    depth = 0
    for i, tok in enumerate(toks):
        if tok.name in ("SQL_COMMENT", "C_COMMENT"):
            continue
        if tok.name == "ASCII_40":
            depth += 1
        elif tok.name == "ASCII_41":
            depth -= 1
        if tok.name == "ASCII_59" and depth == 0:
            in_statement = False
            continue
        if not in_statement:
            in_statement = True
            statements += 1
            if first_keyword is None:
                first_keyword = sql[tok.start : tok.end].upper()
        if tok.name == "PARAM":
            placeholders.append(Placeholder(int(sql[tok.start + 1 : tok.end]), tok.start, tok.end, _cast_after(sql, toks, i)))
    return SqlShape(tuple(placeholders), statements, first_keyword)


def _cast_after(sql: str, toks: tuple[Token, ...], i: int) -> str | None:
    if i + 2 < len(toks) and toks[i + 1].name == "TYPECAST":
        # the type name may span several tokens: `double precision`, `int[]`, `varchar(20)`
        start = toks[i + 2].start
        end = toks[i + 2].end
        j = i + 3
        while j < len(toks) and (toks[j].name in ("ASCII_91", "ASCII_93") or (toks[j].name == "ICONST" and toks[j - 1].name == "ASCII_91")):
            end = toks[j].end
            j += 1
        return sql[start:end]
    return None
