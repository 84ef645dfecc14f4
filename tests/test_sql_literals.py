"""Editing the Python literal that holds the SQL: every form must evaluate to the rewritten SQL."""

from __future__ import annotations

import ast
import unicodedata

import libcst as cst
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sql_strategies import sql_statements

from pgunify.sql.binds import to_named_binds
from pgunify.sql.literals import LiteralRefused, rewrite_literal

PROPERTY = settings(max_examples=250, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


def _evaluate(code: str) -> str:
    return ast.literal_eval("(" + code + "\n)")


def _code(node: cst.BaseExpression) -> str:
    return cst.Module(body=[]).code_for_node(node)


def _rewrite(source: str, **kwargs) -> tuple[str, str]:
    """Rewrite the SQL held by the literal `source`; return (new source, rewritten SQL)."""
    node = cst.parse_expression(source)
    rw = to_named_binds(_evaluate(source), **kwargs)
    new = _code(rewrite_literal(node, rw))
    assert _evaluate(new) == rw.sql
    return new, rw.sql


FORMS = [
    pytest.param("'SELECT $1'", "'SELECT :p1'", id="plain-no-backslash-needed"),
    pytest.param('"SELECT $1"', '"SELECT :p1"', id="double-quotes"),
    pytest.param("'SELECT $1::jsonb'", r"r'SELECT :p1\:\:jsonb'", id="raw-promotion"),
    pytest.param("U'SELECT $1::jsonb'", r"U'SELECT :p1\\:\\:jsonb'", id="u-prefix-cannot-be-raw"),
    pytest.param(r"R'SELECT $1::jsonb'", r"R'SELECT :p1\:\:jsonb'", id="raw-upper"),
    pytest.param(r"""r"SELECT E'\n', $1::int" """.strip(), r"""r"SELECT E'\n', :p1\:\:int" """.strip(), id="raw-with-backslash"),
    pytest.param(r"""('SELECT E' r'\n' ', $1::int')""", r"""('SELECT E' r'\n' r', :p1\:\:int')""", id="looks-like-one-literal"),
    pytest.param(r"'SELECT $1::jsonb\n'", r"'SELECT :p1\\:\\:jsonb\n'", id="escapes-keep-non-raw"),
    pytest.param(r"'SELECT \'{\"a\":1}\', $1'", r"'SELECT \'{\"a\"\\:1}\', :p1'", id="escaped-quotes"),
    pytest.param('"""\n    SELECT *\n    FROM t\n    WHERE id = $1::int\n"""', 'r"""\n    SELECT *\n    FROM t\n    WHERE id = :p1\\:\\:int\n"""', id="triple-double"),
    pytest.param("'''SELECT 'a:b', ':x', $2, $1'''", r"r'''SELECT 'a:b', '\:x', :p2, :p1'''", id="triple-single"),
    pytest.param(r"'SELECT \x241, \u00241::int, \0441'", r"'SELECT :p1, :p1\\:\\:int, :p1'", id="hex-unicode-octal-placeholder"),
    pytest.param(r"'SELECT \N{DOLLAR SIGN}1\N{COLON}\N{COLON}text'", r"'SELECT :p1\\:\\:text'", id="named-escapes"),
    pytest.param("'SELECT $1\\\n::jsonb'", "'SELECT :p1\\\n\\\\:\\\\:jsonb'", id="backslash-newline"),
    pytest.param(r"'SELECT \t$1\\'", r"'SELECT \t:p1\\'", id="tab-and-backslash"),
    pytest.param(r"'SELECT caf\xe9, $1::x'", r"'SELECT caf\xe9, :p1\\:\\:x'", id="latin1-escape"),
    pytest.param("'SELECT \\'\\\\:\\''", "'SELECT \\'\\\\\\\\:\\''", id="sql-backslash-colon"),
]


@pytest.mark.parametrize("source, expected", FORMS)
def test_literal_forms(source: str, expected: str) -> None:
    new, _ = _rewrite(source)
    assert new == expected


def test_unknown_escape_keeps_its_backslash() -> None:
    # `\:` is no Python escape: the value holds a backslash, which SQLAlchemy would eat
    source = r"'SELECT E\'\:\''"
    with pytest.warns(DeprecationWarning):
        value = _evaluate(source)
    assert value == r"SELECT E'\:'"
    node = cst.parse_expression(source)
    new = _code(rewrite_literal(node, to_named_binds(value)))
    assert new == r"'SELECT E\'\\\\:\''"
    assert _evaluate(new) == r"SELECT E'\\:'"


CONCATENATED = [
    pytest.param(
        '(\n    "SELECT $1::jsonb "  # the row\n    "FROM t "\n    "WHERE id = $2"\n)',
        '(\n    r"SELECT :p1\\:\\:jsonb "  # the row\n    "FROM t "\n    "WHERE id = :p2"\n)',
        id="parts-with-comment",
    ),
    pytest.param(
        "('SELECT $1::int, ' r'$2::text, ' '\\n' 'WHERE a = $1')",
        "(r'SELECT :p1\\:\\:int, ' r':p2\\:\\:text, ' '\\n' 'WHERE a = :p1')",
        id="mixed-raw-and-escaped-parts",
    ),
    pytest.param(
        "('a = $1::int\\n'\n 'AND b = $2')",
        "('a = :p1\\\\:\\\\:int\\n'\n 'AND b = :p2')",
        id="part-with-escape-stays-non-raw",
    ),
    pytest.param("('SELECT ' '$1' '::jsonb')", "('SELECT ' ':p1' r'\\:\\:jsonb')", id="edits-in-separate-parts"),
    pytest.param("('SELECT $1' '' '::x')", "('SELECT :p1' '' r'\\:\\:x')", id="empty-part"),
]


@pytest.mark.parametrize("source, expected", CONCATENATED)
def test_concatenated(source: str, expected: str) -> None:
    new, _ = _rewrite(source)
    assert new == expected


def test_node_inside_call_keeps_surroundings() -> None:
    module = cst.parse_module('await conn.fetch(\n    "SELECT * FROM t "  # all\n    "WHERE id = $1::int",\n    user_id,\n)\n')
    call = module.body[0].body[0].value.expression
    arg = call.args[0].value
    rw = to_named_binds(arg.evaluated_value, {1: "user_id"})
    new_call = call.with_changes(args=[call.args[0].with_changes(value=rewrite_literal(arg, rw)), *call.args[1:]])
    code = module.code_for_node(new_call)
    assert code == 'conn.fetch(\n    "SELECT * FROM t "  # all\n    r"WHERE id = :user_id\\:\\:int",\n    user_id,\n)'


REFUSED = [
    pytest.param("('SELECT $' '1')", "spans two", id="edit-across-parts"),
    pytest.param("f'SELECT {x}'", "f-strings", id="f-string"),
    pytest.param("('SELECT $1 ' f'{x}')", "f-strings", id="f-string-part"),
    pytest.param("b'SELECT $1'", "bytes", id="bytes"),
    pytest.param("rb'SELECT $1'", "bytes", id="raw-bytes"),
]


@pytest.mark.parametrize("source, reason", REFUSED)
def test_refused(source: str, reason: str) -> None:
    node = cst.parse_expression(source)
    rw = to_named_binds("SELECT $1")
    with pytest.raises(LiteralRefused, match=reason):
        rewrite_literal(node, rw)


def test_refused_when_value_differs() -> None:
    with pytest.raises(LiteralRefused, match="does not evaluate"):
        rewrite_literal(cst.parse_expression("'SELECT $2'"), to_named_binds("SELECT $1"))


def test_no_edits_returns_equal_literal() -> None:
    node = cst.parse_expression("'SELECT 1'")
    assert _code(rewrite_literal(node, to_named_binds("SELECT 1"))) == "'SELECT 1'"


# --- property: any SQL, written as any literal, split anywhere


def _escape_char(draw, ch: str, quote: str, fancy: bool) -> str:
    """One character of a non-raw literal: the plainest legal spelling, or (`fancy`) a random one."""
    options = []
    if ch == "\\":
        options.append("\\\\")
    elif ch == quote[0]:
        options.append("\\" + ch)
    elif ch == "\n":
        options.append("\n" if len(quote) == 3 else "\\n")
        options.append("\\n")
    else:
        options.append(ch)
        if ch in "'\"":
            options.append("\\" + ch)
    if not fancy:
        return options[0]
    code = ord(ch)
    if code < 0x100:
        options.append(f"\\x{code:02x}")
    if code < 0o400:
        options.append(f"\\{code:03o}")
    if code < 0x10000:
        options.append(f"\\u{code:04x}")
    options.append(f"\\U{code:08x}")
    name = unicodedata.name(ch, None)
    if name:
        options.append(f"\\N{{{name}}}")
    out = draw(st.sampled_from(options))
    if draw(st.integers(0, 15)) == 0:
        out = "\\\n" + out  # a line continuation adds nothing to the value
    return out


def _write_part(draw, value: str) -> str:
    style = draw(st.sampled_from(["raw", "plain", "fancy"]))
    quotes = ["'", '"', "'''", '"""']
    if style == "plain":  # as a person would write it: a quote that needs no escaping, if there is one
        quotes = [q for q in quotes if q[0] not in value and (len(q) == 3 or "\n" not in value)] or quotes
    quote = draw(st.sampled_from(quotes))
    raw_ok = quote[0] not in value and not value.endswith("\\") and (len(quote) == 3 or "\n" not in value)
    if raw_ok and style == "raw":
        return draw(st.sampled_from(["r", "R"])) + quote + value + quote
    prefix = draw(st.sampled_from(["", "", "u"]))
    return prefix + quote + "".join(_escape_char(draw, ch, quote, style == "fancy") for ch in value) + quote


@st.composite
def sql_literals(draw) -> tuple[str, str, list[int]]:
    """(SQL, Python source of a literal holding it, the offsets where parts were split)."""
    sql = draw(sql_statements(max_params=3))
    # cut anywhere, and sometimes right inside a placeholder (`$` | `1`)
    inside = [i + 1 for i, ch in enumerate(sql) if ch == "$"]
    anywhere = st.integers(1, max(1, len(sql) - 1))
    position = st.one_of(anywhere, st.sampled_from(inside)) if inside else anywhere
    cuts = sorted(draw(st.sets(position, max_size=3))) if len(sql) > 1 else []
    bounds = [0, *cuts, len(sql)]
    parts = [_write_part(draw, sql[a:b]) for a, b in zip(bounds, bounds[1:])]
    seps = [draw(st.sampled_from([" ", "\n    ", "  # note: $1 :x\n    ", "\t"])) for _ in parts[1:]]
    source = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:]))
    if len(parts) > 1:
        source = "(" + source + ")"
    return sql, source, cuts


def _parts(node: cst.BaseExpression) -> list[cst.SimpleString]:
    if isinstance(node, cst.ConcatenatedString):
        return _parts(node.left) + _parts(node.right)
    return [node]


def _gaps(node: cst.BaseExpression) -> list[str]:
    if isinstance(node, cst.ConcatenatedString):
        return _gaps(node.left) + [cst.Module(body=[]).code_for_node(node.whitespace_between)] + _gaps(node.right)
    return []


@PROPERTY
@given(sql_literals())
def test_any_literal_round_trips(case: tuple[str, str, list[int]]) -> None:
    sql, source, cuts = case
    assert _evaluate(source) == sql
    node = cst.parse_expression(source)
    rw = to_named_binds(sql)
    across = any(e.start < c < e.end for e in rw.edits for c in cuts)
    event(f"parts: {len(cuts) + 1}")
    if across:
        event("a part boundary inside a placeholder")
        with pytest.raises(LiteralRefused):
            rewrite_literal(node, rw)
        return
    new = rewrite_literal(node, rw)
    assert _evaluate(_code(new)) == rw.sql
    assert _gaps(new) == _gaps(node)
    for old, part in zip(_parts(node), _parts(new)):
        assert part.quote == old.quote
        assert part.prefix in (old.prefix, "r" + old.prefix)
        if part.prefix != old.prefix:
            event("promoted to raw")
            assert "\\" not in old.value  # promoted to raw only when nothing was escaped
        if old.evaluated_value == part.evaluated_value:
            assert part.value == old.value  # untouched parts keep their exact source
