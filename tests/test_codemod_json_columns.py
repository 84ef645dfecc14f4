"""json-columns codemod: json/jsonb columns the repository decodes itself are declared on their
statement and the decode goes; every site the facts do not prove safe stays, with its reason.

Before/after cases on modules in the form `repositories` writes; the facts behind them
(pgunify.sql.columns); the declared columns read through the generated helpers on
PostgreSQL, on the generated engine and on one whose driver decodes JSON; the option that
opts in, and the codemod end to end through the CLI on a copy of examples/pepgmp.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import asyncpg
import libcst as cst
import pytest
from codemod_helpers import load_module, make_plan
from example_tree import git_tree
from libcst.codemod import CodemodContext, CodemodTest
from pgunify.codemods.json_columns import JsonColumnsCodemod
from typer.testing import CliRunner

from pgunify import codemods
from pgunify.cli import app
from pgunify.sql.columns import json_tables, output_columns
from pgunify.templates import render_engine_module, render_raw_sql_module

DDL = """
CREATE TABLE IF NOT EXISTS cameras (
    id      SERIAL PRIMARY KEY,
    name    TEXT NOT NULL,
    config  JSONB NOT NULL DEFAULT '{}'::jsonb,
    extra   JSONB,
    notes   TEXT
);
CREATE INDEX IF NOT EXISTS idx_cameras_name ON cameras (name);
"""

PLAN = dict(raw_sql_module="app.db.raw_sql", raw_sql_path="app/db/raw_sql.py", json_tables=json_tables([DDL]))

HEADER = '''\
import json

from sqlalchemy import text

from app.db.raw_sql import all_records, first_record
'''


def module(body: str) -> str:
    return HEADER + "\n\n" + textwrap.dedent(body).strip() + "\n"


class TestJsonColumnsCodemod(CodemodTest):
    TRANSFORM = JsonColumnsCodemod

    def run_codemod(self, source: str, **plan) -> JsonColumnsCodemod:
        context = CodemodContext(filename="/app/app/repo.py", full_module_name="app.repo", full_package_name="app")
        codemod = JsonColumnsCodemod(context, make_plan(**{**PLAN, **plan}))
        codemod.transform_module(cst.parse_module(source))
        return codemod

    def check(self, before: str, after: str, **plan) -> JsonColumnsCodemod:
        context = CodemodContext(filename="/app/app/repo.py", full_module_name="app.repo", full_package_name="app")
        self.assertCodemod(before, after, make_plan(**{**PLAN, **plan}), context_override=context)
        # a second run over the result changes nothing
        self.assertCodemod(after, after, make_plan(**{**PLAN, **plan}), context_override=context)
        return self.run_codemod(before, **plan)

    def stays(self, source: str, reason: str | None, **plan) -> JsonColumnsCodemod:
        """`source` unchanged; the decode site left with `reason` in its reason (None: no site at all)."""
        context = CodemodContext(filename="/app/app/repo.py", full_module_name="app.repo", full_package_name="app")
        self.assertCodemod(source, source, make_plan(**{**PLAN, **plan}), context_override=context)
        codemod = self.run_codemod(source, **plan)
        reasons = [item.reason for item in codemod.left_alone if "json.dumps" not in item.reason]
        if reason is None:
            assert reasons == []
        else:
            assert reasons and all(reason in r for r in reasons), reasons
        assert codemod.changes == []
        return codemod

    # -- changed ---------------------------------------------------------------------------------

    def test_a_helper_decoding_rows_of_several_statements(self):
        codemod = self.check(
            module('''
                SELECT_SQL = "SELECT * FROM cameras WHERE id = :p1"


                def _to_camera(row):
                    return {"id": row["id"], "config": json.loads(row["config"])}


                async def get(conn, camera_id):
                    row = first_record(await conn.execute(text(SELECT_SQL), {"p1": camera_id}))
                    return _to_camera(row) if row else None


                async def rename(conn, camera_id, name):
                    row = first_record(await conn.execute(
                        text("UPDATE cameras SET name = :p2 WHERE id = :p1 RETURNING id, config"),
                        {"p1": camera_id, "p2": name},
                    ))
                    if row is None:
                        return None
                    return _to_camera(row)


                async def all_cameras(conn):
                    rows = all_records(await conn.execute(text("SELECT c.id, c.config FROM cameras c")))
                    return [_to_camera(r) for r in rows]
            '''),
            '''\
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

from app.db.raw_sql import all_records, first_record


SELECT_SQL = "SELECT * FROM cameras WHERE id = :p1"


def _to_camera(row):
    return {"id": row["id"], "config": row["config"]}


async def get(conn, camera_id):
    row = first_record(await conn.execute(text(SELECT_SQL).columns(config=JSONB), {"p1": camera_id}))
    return _to_camera(row) if row else None


async def rename(conn, camera_id, name):
    row = first_record(await conn.execute(
        text("UPDATE cameras SET name = :p2 WHERE id = :p1 RETURNING id, config").columns(config=JSONB),
        {"p1": camera_id, "p2": name},
    ))
    if row is None:
        return None
    return _to_camera(row)


async def all_cameras(conn):
    rows = all_records(await conn.execute(text("SELECT c.id, c.config FROM cameras c").columns(config=JSONB)))
    return [_to_camera(r) for r in rows]
''')
        assert {c.risk.value for c in codemod.changes} == {"review"}
        assert sum("json.loads of 'config' dropped" in c.description for c in codemod.changes) == 1
        # one record per statement, in the order of the module
        assert [c.line for c in codemod.changes if ".columns(config=JSONB)" in c.description] == [16, 21, 31]

    def test_a_local_that_only_held_the_text_gives_way_to_the_read(self):
        self.check(
            module('''
                async def get(conn):
                    row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                    config = row["config"]
                    return row["name"], json.loads(config) if config else {}
            '''),
            '''\
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

from app.db.raw_sql import all_records, first_record


async def get(conn):
    row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1").columns(config=JSONB)))
    return row["name"], row["config"]
''')

    def test_a_loop_variable_over_rows_decoded_once_per_row(self):
        self.check(
            module('''
                async def configs(conn):
                    rows = all_records(await conn.execute(text("SELECT id, config FROM cameras")))
                    out = {}
                    for r in rows:
                        out[r["id"]] = json.loads(r["config"])
                    return out
            '''),
            '''\
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB

from app.db.raw_sql import all_records, first_record


async def configs(conn):
    rows = all_records(await conn.execute(text("SELECT id, config FROM cameras").columns(config=JSONB)))
    out = {}
    for r in rows:
        out[r["id"]] = r["config"]
    return out
''')

    # -- must stay untouched ----------------------------------------------------------------------

    def test_the_row_escapes_to_callers(self):
        self.stays(module('''
            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                parsed = json.loads(row["config"])
                return row, parsed
        '''), "the row reaches more than reads of its columns at line")

    def test_the_row_passed_on_raw(self):
        self.stays(module('''
            async def get(conn, sink):
                rows = all_records(await conn.execute(text("SELECT * FROM cameras")))
                sink(rows)
                return [json.loads(r["config"]) for r in rows]
        '''), "the rows reach more than a loop over them")

    def test_the_value_used_both_decoded_and_raw(self):
        self.stays(module('''
            import logging


            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                logging.info("config %s", row["config"])
                return json.loads(row["config"])
        '''), "column 'config' is also read as text")

    def test_a_local_holding_the_text_used_twice(self):
        self.stays(module('''
            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                config = row["config"]
                return json.loads(config), len(config)
        '''), "config holds the text of column 'config' and is used besides this json.loads")

    def test_a_column_that_is_not_json(self):
        self.stays(module('''
            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                return json.loads(row["notes"])
        '''), "'notes' of the statement at line 9 is a text column")

    def test_an_expression_is_not_a_column(self):
        self.stays(module('''
            async def get(conn):
                row = first_record(await conn.execute(text("SELECT config::text AS config FROM cameras LIMIT 1")))
                return json.loads(row["config"])
        '''), "is an expression, not a json or jsonb column")

    def test_json_loads_of_something_else_is_no_site(self):
        self.stays(module('''
            import csv


            def parse(lines):
                return [json.loads(row["details"]) for row in csv.DictReader(lines)]


            async def names(conn):
                rows = all_records(await conn.execute(text("SELECT name FROM cameras")))
                return [r["name"] for r in rows]
        '''), None)

    def test_a_nullable_column_whose_text_is_tested(self):
        self.stays(module('''
            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                return json.loads(row["extra"]) if row["extra"] else {}
        '''), "'extra' may be NULL and the code tests its text")

    def test_sql_built_at_run_time_among_the_helpers_callers(self):
        self.stays(module('''
            def _to_camera(row):
                return json.loads(row["config"])


            async def get(conn, camera_id):
                row = first_record(await conn.execute(text("SELECT * FROM cameras WHERE id = :p1"), {"p1": camera_id}))
                return _to_camera(row)


            async def search(conn, where):
                rows = all_records(await conn.exec_driver_sql("SELECT * FROM cameras " + where))
                return [_to_camera(r) for r in rows]
        '''), "its SQL is built at run time")

    def test_every_statement_that_cannot_be_typed_is_named(self):
        codemod = self.stays(module('''
            def _to_camera(row):
                return json.loads(row["config"])


            async def search(conn, where):
                rows = all_records(await conn.exec_driver_sql("SELECT * FROM cameras " + where))
                return [_to_camera(r) for r in rows]


            async def get(conn, camera_id):
                row = first_record(await conn.execute(text("SELECT * FROM cameras WHERE id = :p1"), {"p1": camera_id}))
                return _to_camera(row)


            async def by_sql(conn, sql):
                row = first_record(await conn.execute(text(sql)))
                return _to_camera(row)


            async def ordered(conn, order):
                rows = all_records(await conn.exec_driver_sql("SELECT * FROM cameras ORDER BY " + order))
                return [_to_camera(r) for r in rows]
        '''), "cannot be typed")
        assert [(item.line, item.reason) for item in codemod.left_alone] == [
            (9, ("the statements at lines 13 and 28 cannot be typed: its SQL is built at run time, so its columns are "
                 "known only when it runs; the statement at line 23 cannot be typed: its SQL is not a string the "
                 "module holds as it is")),
        ]

    def test_a_helper_also_called_with_other_values(self):
        self.stays(module('''
            def _config(row):
                return json.loads(row["config"])


            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                return _config(row), _config({"config": "{}"})
        '''), "_config() is also called with something that is not a row of a statement")

    def test_one_row_decoded_twice_would_share_one_object(self):
        self.stays(module('''
            def _config(row):
                return json.loads(row["config"])


            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                return _config(row), _config(row)
        '''), "is handed to a helper 2 times")

    def test_a_decode_in_a_loop_over_the_same_row(self):
        self.stays(module('''
            async def get(conn, n):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                return [json.loads(row["config"]) for _ in range(n)]
        '''), "sits in a loop over the same row")

    def test_a_join_is_not_typed(self):
        self.stays(module('''
            async def get(conn):
                rows = all_records(await conn.execute(text("SELECT * FROM cameras JOIN cameras c2 USING (id)")))
                return [json.loads(r["config"]) for r in rows]
        '''), "it does not read exactly one table")

    def test_an_application_with_its_own_json_codec(self):
        self.stays(module('''
            async def get(conn):
                row = first_record(await conn.execute(text("SELECT * FROM cameras LIMIT 1")))
                return json.loads(row["config"])
        '''), "registers its own codec for jsonb", json_codecs=frozenset({"jsonb"}))

    def test_encoding_stays_and_says_why(self):
        codemod = self.stays(module('''
            async def save(conn, camera_id, config):
                await conn.execute(
                    text("UPDATE cameras SET config = :p2\\\\:\\\\:jsonb WHERE id = :p1"),
                    {"p1": camera_id, "p2": json.dumps(config)},
                )
        '''), None)
        assert len(codemod.left_alone) == 1
        assert "raises sqlalchemy.exc.StatementError instead of TypeError" in codemod.left_alone[0].reason


# -- the facts ------------------------------------------------------------------------------------


def test_json_tables_keep_only_tables_created_once_and_never_altered():
    tables = {t.name: t for t in json_tables([
        DDL,
        "CREATE TABLE a (doc json NOT NULL); ALTER TABLE a ALTER COLUMN doc DROP NOT NULL;",
        "CREATE TABLE b (doc jsonb); CREATE TABLE b (doc text);",
        "CREATE TABLE c (doc jsonb); ALTER TABLE c ADD CONSTRAINT c_doc CHECK (doc IS NOT NULL);",
        "CREATE TABLE d (n int);",
        "CREATE TABLE other.e (doc jsonb);",
        "this is not SQL",
    ])}
    assert sorted(tables) == ["c", "cameras"]
    config = tables["cameras"].column("config")
    assert (config.type, config.not_null) == ("jsonb", True)
    assert tables["cameras"].column("extra").not_null is False


def test_output_columns_of_a_statement():
    tables = json_tables([DDL])

    def shape(sql):
        out = output_columns(sql, tables)
        return out if isinstance(out, str) else [(o.name, o.fact.type if o.fact else None) for o in out]

    assert shape("SELECT * FROM cameras WHERE id = $1")[:3] == [("id", "serial"), ("name", "text"), ("config", "jsonb")]
    assert shape("SELECT c.config AS cfg, count(*), id + 1 FROM cameras c") == [
        ("cfg", "jsonb"), ("count", None), ("?column?", None)]
    assert shape("INSERT INTO cameras (name) VALUES ($1) RETURNING config") == [("config", "jsonb")]
    assert shape("DELETE FROM cameras WHERE id = $1") == "it returns no rows (no RETURNING)"
    assert shape("SELECT x.config FROM cameras c") == "a column is qualified by a name the statement does not define"
    assert shape("WITH x AS (SELECT 1) SELECT * FROM cameras") == "it has a WITH clause"
    assert shape("SELECT * FROM nowhere") == "the columns of nowhere are not known from the DDL"
    assert shape("SELECT 1; SELECT 2") == "it is not a single statement"


# -- opting in --------------------------------------------------------------------------------------


def test_the_codemod_runs_only_when_asked_for():
    default = [c.info.name for c in codemods.select()]
    assert "json-columns" not in default and "repositories" in default
    extended = [c.info.name for c in codemods.select(extended=("json-columns",))]
    assert extended == [*default[:1], "json-columns", *default[1:]]
    assert [c.info.name for c in codemods.select(("json-columns",))] == ["json-columns"]
    assert [c.info.name for c in codemods.select(extended=("json-columns",), ignored=("json-columns",))] == default
    with pytest.raises(codemods.UnknownCodemod):
        codemods.select(extended=("json-column",))


# -- the declared columns on PostgreSQL ---------------------------------------------------------------


def test_declared_columns_give_what_json_loads_gave(tmp_path, monkeypatch, database_url):
    """Through the generated helpers, a declared column is the value the repository's own
    json.loads made of the text: on the generated engine (text from the driver), and on an
    engine whose driver decodes JSON, where the helpers must not turn it back into text."""
    from sqlalchemy import text
    from sqlalchemy.dialects.postgresql import JSON, JSONB
    from sqlalchemy.ext.asyncio import create_async_engine

    monkeypatch.setenv("DATABASE_URL", database_url)
    plan = make_plan()
    engine_module = load_module(tmp_path, "engine", render_engine_module(plan))
    raw_sql = load_module(tmp_path, "raw_sql", render_raw_sql_module(plan))
    values = ('{"b": 12345678901234567890.125, "a": 1.50, "u": "é", "n": null}', "[1, 2.0, [], {}]",
              '"text"', "null", "0", "false", None)
    setup = ["CREATE TABLE docs (id int PRIMARY KEY, body jsonb, raw json)"] + [
        f"INSERT INTO docs VALUES ({i}, {'NULL' if v is None else repr(v) + '::jsonb'}, "
        f"{'NULL' if v is None else repr(v) + '::json'})" for i, v in enumerate(values)]
    sql = "SELECT * FROM docs ORDER BY id"

    async def run():
        legacy_conn = await asyncpg.connect(database_url)
        try:
            for statement in setup:
                await legacy_conn.execute(statement)
            texts = await legacy_conn.fetch(sql)
            legacy = [(r["id"], None if r["body"] is None else json.loads(r["body"]),
                       None if r["raw"] is None else json.loads(r["raw"])) for r in texts]
        finally:
            await legacy_conn.close()
        declared = text(sql).columns(body=JSONB, raw=JSON)
        results = []
        native = create_async_engine(database_url.replace("postgresql://", "postgresql+asyncpg://", 1))
        try:
            for engine in (engine_module.repository_engine, native):
                async with engine.connect() as conn:
                    rows = raw_sql.all_records(await conn.execute(declared))
                    one = raw_sql.first_record(await conn.execute(declared))
                    undeclared = raw_sql.first_record(await conn.execute(text(sql)))
                results.append(([(r["id"], r["body"], r["raw"]) for r in rows], one, undeclared))
        finally:
            await engine_module.engine.dispose()
            await native.dispose()
        return legacy, texts[0]["body"], results

    legacy, first_text, results = asyncio.run(run())
    assert legacy[0][1]["b"] == 12345678901234567890.125 and legacy[-1] == (6, None, None)
    for rows, one, undeclared in results:
        assert rows == legacy
        assert (one["id"], one["body"], one["raw"]) == legacy[0]
        # a column no statement declared still reaches the code as text
        assert isinstance(undeclared["body"], str) and json.loads(undeclared["body"]) == legacy[0][1]
    # on the generated engine, as the server's own text
    assert results[0][2]["body"] == first_text == '{"a": 1.50, "b": 12345678901234567890.125, "n": null, "u": "é"}'


# -- end to end -------------------------------------------------------------------------------------

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "pepgmp"


def test_migrate_with_the_codemod_on_a_copy_of_pepgmp(tmp_path):
    target = tmp_path / "pepgmp"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__", ".pgunify", ".pytest_cache"))
    runner = CliRunner()
    result = runner.invoke(app, ["migrate", str(target), "--extend-select", "json-columns", "--write", "--allow-dirty",
                                 "--format", "json", "--no-diff", "--no-import-check"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["codemods"][:2] == ["repositories", "json-columns"]
    by_path = {f["path"]: f for f in report["files"]}
    camera = by_path["src/repositories/camera_repository.py"]
    mine = [c for c in camera["changes"] if c["codemod"] == "json-columns"]
    assert len(mine) == 8 and {c["risk"] for c in mine} == {"review"}
    source = (target / "src" / "repositories" / "camera_repository.py").read_text()
    # seven declared statements, three of them distinct: one module constant each (statement-constants)
    assert source.count(".columns(config=JSONB)") == 3
    assert "text(" not in source.split("class ")[1]
    assert "json.loads(config) if config else {}" not in source and "config=record[\"config\"]," in source
    # the decode of a value also tested as text stays, and so do the helpers fed by run-time SQL
    assert "return json.loads(config)" in source
    # every line is one of the file as it was before the run, though `repositories` had
    # rewritten it when json-columns ran; alert_repository's helper is fed by two statements
    # whose SQL is built at run time, and both are named
    built_at_run_time = "its SQL is built at run time, so its columns are known only when it runs"
    left = [(f["path"], item["line"], item["reason"]) for f in report["files"] for item in f["left_alone"]
            if item["codemod"] == "json-columns" and "json.dumps" not in item["reason"]]
    assert left == [
        ("src/repositories/alert_repository.py", 29,
         f"the statements at lines 87 and 140 cannot be typed: {built_at_run_time}"),
        ("src/repositories/camera_repository.py", 211,
         ("the value of first_value() at line 208 is also used as text at line 209 (config is None), where a "
          "decoded value could differ")),
        ("src/repositories/detection_repository.py", 24,
         f"the statement at line 239 cannot be typed: {built_at_run_time}"),
    ]

    def line(name: str, number: int) -> str:
        return (EXAMPLE / "src" / "repositories" / name).read_text().splitlines()[number - 1].strip()

    assert line("alert_repository.py", 29).startswith("metadata=json.loads(row[")
    assert line("alert_repository.py", 87) == "row = await conn.fetchrow("
    assert line("alert_repository.py", 140).startswith("rows = await conn.fetch(page_query")
    assert line("camera_repository.py", 211) == "return json.loads(config)"
    assert line("detection_repository.py", 239) == "rows = await self._pool.fetch(sql, *values)"
    declared = [c["line"] for c in mine if ".columns(config=JSONB)" in c["description"]]
    assert declared == [126, 141, 145, 153, 164, 168, 183]
    assert "json.loads(row[\"metadata\"])" in (target / "src" / "repositories" / "alert_repository.py").read_text()
    again = runner.invoke(app, ["migrate", str(target), "--extend-select", "json-columns", "--format", "json",
                                "--no-diff", "--no-import-check"])
    assert json.loads(again.stdout)["summary"]["changes"] == 0


ITEMS_SCHEMA = """
CREATE TABLE items (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    data JSONB NOT NULL
);
"""

ITEMS_DB = """\
import os

import asyncpg


async def create_pool() -> asyncpg.Pool:
    return await asyncpg.create_pool(os.environ["DATABASE_URL"])
"""

# a helper fed by five statements, two of them built at run time (lines 19 and 27)
ITEMS = """\
import json

import asyncpg


def _to_item(row):
    return {"id": row["id"], "data": json.loads(row["data"])}


class Items:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def get(self, item_id):
        row = await self.pool.fetchrow("SELECT id, data FROM items WHERE id = $1", item_id)
        return _to_item(row)

    async def by_kind(self, kind, order):
        rows = await self.pool.fetch(f"SELECT id, data FROM items WHERE kind = $1 ORDER BY {order}", kind)
        return [_to_item(r) for r in rows]

    async def first(self):
        row = await self.pool.fetchrow("SELECT id, data FROM items ORDER BY id LIMIT 1")
        return _to_item(row)

    async def last_by(self, column):
        row = await self.pool.fetchrow("SELECT id, data FROM items ORDER BY " + column + " DESC LIMIT 1")
        return _to_item(row)

    async def every(self):
        rows = await self.pool.fetch("SELECT id, data FROM items ORDER BY id")
        return [_to_item(r) for r in rows]
"""

# the same helper fed by five statements that are all typed (lines 15, 19, 23, 27, 31)
KINDS = """\
import json

import asyncpg


def _to_kind(row):
    return {"kind": row["kind"], "data": json.loads(row["data"])}


class Kinds:
    def __init__(self, pool: asyncpg.Pool):
        self.pool = pool

    async def one(self, item_id):
        row = await self.pool.fetchrow("SELECT kind, data FROM items WHERE id = $1", item_id)
        return _to_kind(row)

    async def of(self, kind):
        rows = await self.pool.fetch("SELECT kind, data FROM items WHERE kind = $1", kind)
        return [_to_kind(r) for r in rows]

    async def newest(self):
        row = await self.pool.fetchrow("SELECT kind, data FROM items ORDER BY id DESC LIMIT 1")
        return _to_kind(row)

    async def oldest(self):
        row = await self.pool.fetchrow("SELECT kind, data FROM items ORDER BY id LIMIT 1")
        return _to_kind(row)

    async def every(self):
        rows = await self.pool.fetch("SELECT kind, data FROM items ORDER BY id")
        return [_to_kind(r) for r in rows]
"""


def test_the_report_is_the_same_whatever_the_hash_seed(tmp_path):
    # libcst's scopes keep assignments and accesses in sets hashed by address, and a helper's
    # name hashes by the run's seed: what a reason names, and the order in which statements
    # are recorded, follow the module instead, so every run reports the same
    git_tree(tmp_path, {"schema.sql": ITEMS_SCHEMA, "app/__init__.py": "", "app/db.py": ITEMS_DB,
                        "app/items.py": ITEMS, "app/kinds.py": KINDS})
    reports = []
    for seed, jobs in (("0", "1"), ("1", "1"), ("2", "2")):
        run = subprocess.run(
            [sys.executable, "-m", "pgunify", "migrate", str(tmp_path), "--extend-select", "json-columns",
             "--format", "json", "--no-diff", "--no-import-check", "--jobs", jobs],
            env={**os.environ, "PYTHONHASHSEED": seed, "UNIFY_NO_CACHE": "1"}, capture_output=True, text=True,
            check=False)
        assert run.returncode == 1, run.stderr  # changes pending
        reports.append(run.stdout)
    assert reports[1] == reports[0] and reports[2] == reports[0]
    files = {f["path"]: f for f in json.loads(reports[0])["files"]}
    assert [(item["line"], item["reason"]) for item in files["app/items.py"]["left_alone"]] == [
        (7, ("the statements at lines 19 and 27 cannot be typed: its SQL is built at run time, so its columns are "
             "known only when it runs")),
    ]
    declared = [c["line"] for c in files["app/kinds.py"]["changes"] if ".columns(data=JSONB)" in c["description"]]
    assert declared == [15, 19, 23, 27, 31]
