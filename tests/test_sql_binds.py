"""`$n` -> `:name` rewriting: every case must also compile back to the original SQL."""

from __future__ import annotations

import pytest

from pgunify.sql.binds import BindRewrite, Edit, RewriteRefused, apply_edits, to_named_binds
from pgunify.sql.proof import compile_text, prove, renumber

# (original, expected text for text()); written as raw strings so that backslashes read as in SQL
CASES = [
    pytest.param(r"SELECT * FROM users WHERE id = $1", r"SELECT * FROM users WHERE id = :p1", id="simple"),
    pytest.param(r"SELECT $1::jsonb", r"SELECT :p1\:\:jsonb", id="cast-jsonb"),
    pytest.param(r"UPDATE t SET a = $1 WHERE b = $2::int[]", r"UPDATE t SET a = :p1 WHERE b = :p2\:\:int[]", id="cast-array"),
    pytest.param(r"SELECT $1::numeric(10, 2), $2::double precision", r"SELECT :p1\:\:numeric(10, 2), :p2\:\:double precision", id="cast-with-args"),
    pytest.param(r"SELECT * FROM t WHERE id = ANY($1)", r"SELECT * FROM t WHERE id = ANY(:p1)", id="any"),
    pytest.param(r"SELECT * FROM t WHERE id = ANY($1::int[])", r"SELECT * FROM t WHERE id = ANY(:p1\:\:int[])", id="any-cast"),
    pytest.param(r"SELECT $1, $1 + 1", r"SELECT :p1, :p1 + 1", id="repeated"),
    pytest.param(r"SELECT $2, $1, $2", r"SELECT :p2, :p1, :p2", id="out-of-order"),
    pytest.param(r"SELECT $3 FROM t WHERE a = $1 AND b = $3", r"SELECT :p3 FROM t WHERE a = :p1 AND b = :p3", id="gap-in-numbers"),
    pytest.param(r"SELECT to_char(ts, 'HH24:MI') FROM t WHERE id = $1", r"SELECT to_char(ts, 'HH24:MI') FROM t WHERE id = :p1", id="time-format"),
    pytest.param(r"""SELECT '{"a":1}'::jsonb || $1""", r"""SELECT '{"a"\:1}'::jsonb || :p1""", id="json-literal"),
    pytest.param(r"SELECT ':x', 'a :b', 'c:d'", r"SELECT '\:x', 'a \:b', 'c:d'", id="colons-in-strings"),
    pytest.param(r"SELECT 'it''s :x' || $1", r"SELECT 'it''s \:x' || :p1", id="doubled-quote"),
    pytest.param(r"SELECT '$1', $1", r"SELECT '$1', :p1", id="placeholder-text-in-string"),
    pytest.param("SELECT 1 -- comment: $1 :x\nFROM t WHERE a = $1", "SELECT 1 -- comment: $1 \\:x\nFROM t WHERE a = :p1", id="line-comment"),
    pytest.param(r"SELECT /* :x */ $1", r"SELECT /* \:x */ :p1", id="block-comment"),
    pytest.param(r"SELECT /* outer /* :in */ :x */ 1", r"SELECT /* outer /* \:in */ \:x */ 1", id="nested-comment"),
    pytest.param(r"SELECT $$ body :x uses $1 and 'q' $$, $1", r"SELECT $$ body \:x uses $1 and 'q' $$, :p1", id="dollar-body"),
    pytest.param(r"SELECT $tag$:y $$ $1 $tag$ || $1", r"SELECT $tag$\:y $$ $1 $tag$ || :p1", id="tagged-dollar-body"),
    pytest.param(r'SELECT "a:b", ":x" FROM t WHERE id = $1', r'SELECT "a:b", "\:x" FROM t WHERE id = :p1', id="quoted-identifiers"),
    pytest.param(r"SELECT E'\n', $1", r"SELECT E'\n', :p1", id="e-string-newline"),
    pytest.param(r"SELECT E'\:'", r"SELECT E'\\:'", id="backslash-colon-kept"),
    pytest.param(r"SELECT E'\\:x'", r"SELECT E'\\\:x'", id="two-backslashes-colon"),
    pytest.param(r"SELECT 'a\:b'", r"SELECT 'a\\:b'", id="standard-string-backslash"),
    pytest.param(r"SELECT E'\::'", r"SELECT E'\::'", id="backslash-double-colon-untouched"),
    pytest.param(r"SELECT a[1:2], a[2:], a[n:m]", r"SELECT a[1:2], a[2:], a[n:m]", id="slices-untouched"),
    pytest.param(r"SELECT a[:2], a[ :n]", r"SELECT a[\:2], a[ \:n]", id="open-slices"),
    pytest.param(r"SELECT a[$1:], a[$1:3], a[1: $2]", r"SELECT a[:p1\:], a[:p1\:3], a[1: :p2]", id="slices-with-placeholders"),
    pytest.param(r"SELECT f(x => 1), f(x := 1), f(x := $1)", r"SELECT f(x => 1), f(x := 1), f(x := :p1)", id="named-args"),
    pytest.param(r"SELECT x::int, y :: text, $1", r"SELECT x::int, y :: text, :p1", id="casts-elsewhere"),
    pytest.param(r"SELECT $1:::x", r"SELECT :p1\:\:\:x", id="colon-run-after-placeholder"),
    pytest.param(r"SELECT ' :é', 'é:x'", r"SELECT ' \:é', 'é:x'", id="unicode-word"),
    pytest.param(r"SELECT '🙂:x' || $1", r"SELECT '🙂\:x' || :p1", id="astral"),
    # SQLAlchemy 2.1 reads `:abc` followed by `:` as no bind at all, so nothing to escape
    pytest.param(r"SELECT ':abc:def'", r"SELECT ':abc:def'", id="colon-chain"),
    pytest.param(r"SELECT ' :abc:def', $1:x:y", r"SELECT ' :abc:def', :p1\:x\:y", id="colon-chain-after-placeholder"),
    pytest.param(r"CREATE TABLE t (a int); INSERT INTO t VALUES (1)", r"CREATE TABLE t (a int); INSERT INTO t VALUES (1)", id="multi-statement"),
    pytest.param(r"SELECT 1; SELECT ':x'; SELECT $1", r"SELECT 1; SELECT '\:x'; SELECT :p1", id="multi-statement-params"),
    pytest.param(r"SELECT ':x'", r"SELECT '\:x'", id="no-placeholders"),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize("original, expected", CASES)
def test_rewrite(original: str, expected: str) -> None:
    rw = to_named_binds(original)
    assert rw.sql == expected
    assert rw.original == original
    assert apply_edits(original, rw.edits) == rw.sql
    assert prove(original, rw.sql, rw.names).ok
    assert compile_text(rw.sql) == renumber(original)


@pytest.mark.parametrize("original, expected", CASES)
def test_edits_are_sorted_and_small(original: str, expected: str) -> None:
    rw = to_named_binds(original)
    ends = [0]
    for e in rw.edits:
        assert e.start >= ends[-1]
        ends.append(e.end)
        # each edit is either a placeholder or one escaped colon
        assert (original[e.start] == "$" and e.text.startswith(":")) or (original[e.start : e.end] == ":" and e.text == "\\:")


def test_names_cover_every_placeholder() -> None:
    rw = to_named_binds("SELECT $3, $1, $3")
    assert rw.names == {1: "p1", 3: "p3"}
    assert rw.edits == (Edit(7, 9, ":p3"), Edit(11, 13, ":p1"), Edit(15, 17, ":p3"))
    assert compile_text(rw.sql) == "SELECT $1, $2, $1"


def test_no_placeholders_still_escapes() -> None:
    rw = to_named_binds("SELECT '{\"k\":1, \"v\":\"x\"}'")
    # `:1` would be a bind; `:"x"` would not (a quote is no word character)
    assert rw == BindRewrite(rw.original, "SELECT '{\"k\"\\:1, \"v\":\"x\"}'", {}, (Edit(12, 13, "\\:"),))


def test_name_for_mapping() -> None:
    rw = to_named_binds("SELECT * FROM t WHERE id = $1 AND email = $2::text", {1: "user_id", 2: "email"})
    assert rw.sql == r"SELECT * FROM t WHERE id = :user_id AND email = :email\:\:text"
    assert rw.names == {1: "user_id", 2: "email"}
    assert prove(rw.original, rw.sql, rw.names).ok


def test_name_for_callable_and_unicode_names() -> None:
    rw = to_named_binds("SELECT $2, $1", lambda n: ["número", "ß2"][n - 1])
    assert rw.sql == "SELECT :ß2, :número"
    assert prove(rw.original, rw.sql, rw.names).ok


def test_names_may_be_reassigned_across_numbers() -> None:
    # $1 gets the name p2 and $2 the name p1: legal, and the proof checks the wiring
    rw = to_named_binds("SELECT $1, $2", {1: "p2", 2: "p1"})
    assert rw.sql == "SELECT :p2, :p1"
    assert prove(rw.original, rw.sql, rw.names).ok


REFUSALS = [
    pytest.param("SELECT $0", {}, "$0", id="dollar-zero"),
    pytest.param("SELECT a[1:$1]", {}, "directly follows ':'", id="placeholder-after-colon"),
    pytest.param("SELECT a[$1:$2]", {}, "directly follows ':'", id="slice-of-two-placeholders"),
    pytest.param("SELECT $1$2", {}, "written together", id="adjacent-placeholders"),
    pytest.param("SELECT 1$1", {}, "directly follows '1'", id="after-word"),
    pytest.param("SELECT $1abc", {}, "followed by 'a'", id="followed-by-word"),
    pytest.param("SELECT 'unterminated", {}, "does not lex", id="lexer-error"),
    pytest.param("SELECT $1", {"name_for": {1: "a-b"}}, "word characters", id="bad-name"),
    pytest.param("SELECT $1", {"name_for": {1: ""}}, "word characters", id="empty-name"),
    pytest.param("SELECT $1", {"name_for": lambda n: 3}, "word characters", id="non-string-name"),
    pytest.param("SELECT $1, $2", {"name_for": {1: "x", 2: "x"}}, "share the bind name", id="duplicate-name"),
    pytest.param("SELECT $1, $2", {"name_for": {1: "x"}}, "no bind name given for $2", id="missing-name"),
]


@pytest.mark.parametrize("sql, kwargs, reason", REFUSALS)
def test_refusals(sql: str, kwargs: dict, reason: str) -> None:
    with pytest.raises(RewriteRefused) as info:
        to_named_binds(sql, **kwargs)
    assert reason in info.value.reason
    assert isinstance(info.value, ValueError)


def test_apply_edits_rejects_overlap() -> None:
    with pytest.raises(ValueError):
        apply_edits("abcd", [Edit(0, 2, "x"), Edit(1, 3, "y")])
