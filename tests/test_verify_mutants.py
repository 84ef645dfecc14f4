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


# ------------------------------------------------------------------ rows and calls that tell mutants apart


def test_a_join_along_a_not_null_foreign_key_is_the_same_inner_or_left():
    sql = "SELECT t.id, v.plate FROM trips t JOIN vehicles v ON v.id = t.vehicle_id WHERE t.id = $1"
    references = [("trips", ["vehicle_id"], "vehicles", ["id"])]
    joins = [m for m in statement_mutants(sql, notnull={"trips": ["vehicle_id"]}, references=references)
             if m.operator == "join"]
    assert joins and "foreign key" in joins[0].equivalent
    nullable = [m for m in statement_mutants(sql, notnull={}, references=references) if m.operator == "join"]
    assert nullable and nullable[0].equivalent is None  # a trip without a vehicle would drop out
    reversed_ = [m for m in statement_mutants("SELECT v.id FROM vehicles v LEFT JOIN trips t ON t.vehicle_id = v.id",
                                              notnull={"trips": ["vehicle_id"]}, references=references)
                 if m.operator == "join"]
    assert reversed_ and reversed_[0].equivalent is None  # a vehicle without trips: LEFT keeps it, INNER not


def test_type_modifiers_get_no_literal_mutants():
    found = changes("SELECT coalesce(sum(cost), 0)::numeric(10,2) FROM events WHERE kind = 'oil'",
                    domains={"kind": ["oil", "tyres"]})
    assert found["literal"] == [("0", "1"), ("'oil'", "'tyres'")]


def test_json_keys_the_sql_reads_are_found_through_array_elements():
    from pgunify.verify.mutants import json_keys, statement_table

    sql = ("SELECT obj ->> 'class' AS object_class, count(*) FROM detection_records d "
           "CROSS JOIN LATERAL jsonb_array_elements(d.objects) AS obj WHERE d.metadata ->> 'zone' = $1 GROUP BY 1")
    assert json_keys(sql) == {"objects": {"element": ["class"]}, "metadata": {"object": ["zone"]}}
    assert statement_table(sql) == "detection_records"
    assert statement_table("UPDATE trips t SET ended_at = now() FROM vehicles v WHERE v.id = t.vehicle_id") == "trips"


def test_seed_rows_are_planned_around_anchors_and_keep_unique_keys_apart():
    from pgunify.verify.seeding import Column, Reference, Table, planned_rows

    points = Table("telemetry_points", [Column("trip_id", "int8", "N", False), Column("recorded_at", "timestamptz", "D", False),
                                        Column("speed_kmh", "float4", "N", False), Column("fuel_pct", "int2", "N")],
                   [], None, [["trip_id", "recorded_at"]], [Reference(["trip_id"], [(1,), (2,)])])
    rows = planned_rows(points, {})
    keys = [(r["trip_id"], r["recorded_at"]) for r in rows]
    assert len(rows) >= 20 and len(set(keys)) == len(keys)  # an empty table with a two-column key gets rows
    assert {r["trip_id"] for r in rows} == {1, 2}
    first = [r for r in rows if r["trip_id"] == 1]
    assert len(first) >= 6 and len({r["speed_kmh"] for r in first}) >= 2  # a group, with a row that differs
    assert any(r["fuel_pct"] is None for r in rows)

    datasets = Table("datasets", [Column("id", "int4", "N", False), Column("name", "varchar", "S", False, length=8),
                                  Column("version", "varchar", "S", False, length=8),
                                  Column("status", "text", "S", False), Column("created_at", "timestamptz", "D", False)],
                     [{"id": 1, "name": "faces", "version": "v1", "status": "ready", "created_at": "2024-03-01T10:00:00+00:00"}],
                     "id", [["id"], ["name", "version"]])
    rows = planned_rows(datasets, {"status": ["draft", "ready", "archived"]})
    pairs = [(r["name"], r["version"]) for r in rows]
    assert len(set(pairs)) == len(pairs) and ("faces", "v1") not in pairs
    assert sum(r["name"] == "faces" for r in rows) >= 5  # rows share a name and differ in version
    assert all(len(r["name"]) <= 8 and len(r["version"]) <= 8 for r in rows)
    twins = [r for r in rows if r["name"] == "faces" and r["status"] == "ready" and r["created_at"] == "2024-03-01T10:00:00+00:00"]
    assert len(twins) >= 2  # they tie on the sort key
    assert {"draft", "archived"} <= {r["status"] for r in rows}  # a row failing `status = 'ready'`
    assert all("id" not in r for r in rows)  # the server assigns it


def test_aimed_calls_pass_page_sizes_around_the_matching_rows_and_fill_empty_filters():
    import random

    from pgunify.verify.aim import aimed_calls

    rows = [{"id": i, "camera_id": 1 if i < 7 else i, "tags": ["dock"], "created_at": "2024-03-01T10:00:00+00:00"}
            for i in range(1, 12)]
    source = {"args": [], "kwargs": {"camera_ids": ["list", []], "since": ["datetime", "2000-01-01T00:00:00+00:00", 0]}}
    calls = aimed_calls([source], [], rows, "alerts", ["created_at"], 12, random.Random(5), pages=["limit", "offset"])
    limits = {c["kwargs"]["limit"][1] for c in calls if "limit" in c["kwargs"]}
    assert limits & {5, 6} and limits & {1, 2}  # fewer than the 6 rows of camera 1, and all of them
    assert any(c["kwargs"]["camera_ids"] == ["list", [["int", 1]]] for c in calls)  # an empty filter filled
    assert any(c["kwargs"]["camera_ids"] == ["list", []] for c in calls)  # and kept empty
    merge = {"args": [["int", 0], ["int", -1]], "kwargs": {}}
    merged = aimed_calls([merge], [], rows, "vehicles", [], 4, random.Random(1), ["duplicate_id", "keep_id"])
    pairs = [tuple(a[1] for a in c["args"]) for c in merged]
    assert any(a != b and {a, b} <= {r["id"] for r in rows} for a, b in pairs)  # two rows of the table


def test_tables_with_a_composite_or_app_assigned_key_get_seed_rows(database_url, tmp_path):
    """The seed of --mutants on a real schema: a table keyed by (trip, time) that no creating
    method fills, one keyed by (guild, user) without a server-assigned key, one whose
    varchar(5) made values must fit."""
    from pgunify.verify.worker import Side

    schema = """
        CREATE TABLE trips (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, driver text NOT NULL,
                            started_at timestamptz NOT NULL, ended_at timestamptz);
        CREATE TABLE telemetry_points (trip_id bigint NOT NULL REFERENCES trips (id), recorded_at timestamptz NOT NULL,
                                       speed_kmh real NOT NULL CHECK (speed_kmh >= 0), PRIMARY KEY (trip_id, recorded_at));
        CREATE TABLE members (guild_id bigint NOT NULL, user_id bigint NOT NULL, display_name text NOT NULL,
                              karma integer NOT NULL DEFAULT 0, PRIMARY KEY (guild_id, user_id));
        CREATE TABLE guild_config (guild_id bigint PRIMARY KEY, prefix varchar(5) NOT NULL);
        INSERT INTO trips (driver, started_at) VALUES ('ann', '2024-01-01T10:00Z'), ('bob', '2024-01-02T10:00Z');
        INSERT INTO members VALUES (1, 7, 'ann', 3);
    """

    async def go() -> dict:
        conn = await asyncpg.connect(plain(database_url))
        side = Side({}, tmp_path, database_url)
        try:
            await conn.execute(schema)
            await side.connect()
            added = await side.enrich({}, {})
            points = await conn.fetch("SELECT trip_id, recorded_at FROM telemetry_points")
            members = await conn.fetch("SELECT guild_id, user_id, display_name FROM members")
            config = await conn.fetch("SELECT prefix FROM guild_config")
            return {"added": added, "points": points, "members": members, "config": config}
        finally:
            if side.admin is not None:
                await side.admin.close()
            await conn.close()

    found = asyncio.run(go())
    points, members = found["points"], found["members"]
    assert len(points) >= 20 and {p["trip_id"] for p in points} == {1, 2}
    assert sum(p["trip_id"] == 1 for p in points) >= 6
    assert len(members) >= 10
    assert sum(m["guild_id"] == 1 for m in members) >= 5  # the guild's rows: a leaderboard has more than a page
    assert any(m["guild_id"] != 1 and m["user_id"] == 7 for m in members)  # the same user in another guild
    assert len(found["config"]) >= 3 and all(len(c["prefix"]) <= 5 for c in found["config"])


def test_list_mutants_are_killed_and_two_runs_plant_the_same(migrated, database_url, tmp_path):
    """LIMIT and OFFSET + 1 of the search statements die (the page sizes come from the
    number of rows that match); the same seed plants the same mutants with the same fate."""
    runs = []
    for n in range(2):
        report = tmp_path / f"search-{n}.json"
        result = runner.invoke(app, ["verify", str(migrated), "--dsn", database_url, "--no-scenarios", "--mutants",
                                     "-k", "DetectionRecordRepository.search", "--format", "json",
                                     "--report", str(report)])
        assert result.exit_code == 0, result.output
        runs.append(json.loads(report.read_text())["mutants"])
    first, second = ([(m["statement"], m["operator"], m["before"], m["after"], m["status"]) for m in run["mutants"]]
                     for run in runs)
    assert first == second and runs[0]["statements"] >= 5
    pages = [m for m in runs[0]["mutants"] if m["operator"] == "limit"]
    assert len(pages) >= 8
    assert sum(m["status"] == "killed" for m in pages) >= 0.8 * len(pages), [
        (m["before"], m["statement"]) for m in pages if m["status"] != "killed"]
