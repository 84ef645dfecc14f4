"""`pgunify schema check`, the existing-database path (`alembic stamp`), conflicts between SQL
and ORM definitions, and files the user already has; all on real PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from schema_support import alembic, legacy_schema
from pgunify.cli import app
from pgunify.postgres import scratch_database

runner = CliRunner()

SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    id         serial PRIMARY KEY,
    sku        text NOT NULL UNIQUE,
    price      numeric(10, 2) NOT NULL DEFAULT 0,
    added_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS items_added_idx ON items (added_at);
"""

DB = '''
import os

import asyncpg


async def start():
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"])
    await pool.execute(open("schema.sql").read())
    return pool
'''

USER_MODEL = '''
from sqlalchemy import Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), nullable=False)
'''


def make_app(root: Path, schema: str = SCHEMA, models: str | None = None) -> Path:
    package = root / "stock"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "schema.sql").write_text(schema)
    (package / "db.py").write_text(DB)
    if models:
        (package / "models.py").write_text(models)
    return root


def run_sql(url: str, *statements: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(go())


@pytest.fixture(scope="module")
def stock(tmp_path_factory, pg_server):
    root = make_app(tmp_path_factory.mktemp("stock"))
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert result.exit_code == 0, result.output
    return root


def with_password(url: str) -> str:
    # local trust authentication ignores it; the point is that it never shows up
    return make_url(url).set(password="s3cret-pw").render_as_string(hide_password=False)


def check(root: Path, url: str):
    return runner.invoke(app, ["schema", "check", str(root), "--dsn", with_password(url)])


def test_both_spellings_of_the_command_work(stock, pg_server):
    again = runner.invoke(app, ["schema", "build", str(stock), "--server", pg_server.dsn])
    assert again.exit_code == 0, again.output
    assert "migrations/versions/ has revisions already" in again.output  # never a second baseline
    assert len(list((stock / "migrations/versions").glob("*.py"))) == 1


def test_existing_database_is_stamped_and_then_has_no_drift(stock, pg_server):
    with scratch_database(pg_server, prefix="prod_like") as url:
        legacy_schema(stock, url)
        run_sql(url, "INSERT INTO items (sku, price) VALUES ('A-1', 9.5)")
        stamped = alembic(stock, "DATABASE_URL", url, "stamp", "head")
        assert stamped.returncode == 0, stamped.stderr
        current = alembic(stock, "DATABASE_URL", url, "current")
        assert "(head)" in current.stdout
        result = check(stock, url)
        assert result.exit_code == 0, result.output
        assert "no drift" in result.output
        assert "s3cret-pw" not in result.output and "***" in result.output


def test_drift_is_a_list_with_exit_1_and_no_password(stock, pg_server):
    with scratch_database(pg_server, prefix="prod_drift") as url:
        legacy_schema(stock, url)
        run_sql(url, "ALTER TABLE items ADD COLUMN colour text",
                "DROP INDEX items_added_idx",
                "ALTER TABLE items ALTER COLUMN price DROP NOT NULL",
                "CREATE TABLE scratch_notes (id int)")
        result = check(stock, url)
        assert result.exit_code == 1, result.output
        output = " ".join(result.output.split())
        assert "4 difference(s)" in output
        assert "column items.colour: in the database, not in the metadata" in output
        assert "index items_added_idx on items: in the metadata, missing from the database" in output
        assert "column items.price: nullable is True in the database, False in the metadata" in output
        assert "table scratch_notes: in the database, not in the metadata" in output
        assert "s3cret-pw" not in result.output


def test_check_usage_errors_exit_2(stock, tmp_path):
    no_dsn = runner.invoke(app, ["schema", "check", str(stock)], env={"UNIFY_DATABASE_URL": None})
    assert no_dsn.exit_code == 2  # neither --dsn nor UNIFY_DATABASE_URL
    bad = runner.invoke(app, ["schema", "check", str(stock), "--dsn", "not a url"])
    assert bad.exit_code == 2 and "--dsn must be a database URL" in bad.output
    empty = make_app(tmp_path / "fresh")
    missing = runner.invoke(app, ["schema", "check", str(empty), "--dsn", "postgresql://u:pw@localhost/db"])
    assert missing.exit_code == 2 and "run `pgunify schema" in " ".join(missing.output.split())
    assert "pw@" not in missing.output


def test_unreachable_database_is_an_error_without_the_password(stock):
    result = runner.invoke(app, ["schema", "check", str(stock), "--dsn", "postgresql://u:hunter2@127.0.0.1:1/db"])
    assert result.exit_code == 3  # no verdict: the comparison could not run
    assert "failed" in result.output and "hunter2" not in result.output


def test_same_table_in_sql_and_orm_with_different_shapes_is_a_conflict(tmp_path, pg_server):
    schema = SCHEMA + "CREATE TABLE IF NOT EXISTS users (id serial PRIMARY KEY, email text);\n"
    root = make_app(tmp_path / "conflict", schema, USER_MODEL)
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert result.exit_code == 1, result.output
    output = " ".join(result.output.split())
    assert "conflict table users is defined twice with different shapes" in output
    assert "column email: type 'text' in SQL, 'varchar(200)' in the ORM model" in output
    assert "column email: nullable True in SQL, False in the ORM model" in output
    assert not (root / "alembic.ini").exists() and not (root / "stock/schema_tables.py").exists()


def test_same_table_with_the_same_shape_is_kept_once_by_the_orm(tmp_path, pg_server):
    schema = SCHEMA + "CREATE TABLE IF NOT EXISTS users (id serial PRIMARY KEY, email varchar(200) NOT NULL);\n"
    root = make_app(tmp_path / "shared", schema, USER_MODEL)
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert result.exit_code == 0, result.output
    assert "kept once (ORM): users" in " ".join(result.output.split())
    module = (root / "stock/schema_tables.py").read_text()
    assert '"users"' not in module and '"items"' in module
    assert "from stock.models import Base" in module


def test_files_the_user_has_are_never_overwritten(tmp_path, pg_server):
    root = make_app(tmp_path / "mine")
    (root / "alembic.ini").write_text("# my own alembic settings\n")
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert (root / "alembic.ini").read_text() == "# my own alembic settings\n"
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "kept alembic.ini" in output and "no baseline made" in output
    assert (root / "stock/schema_tables.py").is_file() and not (root / "migrations/versions").exists()


def test_tables_module_location_comes_from_pyproject(tmp_path, pg_server):
    root = make_app(tmp_path / "configured")
    (root / "pyproject.toml").write_text('[tool.pgunify.schema]\ntables-module = "stock.db_tables"\n')
    result = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert result.exit_code == 0, result.output
    assert (root / "stock/db_tables.py").is_file()
    assert "from stock.db_tables import metadata" in (root / "migrations/env.py").read_text()
    (root / "pyproject.toml").write_text('[tool.pgunify.schema]\ntables-modul = "x"\n')
    bad = runner.invoke(app, ["schema", str(root), "--server", pg_server.dsn])
    assert bad.exit_code == 2 and "tables-modul" in bad.output
