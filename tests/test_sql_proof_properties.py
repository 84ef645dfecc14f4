"""The proof obligation: examples of what text() does, and properties over generated SQL."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pglast import parse_sql
from sql_strategies import sql_statements

from pgunify.sql.binds import Edit, RewriteRefused, apply_edits, to_named_binds
from pgunify.sql.lexing import shape
from pgunify.sql.proof import compile_text, placeholder_order, prove, renumber

# Bounded and derandomized: the same examples on every machine, well under the time budget.
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])


# --- what the asyncpg dialect makes of text(): pinned so that a SQLAlchemy upgrade shows up here


@pytest.mark.parametrize(
    "text_sql, compiled",
    [
        (":p1 + :p1 + :p2", "$1 + $1 + $2"),  # repeated binds share one number
        (":b, :a, :b", "$1, $2, $1"),  # numbered by first appearance, not by name
        (r":p1\:\:jsonb", "$1::jsonb"),
        (":p1::jsonb", ":p1::jsonb"),  # not a bind at all: the name is followed by a colon
        (":abc:def", ":abc:def"),  # same: no backtracking to `:ab` in 2.1
        (r"\:x:", r"\:x:"),  # the backslash stays: the escape needs no colon after the name
        (r"\::a", r"\::a"),
        (r"\\:x", r"\:x"),  # one backslash is eaten
        (r"'\:' || '%' || '$[_POSITION]'", r"':' || '%' || '$[_POSITION]'"),
        (":é", "$1"),  # Unicode word characters make bind names
    ],
)
def test_text_compiles_as_measured(text_sql: str, compiled: str) -> None:
    assert compile_text(text_sql) == compiled


def test_renumber_examples() -> None:
    assert renumber("SELECT $2 ... $1 ... $2") == "SELECT $1 ... $2 ... $1"
    assert renumber("SELECT '$2', $2 -- $1\n") == "SELECT '$2', $1 -- $1\n"
    assert placeholder_order("SELECT $3, $1, $3, '$2'") == (3, 1)


def test_prove_reports_the_first_difference() -> None:
    proof = prove("SELECT '{\"a\":1}', $1", "SELECT '{\"a\":1}', :p1")
    assert not proof.ok
    assert proof.compiled == "SELECT '{\"a\"$1}', $2"
    assert "offset 12" in proof.detail


def test_prove_checks_wiring_only_with_names() -> None:
    # swapping both names everywhere compiles to the same string ...
    assert prove("SELECT $1, $2", "SELECT :p2, :p1").ok
    # ... which only the names can refute
    proof = prove("SELECT $1, $2", "SELECT :p2, :p1", {1: "p1", 2: "p2"})
    assert not proof.ok and "wrong placeholders" in proof.detail


def test_prove_handles_bad_input() -> None:
    assert not prove("SELECT 'x", "SELECT 'x").ok
    assert prove("SELECT 1", "SELECT 1") == prove("SELECT 1", "SELECT 1")
    assert prove("SELECT 1", "SELECT 1").detail == ""


# --- properties over generated statements


@PROPERTY
@given(sql_statements())
def test_generated_statements_are_valid_postgresql(sql: str) -> None:
    parse_sql(sql)


@PROPERTY
@given(sql_statements())
def test_rewrite_is_proven(sql: str) -> None:
    rw = to_named_binds(sql)
    proof = prove(sql, rw.sql, rw.names)
    assert proof.ok, proof.detail
    assert apply_edits(sql, rw.edits) == rw.sql
    assert proof.compiled == renumber(sql)


@PROPERTY
@given(sql_statements())
def test_renumber_is_idempotent_and_keeps_placeholders(sql: str) -> None:
    once = renumber(sql)
    assert renumber(once) == once
    numbers = set(shape(sql).numbers)
    assert placeholder_order(once) == tuple(range(1, len(numbers) + 1))
    rw = to_named_binds(sql)
    assert set(rw.names) == numbers
    assert len(set(re.findall(r"\$\d+", prove(sql, rw.sql).compiled))) >= len(numbers)


_names = st.tuples(st.sampled_from("abcxyz_éßN"), st.text("abz09_é名", max_size=8)).map("".join)


@PROPERTY
@given(sql_statements(), st.data())
def test_rewrite_with_chosen_names_is_proven(sql: str, data: st.DataObject) -> None:
    numbers = sorted(set(shape(sql).numbers))
    chosen = data.draw(st.lists(_names, min_size=len(numbers), max_size=len(numbers), unique=True))
    mapping = dict(zip(numbers, chosen))
    rw = to_named_binds(sql, mapping)
    assert rw.names == mapping
    assert prove(sql, rw.sql, rw.names).ok


@PROPERTY
@given(sql_statements(min_params=2), st.data())
def test_swapped_names_are_caught(sql: str, data: st.DataObject) -> None:
    rw = to_named_binds(sql)
    a, b = data.draw(st.lists(st.sampled_from(sorted(rw.names)), min_size=2, max_size=2, unique=True))
    swapped = {**rw.names, a: rw.names[b], b: rw.names[a]}
    wrong = apply_edits(sql, [Edit(e.start, e.end, ":" + swapped[int(sql[e.start + 1 : e.end])]) if e.text.startswith(":") else e for e in rw.edits])
    assert not prove(sql, wrong, rw.names).ok


@PROPERTY
@given(sql_statements(min_params=1), st.data())
def test_one_wrong_occurrence_is_caught(sql: str, data: st.DataObject) -> None:
    rw = to_named_binds(sql)
    binds = [i for i, e in enumerate(rw.edits) if e.text.startswith(":")]
    i = data.draw(st.sampled_from(binds))
    edits = list(rw.edits)
    edits[i] = Edit(edits[i].start, edits[i].end, ":someone_else")
    wrong = apply_edits(sql, edits)
    assert not prove(sql, wrong, rw.names).ok
    if sum(e.text == rw.edits[i].text for e in rw.edits) > 1:
        # a placeholder used twice but renamed once changes the numbering: caught even without names
        assert not prove(sql, wrong).ok


@PROPERTY
@given(sql_statements(), st.data())
def test_every_escape_is_needed(sql: str, data: st.DataObject) -> None:
    rw = to_named_binds(sql)
    escapes = [i for i, e in enumerate(rw.edits) if e.text == "\\:"]
    assume(escapes)
    i = data.draw(st.sampled_from(escapes))
    edits = [e for j, e in enumerate(rw.edits) if j != i]
    assert not prove(sql, apply_edits(sql, edits), rw.names).ok


@PROPERTY
@given(sql_statements(slices_after_colon=True))
def test_refusals_only_for_placeholders_after_a_colon(sql: str) -> None:
    try:
        rw = to_named_binds(sql)
    except RewriteRefused as exc:
        assert ":$" in sql and "directly follows ':'" in exc.reason
    else:
        assert prove(sql, rw.sql, rw.names).ok
