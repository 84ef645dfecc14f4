"""Hypothesis strategies for realistic PostgreSQL statements written for asyncpg.

Use `sql_statements()` wherever a test needs SQL as found in asyncpg code: SELECT,
INSERT, UPDATE and DELETE statements whose `$n` placeholders appear in random order
and repeated, next to the things that trip up naive rewriting: colons inside string
literals (`'HH24:MI'`, `'{"a":1}'`, `':x'`), `$1` inside literals, dollar-quoted
bodies and comments, doubled quotes, E'' strings with backslashes, casts right after
placeholders and elsewhere, array slices, named arguments, quoted identifiers with
colons, and non-ASCII text.  Every statement is valid PostgreSQL syntax (the tests
check that with PostgreSQL's own parser) and uses each of `$1..$k` at least once,
as the server requires.  None puts a placeholder straight after a colon (`a[1:$1]`),
which `text()` cannot express; `slices_after_colon=True` lets them in.

    from sql_strategies import sql_statements

    @given(sql_statements())
    def test_something(sql): ...
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = [
    "sql_statements",
    "string_literals",
    "dollar_quoted",
    "comments",
    "quoted_identifiers",
    "placeholder_sequence",
]

# Characters chosen to sit next to colons and quotes in every combination; includes
# word characters outside ASCII (SQLAlchemy's bind regex is Unicode-aware) and a
# character outside the BMP.
_ATOMS = st.sampled_from(list("ab xyZ019_:$'\"\\;,.-*/{}[]()=@éü名ßΩ🙂") + ["\n", "::", ":x", "$1", "$2", ":é", "\\:"])


def _text(min_size: int = 0, max_size: int = 10) -> st.SearchStrategy[str]:
    return st.lists(_ATOMS, min_size=min_size, max_size=max_size).map("".join)


_COLUMNS = ["id", "name", "email", "created_at", "payload", "tags", "score", '"Display Name"', '"a:b"', '"naïve:col"', '"x""y:z"', "t.id"]
_TABLES = ["users", "public.orders", "events t", '"Weird:Table"', "accounts AS t"]
_CASTS = ["jsonb", "json", "int", "bigint", "int[]", "text", "text[]", "uuid", "timestamptz", "numeric(10, 2)", "double precision", "varchar(20)", "date"]

_COLON_LITERALS = [
    "'HH24:MI'",
    "'HH24:MI:SS'",
    "'{\"a\":1}'",
    "'{\"a\": {\"b\":[1,2]}}'",
    "':x'",
    "'::'",
    "'a::b'",
    "' :name '",
    "'$1'",
    "'$2::int'",
    "'it''s :x'",
    "''",
    "'a\\:b'",
    "E'\\n:x'",
    "E'\\:'",
    "E'\\\\:y'",
    "E'\\':z'",
    "E'\\x41:B'",
    "'ça:été'",
    "'名前:値'",
    "'🙂:x'",
    "U&'d\\0061t:a'",
    "'10:30'::time",
    "interval '1:30'",
    "'2024-01-01 10:00:00'::timestamp",
]


def string_literals() -> st.SearchStrategy[str]:
    """String constants: standard (backslash is literal), E'' with escapes, or a known tricky one."""
    standard = _text(max_size=12).map(lambda s: "'" + s.replace("'", "''") + "'")
    escaped = st.lists(
        st.one_of(
            st.sampled_from(["\\\\", "\\'", "\\n", "\\t", "\\:", "\\x41", "\\u00e9", "''", ":", "$1", "::"]),
            _text(max_size=3).map(lambda s: s.replace("\\", "\\\\").replace("'", "''")),
        ),
        max_size=5,
    ).map(lambda xs: "E'" + "".join(xs) + "'")
    return st.one_of(st.sampled_from(_COLON_LITERALS), standard, escaped)


def dollar_quoted() -> st.SearchStrategy[str]:
    """`$$body$$` or `$tag$body$tag$` string constants; the body may hold `$1`, colons and quotes."""

    def build(tag_and_body: tuple[str, str]) -> str:
        tag, body = tag_and_body
        return f"{tag}{body}{tag}"

    def closes_only_at_end(tag_and_body: tuple[str, str]) -> bool:
        tag, body = tag_and_body
        return (body + tag).find(tag) == len(body)

    tags = st.sampled_from(["$$", "$fn$", "$body$", "$_x1$", "$é$"])
    return st.tuples(tags, _text(max_size=12)).filter(closes_only_at_end).map(build)


def comments() -> st.SearchStrategy[str]:
    """Line and block comments (block comments nest in PostgreSQL) full of colons and `$n`."""
    line = _text(max_size=10).map(lambda s: "-- " + s.replace("\n", " ") + "\n")
    block = _text(max_size=10).filter(lambda s: "*/" not in s and "/*" not in s and not s.endswith("/") and not s.endswith("*")).map(lambda s: "/* " + s + " */")
    fixed = st.sampled_from(["-- comment: $1 :x\n", "/* :x */", "/* outer /* :inner $2 */ :x */", "--:y\n", "/*::*/"])
    return st.one_of(fixed, line, block)


def quoted_identifiers() -> st.SearchStrategy[str]:
    """Double-quoted identifiers, some with colons, doubled quotes and non-ASCII letters."""
    generated = _text(min_size=1, max_size=8).map(lambda s: '"' + s.replace('"', '""') + '"')
    return st.one_of(st.sampled_from(['"a:b"', '":x"', '"名前:x"', '"x""y:z"', '"$1"']), generated)


@st.composite
def placeholder_sequence(draw, max_params: int = 5, min_params: int = 0) -> list[int]:
    """The order in which placeholders occur: each of 1..k at least once, shuffled, some repeated."""
    k = draw(st.integers(min_params, max_params))
    if k == 0:
        return []
    numbers = list(range(1, k + 1))
    repeats = draw(st.lists(st.sampled_from(numbers), max_size=3))
    return draw(st.permutations(numbers + repeats))


# `{p}` is the placeholder, `{t}` a type name
_PARAM_TEMPLATES = [
    "{p}",
    "{p}::{t}",
    "CAST({p} AS {t})",
    "lower({p})",
    "coalesce({p}, 'n/a:x')",
    "{p} || ':suffix'",
    "{p}::text || '$1'",
    "jsonb_build_object('k:v', {p}::jsonb)",
    "make_interval(days => {p})",
    "f(x := {p})",
    "({p})::date",
    "tags[{p}]",
    "tags[{p}:]",
    "tags[{p}:3]",
    "tags[{p} : 3]",
    "tags[1: {p}]",
    "to_char({p}::timestamptz, 'HH24:MI')",
    "{p}::jsonb->>'a:b'",
]
_PARAM_FORMS = st.sampled_from(_PARAM_TEMPLATES)
_PARAM_FORMS_WITH_SLICES = st.sampled_from(_PARAM_TEMPLATES + ["tags[1:{p}]", "tags[{p}:{p}]"])
_CAST = st.sampled_from(_CASTS)

_PLAIN_EXPR = st.one_of(
    string_literals(),
    dollar_quoted(),
    st.sampled_from(
        [
            "42",
            "now()",
            "to_char(created_at, 'HH24:MI:SS')",
            "id::text",
            "payload::jsonb",
            "tags[1:2]",
            "tags[:2]",
            "tags[2:]",
            "ARRAY[1, 2]",
            "f(x => 1)",
            '"a:b"',
            "NULL",
        ]
    ),
    quoted_identifiers(),
)
_COMMENT = comments()
_COLUMN = st.sampled_from(_COLUMNS)
_OPERATOR = st.sampled_from(["=", "<>", "<", ">=", "IS DISTINCT FROM", "= ANY", "@>"])


def _join_with_comments(draw, pieces: list[str]) -> str:
    """Join tokens with spaces, now and then putting a comment between them."""
    out = [pieces[0]]
    for piece in pieces[1:]:
        if draw(st.integers(0, 9)) == 0:
            out.append(" " + draw(_COMMENT) + " ")
        else:
            out.append(" ")
        out.append(piece)
    return "".join(out)


@st.composite
def sql_statements(draw, max_params: int = 5, min_params: int = 0, slices_after_colon: bool = False) -> str:
    """A realistic SELECT, INSERT, UPDATE or DELETE using `$1..$k` (k in [min_params, max_params]).

    `slices_after_colon=True` also produces `a[1:$n]`, which has no `text()` form.
    """
    seq = draw(placeholder_sequence(max_params=max_params, min_params=min_params))
    forms = _PARAM_FORMS_WITH_SLICES if slices_after_colon else _PARAM_FORMS
    exprs = [draw(forms).format(p=f"${n}", t=draw(_CAST)) for n in seq]
    exprs += draw(st.lists(_PLAIN_EXPR, max_size=3))
    exprs = list(draw(st.permutations(exprs)))
    kind = draw(st.sampled_from(["select", "insert", "update", "delete"]))
    table = draw(st.sampled_from(_TABLES))
    column = _COLUMN

    def conditions(items: list[str]) -> list[str]:
        conds = []
        for e in items:
            op = draw(_OPERATOR)
            if op == "= ANY":
                conds.append(f"{draw(column)} = ANY({e})")
            else:
                conds.append(f"{draw(column)} {op} {e}")
        return conds

    if kind == "select":
        split = draw(st.integers(0, len(exprs)))
        cols = [f"{e} AS c{i}" for i, e in enumerate(exprs[:split])] or [draw(column)]
        pieces = ["SELECT", ", ".join(cols), "FROM", table]
        conds = conditions(exprs[split:])
        if conds:
            pieces += ["WHERE", " AND ".join(conds)]
        if draw(st.booleans()):
            pieces += ["ORDER BY", draw(column)]
    elif kind == "insert":
        values = exprs or ["DEFAULT"]
        cols = [f"c{i}" for i in range(len(values))]
        pieces = ["INSERT INTO", table.split()[0], f"({', '.join(cols)})", "VALUES", f"({', '.join(values)})"]
        if draw(st.booleans()):
            pieces += ["RETURNING", draw(column)]
    elif kind == "update":
        split = draw(st.integers(min(1, len(exprs)), len(exprs))) if exprs else 0
        sets = [f"c{i} = {e}" for i, e in enumerate(exprs[:split])] or ["c0 = DEFAULT"]
        pieces = ["UPDATE", table, "SET", ", ".join(sets)]
        conds = conditions(exprs[split:])
        if conds:
            pieces += ["WHERE", " AND ".join(conds)]
        if draw(st.booleans()):
            pieces += ["RETURNING", draw(column)]
    else:
        pieces = ["DELETE FROM", table]
        conds = conditions(exprs)
        if conds:
            pieces += ["WHERE", " AND ".join(conds)]
    sql = _join_with_comments(draw, pieces)
    if draw(st.integers(0, 5)) == 0:
        sql += " " + draw(_COMMENT).rstrip("\n")
    return sql
