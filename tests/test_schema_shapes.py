"""Every way an application declares its schema, found by `pgunify schema` and proven on real
PostgreSQL: the legacy start-up schema and `alembic upgrade` compared object by object.

The `depot` application below mixes them on purpose: SQL files applied in name order by a
runner of its own that records them in `schema_migrations`, DDL in a pool's init callback,
a `DeclarativeBase` subclass, `declarative_base()` models imported only inside the function
that creates them, `registry().generate_base()` and `@registry.mapped`, and an imperative
`Table(..., metadata)`: four MetaData objects in one application."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pgunify.cli import app
from pgunify.postgres import scratch_database
from pgunify.schema.build import run_schema
from pgunify.schema.compare import Difference, compare, snapshot

runner = CliRunner()

FILES = {
    "depot/__init__.py": "",
    "depot/sql/001_parts.sql": """
        CREATE TABLE parts (
            id      serial PRIMARY KEY,
            code    text NOT NULL UNIQUE,
            weight  numeric(8, 3)
        );
    """,
    # only valid after 001: the files are applied in name order
    "depot/sql/002_bins.sql": """
        CREATE TYPE bin_zone AS ENUM ('cold', 'dry', 'bulk');
        CREATE TABLE bins (
            id       serial PRIMARY KEY,
            zone     bin_zone NOT NULL DEFAULT 'dry',
            part_id  integer REFERENCES parts (id) ON DELETE SET NULL
        );
        ALTER TABLE parts ADD COLUMN fragile boolean NOT NULL DEFAULT false;
        CREATE INDEX bins_part_idx ON bins (part_id);
    """,
    "depot/db.py": '''
        """The depot's pool: a request log created by the pool's init, then its SQL files."""
        import os
        from pathlib import Path

        import asyncpg

        SQL_DIR = Path(__file__).parent / "sql"


        async def _prepare(conn):
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS request_log (id bigserial PRIMARY KEY, path text NOT NULL, "
                "seen_at timestamptz NOT NULL DEFAULT now())"
            )


        async def open_pool():
            pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], init=_prepare)
            await apply_sql_files(pool)
            return pool


        async def apply_sql_files(pool):
            async with pool.acquire() as conn:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (filename text PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                )
                done = {row["filename"] for row in await conn.fetch("SELECT filename FROM schema_migrations")}
                for path in sorted(SQL_DIR.glob("*.sql")):
                    if path.name not in done:
                        async with conn.transaction():
                            await conn.execute(path.read_text())
                            await conn.execute("INSERT INTO schema_migrations (filename) VALUES ($1)", path.name)
    ''',
    "depot/models/__init__.py": "",
    "depot/models/base.py": '''
        from sqlalchemy.orm import DeclarativeBase


        class Base(DeclarativeBase):
            pass
    ''',
    "depot/models/suppliers.py": '''
        from sqlalchemy import String
        from sqlalchemy.orm import Mapped, mapped_column

        from depot.models.base import Base


        class Supplier(Base):
            __tablename__ = "suppliers"

            id: Mapped[int] = mapped_column(primary_key=True)
            name: Mapped[str] = mapped_column(String(80), unique=True)
    ''',
    "depot/ml/__init__.py": "",
    "depot/ml/models.py": '''
        from sqlalchemy import Column, DateTime, Float, ForeignKey, Integer, Text, func
        from sqlalchemy.orm import declarative_base

        ForecastBase = declarative_base()


        class Forecast(ForecastBase):
            __tablename__ = "forecasts"

            id = Column(Integer, primary_key=True)
            label = Column(Text, nullable=False)
            made_at = Column(DateTime(timezone=True), server_default=func.now(), nullable=False)


        class ForecastPoint(ForecastBase):
            __tablename__ = "forecast_points"

            id = Column(Integer, primary_key=True)
            forecast_id = Column(Integer, ForeignKey("forecasts.id", ondelete="CASCADE"), nullable=False, index=True)
            value = Column(Float)
    ''',
    "depot/ml/setup.py": '''
        def init_forecasting(engine):
            # the models are imported here, at start-up only
            from depot.ml import models

            models.ForecastBase.metadata.create_all(engine)
    ''',
    "depot/reports.py": '''
        from sqlalchemy import Column, ForeignKey, Integer, String
        from sqlalchemy.orm import registry

        reports_registry = registry()
        ReportBase = reports_registry.generate_base()


        class Report(ReportBase):
            __tablename__ = "reports"

            id = Column(Integer, primary_key=True)
            title = Column(String(120), nullable=False)


        @reports_registry.mapped
        class Schedule:
            __tablename__ = "schedules"

            id = Column(Integer, primary_key=True)
            report_id = Column(Integer, ForeignKey("reports.id"), nullable=False)
            cron = Column(String(40), nullable=False, server_default="0 * * * *")


        def create_reports(engine):
            reports_registry.metadata.create_all(engine)
    ''',
    "depot/events.py": '''
        from sqlalchemy import BigInteger, Column, Index, MetaData, Table, Text

        event_metadata = MetaData()

        events = Table(
            "events",
            event_metadata,
            Column("id", BigInteger, primary_key=True),
            Column("kind", Text, nullable=False),
            Index("events_kind_idx", "kind"),
        )


        def create_events(engine):
            event_metadata.create_all(engine)
    ''',
}

RAW_TABLES = {"parts", "bins", "request_log", "schema_migrations"}
ORM_TABLES = {"suppliers", "forecasts", "forecast_points", "reports", "schedules", "events"}


def write_depot(root: Path, extra: dict[str, str] | None = None) -> Path:
    for rel, text in {**FILES, **(extra or {})}.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture(scope="module")
def depot(tmp_path_factory, pg_server):
    root = write_depot(tmp_path_factory.mktemp("depot"))
    result = run_schema(root, pg_server.dsn)
    return root, result


def test_every_declaration_shape_reaches_the_metadata(depot):
    root, result = depot
    assert not result.conflicts and not [p for p in result.problems if p.startswith("error")], result.problems
    assert set(result.raw_tables) == RAW_TABLES
    assert set(result.orm_tables) == ORM_TABLES
    module = (root / result.tables_path).read_text()
    # the four MetaData objects, each from where the application keeps it
    for line in ("from depot.ml.models import ForecastBase", "from depot.reports import ReportBase",
                 "from depot.events import event_metadata", "from depot.models.base import Base"):
        assert line in module, module
    found = re.search(r"^all_metadata = \((.*)\)$", module, re.MULTILINE)
    assert found is not None, module
    assert sorted(found.group(1).split(", ")) == sorted(
        ["metadata", "ReportBase.metadata", "event_metadata", "Base.metadata"]), found.group(1)
    assert "metadata = ForecastBase.metadata" in module
    assert "target_metadata = all_metadata" in (root / "migrations/env.py").read_text()


def test_sql_files_run_in_name_order(depot):
    root, result = depot
    module = (root / result.tables_path).read_text()
    parts = module[module.index('"parts"'):]
    assert 'Column("fragile", Boolean' in parts.split("Table(")[0]  # 002 altered the table 001 created
    assert 'name="bin_zone"' in module


def test_the_proof_passes_object_for_object(depot):
    _, result = depot
    proof = result.proof
    assert proof is not None and proof.error is None, proof and proof.error
    assert proof.differences == [] and proof.metadata_drift == []
    assert proof.passed and not result.failed
    assert proof.compared["table"] == len(RAW_TABLES | ORM_TABLES)
    assert proof.compared["enum type"] == 1
    assert proof.compared["index"] >= 12  # primary keys, unique constraints, the three declared indexes
    assert proof.compared["sequence"] == 9  # one per serial or integer primary key, events.id included


def test_homegrown_migrations_table_still_used_is_taken_over(depot):
    _, result = depot
    [table] = result.migration_tables
    assert (table.name, table.decision) == ("schema_migrations", "take-over")
    assert "depot/db.py:" in table.reason
    assert "schema_migrations" in result.raw_tables


def test_homegrown_migrations_table_nobody_uses_is_retired_and_left_out_of_the_proof(tmp_path, pg_server):
    root = tmp_path / "small"
    (root / "app").mkdir(parents=True)
    (root / "app/__init__.py").write_text("")
    (root / "app/schema.sql").write_text(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY);\n"
        "INSERT INTO schema_migrations VALUES (1), (2);\n"
        "CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL);\n")
    (root / "app/db.py").write_text(textwrap.dedent('''
        import os

        import asyncpg


        async def start():
            pool = await asyncpg.create_pool(os.environ["DATABASE_URL"])
            await pool.execute(open("schema.sql").read())
            return pool
    '''))
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert result.exit_code == 0, result.output
    assert "homegrown migrations table schema_migrations: retired" in result.output
    assert "left out of the proof: schema_migrations" in result.output
    assert "proven alembic upgrade" in result.output
    module = next(root.rglob("schema_tables.py")).read_text()
    assert '"notes"' in module and "schema_migrations" not in module.split('"""', 2)[2]
    baseline = next((root / "migrations/versions").glob("*.py")).read_text()
    assert "schema_migrations" not in baseline


def test_taken_over_table_carries_the_rows_the_legacy_start_up_wrote(tmp_path, pg_server):
    root = tmp_path / "kept"
    (root / "app").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.pgunify.schema]\nmigrations-table = "take-over"\n')
    (root / "app/__init__.py").write_text("")
    (root / "app/schema.sql").write_text(
        "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, "
        "applied_at timestamptz NOT NULL DEFAULT now());\n"
        "INSERT INTO schema_version (version) VALUES (1), (2) ON CONFLICT DO NOTHING;\n"
        "CREATE TABLE IF NOT EXISTS notes (id serial PRIMARY KEY, body text NOT NULL);\n")
    (root / "app/db.py").write_text(textwrap.dedent('''
        import os

        import asyncpg


        async def start():
            pool = await asyncpg.create_pool(os.environ["DATABASE_URL"])
            await pool.execute(open("schema.sql").read())
            return pool
    '''))
    result = run_schema(root, pg_server.dsn)
    assert not result.failed, (result.problems, result.proof)
    assert [(t.name, t.decision) for t in result.migration_tables] == [("schema_version", "take-over")]
    assert "[tool.pgunify.schema] migrations-table" in result.migration_tables[0].reason
    baseline = (root / result.baseline).read_text()
    assert "INSERT INTO schema_version (version) VALUES" in baseline
    assert "'1'::integer" in baseline and "'2'::integer" in baseline


def test_a_model_dropped_from_the_metadata_by_hand_fails_the_proof(depot, tmp_path, pg_server):
    built, _ = depot
    root = tmp_path / "depot"
    shutil.copytree(built, root)
    tables = next(root.rglob("schema_tables.py"))
    text = tables.read_text()
    start = text.index("request_log = Table(")
    end = text.index("\n\n\n", start) if "\n\n\n" in text[start:] else len(text)
    tables.write_text(text[:start] + text[end:])

    # the baseline there still creates the table: the metadata no longer matches it
    kept = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert kept.exit_code == 1, kept.output
    assert "proof failed" in kept.output
    assert "table request_log: in the database, not in the metadata" in kept.output

    # a baseline made again from the edited metadata lacks it: the legacy start-up has it
    for revision in (root / "migrations/versions").glob("*.py"):
        revision.unlink()
    again = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert again.exit_code == 1, again.output
    assert re.search(r"table request_log: in the legacy schema, missing after alembic upgrade \w+", again.output)
    assert "(with 1 sequence, 3 columns, 1 constraint, 1 index)" in again.output
    assert "proven" not in again.output.replace("not proven", "")


def _run(url: str, sql: str) -> None:
    import asyncio

    import asyncpg

    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(go())


def test_the_comparison_names_the_kind_the_object_and_the_property(pg_server):
    common = "CREATE TYPE mood AS ENUM ('calm', 'busy'); "
    with scratch_database(pg_server, prefix="compare_a") as a, scratch_database(pg_server, prefix="compare_b") as b:
        _run(a, common + "CREATE TABLE t (id serial PRIMARY KEY, n integer NOT NULL DEFAULT 0, m mood);"
                         "CREATE INDEX t_n_idx ON t (n); CREATE SEQUENCE tickets START 10;")
        _run(b, "CREATE TYPE mood AS ENUM ('calm', 'busy', 'gone'); "
                "CREATE TABLE t (id serial PRIMARY KEY, n bigint, m mood); CREATE INDEX t_n_idx ON t (n DESC);")
        found = compare(snapshot(a), snapshot(b), "in A", "in B")
    described = [d.describe() for d in found]
    assert Difference("sequence", "tickets", "in A, missing in B") in found
    assert "enum type mood: labels is {calm,busy} in A, {calm,busy,gone} in B" in described
    assert "column t.n: type is integer in A, bigint in B" in described
    assert "column t.n: not null is True in A, False in B" in described
    assert "column t.n: default is 0 in A, none in B" in described
    assert any(d.kind == "index" and d.name == "t_n_idx on t" and d.detail.startswith("definition is") for d in found)
    assert len(found) == 6, described
