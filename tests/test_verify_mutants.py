"""`pgunify verify --mutants`: SQL mutants made on the parse tree, planted where the driver
receives the statement, and the seed rows that let a run tell them apart.

The operator tests need no database; the rest run on real PostgreSQL, the end-to-end ones
on a migrated copy of examples/pepgmp restricted to one method to stay quick.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from example_tree import copy_example
from pgunify.cli import app
from pgunify.verify.mutants import compared_literals, is_application_statement, statement_mutants
from pgunify.verify.worker import STATEMENTS

runner = CliRunner()

STATS = ("SELECT COUNT(*) AS total, COUNT(*) FILTER (WHERE severity = 'critical') AS critical "
         "FROM alerts WHERE created_at >= $1 AND NOT acknowledged")
SEVERITIES = {"severity": ["low", "medium", "high", "critical"]}


def changes(sql: str, **kwargs) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {}
    for m in statement_mutants(sql, **kwargs):
        out.setdefault(m.operator, []).append((m.before, m.after))
    return out


# ------------------------------------------------------------------ operators, no database


def test_a_filter_literal_becomes_its_neighbour_in_the_columns_domain():
    found = changes(STATS, domains=SEVERITIES)
    assert ("'critical'", "'high'") in found["literal"]
    assert ("severity = 'critical'", "severity <> 'critical'") in found["compare"]
    assert ("created_at >= $1", "created_at > $1") in found["compare"]
    assert ("FILTER (WHERE severity = 'critical')", "(removed)") in found["drop-where"]
    assert ("NOT acknowledged", "acknowledged") in found["drop-not"]
    assert len(found["drop-conjunct"]) == 2 and found["and-or"]


def test_a_dropped_condition_with_a_parameter_keeps_the_parameter():
    mutants = [m for m in statement_mutants(STATS) if m.operator == "drop-conjunct"]
    by_before = {m.before: m.sql for m in mutants}
    assert "$1" in by_before["AND created_at >= $1"]  # still takes its argument
    assert "OR TRUE" in by_before["AND created_at >= $1"].upper()
    assert "NOT acknowledged" not in by_before["AND NOT acknowledged"]


def test_sort_limit_join_distinct_and_aggregates():
    sql = ("SELECT DISTINCT c.name, max(a.created_at) FROM cameras c JOIN alerts a ON a.camera_id = c.id "
           "WHERE a.note IS NULL GROUP BY c.name ORDER BY c.name DESC, 2 LIMIT $1 OFFSET 2")
    found = changes(sql)
    assert ("c.name DESC", "c.name ASC") in found["sort-flip"]
    assert len(found["sort-drop"]) == 2
    assert ("LIMIT $1", "LIMIT $1 + 1") in found["limit"] and ("OFFSET 2", "OFFSET 2 + 1") in found["limit"]
    assert any("LEFT JOIN" in after for _, after in found["join"])
    assert found["distinct"] == [("SELECT DISTINCT", "SELECT")]
    assert ("max(a.created_at)", "min(a.created_at)") in found["aggregate"]
    assert ("a.note IS NULL", "a.note IS NOT NULL") in found["null-test"]


def test_every_mutant_parses_and_differs_from_the_original():
    from pglast import parse_sql
    from pglast.stream import RawStream

    sql = "UPDATE alerts SET acknowledged = true, acknowledged_by = $2 WHERE id = $1 AND NOT acknowledged RETURNING id"
    base = RawStream()(parse_sql(sql)[0])
    mutants = statement_mutants(sql)
    assert len(mutants) >= 5
    for m in mutants:
        assert m.sql != base
        parse_sql(m.sql)
    assert len({m.sql for m in mutants}) == len(mutants)


def test_equivalent_mutants_are_recognised_only_where_the_statement_shows_it():
    one_row = statement_mutants("SELECT count(*) FROM alerts WHERE x > 1 ORDER BY 1")
    assert all(m.equivalent for m in one_row if m.operator.startswith("sort"))
    after_key = {m.before: m.equivalent for m in statement_mutants(
        "SELECT id, name FROM cameras ORDER BY id, name", unique={"cameras": ["id"]}) if m.operator == "sort-flip"}
    assert after_key["id"] is None  # the unique key itself decides the order
    assert "unique" in after_key["name"]
    joined = statement_mutants("SELECT c.id FROM cameras c JOIN alerts a ON a.camera_id = c.id ORDER BY c.id, a.id",
                               unique={"cameras": ["id"]})
    assert not any(m.equivalent for m in joined)  # a join repeats the key: no claim


def test_provable_equivalents_only():
    exists = {m.before: m.equivalent for m in statement_mutants("SELECT EXISTS (SELECT 1 FROM cameras WHERE name = $1)")}
    assert "EXISTS" in exists["1"] and exists["name = $1"] is None
    one_table = [m for m in statement_mutants("SELECT count(d.id) FROM datasets d WHERE d.status = $1",
                                              notnull={"datasets": ["id"]}) if m.operator == "aggregate"]
    assert one_table and "NOT NULL" in one_table[0].equivalent
    nullable = [m for m in statement_mutants("SELECT count(d.note) FROM datasets d", notnull={"datasets": ["id"]})
                if m.operator == "aggregate"]
    assert nullable and nullable[0].equivalent is None
    joined = [m for m in statement_mutants("SELECT c.id, count(a.id) FROM cameras c LEFT JOIN alerts a "
                                           "ON a.camera_id = c.id GROUP BY c.id", notnull={"alerts": ["id"]})
              if m.operator == "aggregate"]
    assert joined and joined[0].equivalent is None  # an outer join makes a.id NULL on unmatched rows


def test_aimed_calls_keep_the_pattern_and_take_values_from_one_row():
    import random

    from pgunify.verify.aim import aimed_calls, pattern, table_of

    assert table_of("PostgreSQLDetectionRecordRepository", ["cameras", "detection_records"]) == "detection_records"
    row = {"id": 7, "camera_id": 2, "severity": "critical", "acknowledged": False, "metadata": {"zone": "dock"},
           "created_at": "2024-03-01T10:00:00+00:00"}
    source = {"args": [], "kwargs": {"camera_id": ["int", 99], "severity": ["list", [["str", "low"]]],
                                     "alert_type": None, "since": ["datetime", "2000-01-01T00:00:00+00:00", 0],
                                     "until": ["datetime", "2000-01-02T00:00:00+00:00", 0], "limit": ["int", 50]}}
    calls = aimed_calls([source], [], [row], "alerts", ["created_at"], 7, random.Random(3))
    assert len(calls) == 7
    for call in calls:
        assert pattern(call) == pattern(source)  # the same statement text
        kw = call["kwargs"]
        assert kw["camera_id"] == ["int", 2] and kw["severity"] == ["list", [["str", "critical"]]]
        assert kw["alert_type"] is None and kw["limit"][1] in (1, 2, 3)
    windows = {(c["kwargs"]["since"][1] <= row["created_at"] < c["kwargs"]["until"][1]) for c in calls}
    assert windows == {True, False}  # some windows hold the row, some leave it out
    assert any(c["kwargs"]["since"][1] == row["created_at"] for c in calls)  # the edge of a `>=`


def test_only_application_statements_get_mutants():
    assert is_application_statement("SELECT * FROM alerts WHERE id = $1")
    assert not is_application_statement("SELECT t.oid FROM pg_catalog.pg_type t WHERE t.oid = $1")
    assert not is_application_statement("BEGIN")
    assert statement_mutants("CREATE TABLE t (a int)") == []
    assert compared_literals("UPDATE cameras SET status = 'error' WHERE kind IN ('a', 'b')") == {
        "status": ["error"], "kind": ["a", "b"]}


# ------------------------------------------------------------------ the substitution, on PostgreSQL


def plain(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def test_the_mutant_replaces_the_statement_for_asyncpg_and_for_sqlalchemy(database_url):
    original, mutated = "SELECT $1::int + 1", "SELECT $1::int + 2"

    async def go() -> tuple:
        STATEMENTS.install()
        conn = await asyncpg.connect(plain(database_url))
        engine = create_async_engine(make_url(plain(database_url)).set(drivername="postgresql+asyncpg"))
        try:
            STATEMENTS.trace, STATEMENTS.swap = set(), {original: mutated}
            swapped = await conn.fetchval(original, 1)
            async with engine.connect() as sa:
                swapped_sa = (await sa.execute(text("SELECT CAST(:n AS int) + 1"), {"n": 1})).scalar()
                sa_sent = sorted(STATEMENTS.trace)
                STATEMENTS.swap = {s: s.replace("+ 1", "+ 5") for s in sa_sent}
                swapped_sa = (await sa.execute(text("SELECT CAST(:n AS int) + 1"), {"n": 1})).scalar()
            traced = set(STATEMENTS.trace)
            STATEMENTS.trace, STATEMENTS.swap = None, {}
            untouched = await conn.fetchval(original, 1)
            return swapped, swapped_sa, traced, untouched
        finally:
            STATEMENTS.trace, STATEMENTS.swap = None, {}
            await conn.close()
            await engine.dispose()

    swapped, swapped_sa, traced, untouched = asyncio.run(go())
    assert swapped == 3 and untouched == 2
    assert swapped_sa == 6  # SQLAlchemy's cached prepared statement did not answer for the original
    assert original in traced


# ------------------------------------------------------------------ end to end on pepgmp


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    root = copy_example("pepgmp", tmp_path_factory.mktemp("mutants"))
    result = runner.invoke(app, ["migrate", str(root), "--write", "--no-diff"])
    assert result.exit_code == 0, result.output
    return root


def test_mutants_of_get_statistics_are_scored_and_the_severity_filter_change_is_killed(migrated, database_url,
                                                                                        tmp_path):
    report = tmp_path / "verify.json"
    result = runner.invoke(app, ["verify", str(migrated), "--dsn", database_url, "--no-scenarios", "-n", "12",
                                 "-k", "AlertRepository.get_statistics", "--mutants", "--format", "json",
                                 "--report", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    mutants = data["mutants"]
    assert mutants["planted"] >= 8 and mutants["statements"] == 1
    severity = [m for m in mutants["mutants"] if m["operator"] == "literal" and m["before"] == "'critical'"]
    assert severity and severity[0]["after"] == "'high'"
    assert severity[0]["status"] == "killed", severity[0]
    assert "critical" in severity[0]["kill_diff"]
    row = mutants["per_method"]["PostgreSQLAlertRepository.get_statistics"]
    assert row["killed"] == mutants["killed"] and row["planted"] == mutants["planted"]
    assert mutants["score"] == pytest.approx(row["score"])
    for m in mutants["mutants"]:
        if m["status"] == "not distinguished":
            assert m["suggestion"]
    assert data["evidence"]["PostgreSQLAlertRepository.get_statistics"]["distinct_outcomes"] > 1
    assert data["timings_s"]["mutants"] > 0


def test_the_planted_filter_change_is_a_difference_without_a_scenario(migrated, database_url, tmp_path):
    """With --mutants the seed holds rows for each severity, so the change shows in the
    run itself; a plain run keeps its seed and generation as they were."""
    target = tmp_path / "pepgmp"
    shutil.copytree(migrated, target, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    path = target / "src" / "repositories" / "alert_repository.py"
    source = path.read_text()
    anchor = "FILTER (WHERE severity = 'critical') AS critical"
    assert source.count(anchor) == 1
    path.write_text(source.replace(anchor, "FILTER (WHERE severity = 'high') AS critical"))
    result = runner.invoke(app, ["verify", str(target), "--dsn", database_url, "--no-scenarios", "--mutants",
                                 "-k", "AlertRepository.get_statistics"])
    assert result.exit_code == 1, result.output
    assert "PostgreSQLAlertRepository.get_statistics" in result.output
    assert "critical" in result.output
