"""The proof obligation of a placeholder rewrite.

A rewrite from asyncpg's `$n` to SQLAlchemy's `text()` is accepted only when the
new text, compiled by the asyncpg dialect (paramstyle `numeric_dollar`), gives back
the original statement byte for byte, up to the numbering of its placeholders.  The
dialect numbers binds by first appearance, so the original is renumbered the same
way before the comparison.  Because the check runs SQLAlchemy itself, it holds for
whatever escaping rules the installed version applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from pgunify.sql.lexing import SqlLexError, tokens


@dataclass(frozen=True)
class Proof:
    ok: bool
    original: str
    compiled: str
    detail: str  # empty when ok, else why not, readable by a person


@lru_cache(maxsize=1)
def _dialect():
    # Building a dialect is not free; one instance is enough to compile text.
    from sqlalchemy.dialects.postgresql.asyncpg import dialect

    return dialect()


def placeholder_order(sql: str) -> tuple[int, ...]:
    """The distinct `$n` numbers of `sql` in order of first appearance."""
    seen: dict[int, None] = {}
    for tok in tokens(sql):
        if tok.name == "PARAM":
            seen.setdefault(int(sql[tok.start + 1 : tok.end]), None)
    return tuple(seen)


def renumber(sql: str) -> str:
    """Renumber `$n` by first appearance, which is how the dialect numbers binds.

    Only scanner PARAM tokens are touched, never a `$1` inside a literal or comment.
    """
    order: dict[int, int] = {}
    out: list[str] = []
    pos = 0
    for tok in tokens(sql):
        if tok.name != "PARAM":
            continue
        n = int(sql[tok.start + 1 : tok.end])
        k = order.setdefault(n, len(order) + 1)
        out.append(sql[pos : tok.start])
        out.append(f"${k}")
        pos = tok.end
    out.append(sql[pos:])
    return "".join(out)


def _compile(sql_for_text: str):
    from sqlalchemy import text

    clause = text(sql_for_text)
    return clause, clause.compile(dialect=_dialect())


def compile_text(sql_for_text: str) -> str:
    """What the asyncpg dialect sends to the server for `text(sql_for_text)`."""
    return str(_compile(sql_for_text)[1])


def prove(original: str, rewritten: str, names: Mapping[int, str] | None = None) -> Proof:
    """Check that `text(rewritten)` compiles back to `original` (renumbered).

    Equal strings alone cannot tell that the binds are wired to the right arguments:
    a rewrite that swaps two names everywhere still compiles to the same text.  Pass
    `names` (n -> bind name, as in `BindRewrite.names`) to also check that the k-th
    bind of the compiled statement is the name given to the k-th distinct `$n` of
    the original.
    """
    try:
        expected = renumber(original)
    except SqlLexError as exc:
        return Proof(False, original, "", f"the original SQL does not lex: {exc}")
    try:
        clause, compiled = _compile(rewritten)
    except Exception as exc:  # any failure of text() or the compiler refutes the rewrite
        return Proof(False, original, "", f"text() could not compile the rewrite: {type(exc).__name__}: {exc}")
    out = str(compiled)
    if out != expected:
        return Proof(False, original, out, _first_difference(expected, out))
    positional = tuple(compiled.positiontup or ())
    unused = sorted(set(clause._bindparams) - set(positional))
    if unused:
        # text() and the compiler disagreeing on what is a bind (seen in older 2.0
        # releases): the statement would demand values nobody passes.
        return Proof(False, original, out, f"text() registers bind parameters not present in the compiled SQL: {unused}")
    if names is not None:
        order = placeholder_order(original)
        wanted = tuple(names.get(n) for n in order)
        if wanted != positional:
            pairs = ", ".join(f"${k} is ${n} -> {w!r} but compiled from {g!r}" for k, (n, w, g) in enumerate(zip(order, wanted, positional), 1) if w != g)
            if len(wanted) != len(positional):
                pairs = f"expected binds {list(wanted)}, compiled binds {list(positional)}"
            return Proof(False, original, out, f"binds are wired to the wrong placeholders: {pairs}")
    return Proof(True, original, out, "")


def _first_difference(expected: str, got: str, context: int = 20) -> str:
    i = 0
    limit = min(len(expected), len(got))
    while i < limit and expected[i] == got[i]:
        i += 1
    lo = max(0, i - context)
    return (
        f"compiled SQL differs from the original at offset {i}: "
        f"expected {expected[lo : i + context]!r}, got {got[lo : i + context]!r}"
        + (f" (lengths {len(expected)} vs {len(got)})" if len(expected) != len(got) else "")
    )
