"""The parts of `pgunify verify` that decide "the same": value encoding, comparison, scenario
files, settings and the legacy tree; records come from a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from example_tree import git
from test_raw_sql_module import QUERY, load, sa_url
from pgunify.config import ConfigError
from pgunify.verify.codec import decode, encode, render
from pgunify.verify.compare import Clock, differences
from pgunify.verify.scenarios import ScenarioError, load_scenarios
from pgunify.verify.settings import load_verify_settings
from pgunify.verify.trees import BaselineError, from_baseline, from_git

CLOCK = Clock(dt.datetime.now(dt.timezone.utc), 5.0)


def rows(tmp_path, database_url):
    raw_sql = load(tmp_path)

    async def fetch():
        conn = await asyncpg.connect(database_url)
        try:
            legacy = await conn.fetchrow(QUERY)
        finally:
            await conn.close()
        engine = create_async_engine(sa_url(database_url))
        try:
            async with engine.connect() as sa:
                new = raw_sql.first_record(await sa.execute(text(QUERY)))
        finally:
            await engine.dispose()
        return legacy, new, raw_sql

    return asyncio.run(fetch())


def test_asyncpg_record_and_generated_record_are_the_same_and_a_dict_is_not(tmp_path, database_url):
    legacy, new, _ = rows(tmp_path, database_url)
    assert type(legacy) is not type(new)
    assert differences(encode(legacy), encode(new), CLOCK) == []
    assert encode(legacy)[0] == "record"
    assert differences(encode(legacy), encode(dict(legacy)), CLOCK)  # a mapping is not a record
    assert differences(encode(legacy), encode(tuple(legacy)), CLOCK)  # nor is a tuple


def test_a_record_that_iterates_its_keys_differs(tmp_path, database_url):
    legacy, new, raw_sql = rows(tmp_path, database_url)
    raw_sql.Record.__iter__ = lambda self: iter(self._names)
    found = differences(encode(legacy), encode(new), CLOCK)
    assert found and "iterates" in found[0]


@pytest.mark.parametrize("old, new", [
    ({"a": 1}, '{"a": 1}'),  # JSON as a dict vs as text
    (decimal.Decimal("1.5"), 1.5),
    (dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1)),
    (uuid.UUID(int=1), str(uuid.UUID(int=1))),
    (None, 0),
    ([1, 2], (1, 2)),
    (True, 1),
])
def test_types_a_caller_can_tell_apart_differ(old, new):
    assert differences(encode(old), encode(new), CLOCK)


def test_server_clock_stamps_a_moment_apart_are_the_same_but_old_dates_are_exact():
    now = dt.datetime.now(dt.timezone.utc)
    assert differences(encode(now), encode(now + dt.timedelta(seconds=1)), CLOCK) == []
    assert differences(encode(now), encode(now + dt.timedelta(seconds=30)), CLOCK)
    past = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)
    assert differences(encode(past), encode(past + dt.timedelta(microseconds=1)), CLOCK)
    shifted = now.astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert differences(encode(now), encode(shifted), CLOCK)  # same instant, another offset


def test_mappings_compare_without_key_order_and_values_round_trip():
    assert differences(encode({"a": 1, "b": 2}), encode({"b": 2, "a": 1}), CLOCK) == []
    value = {"when": dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc), "n": decimal.Decimal("0.1234"),
             "ids": [1, 2], "pair": (1, "x"), "id": uuid.UUID(int=5), "raw": b"\x00\x01"}
    assert decode(json.loads(json.dumps(encode(value)))) == value


def test_errors_compare_by_class_and_sqlstate_and_render_readably():
    error = asyncpg.UniqueViolationError("duplicate key")
    tree = encode(error)
    assert tree[:3] == ["raise", "asyncpg.exceptions:UniqueViolationError", "23505"]
    assert render(tree).startswith("raised asyncpg.exceptions.UniqueViolationError [SQLSTATE 23505]")
    assert differences(tree, encode(asyncpg.ForeignKeyViolationError("fk")), CLOCK)
    assert differences(tree, encode(asyncpg.UniqueViolationError("another message")), CLOCK) == []


def test_scenario_files_parse_references_and_constructors(tmp_path):
    folder = tmp_path / "verify"
    folder.mkdir()
    (folder / "flow.toml").write_text(
        '[[scenario]]\nname = "flow"\n'
        '[[scenario.step]]\ncall = "Repo.create"\nargs = [{ "$new" = "app:Thing", n = { "$decimal" = "1.5" } }]\nsave = "t"\n'
        '[[scenario.step]]\ncall = "Repo.get"\nargs = ["${t.id}", 2024-01-01T00:00:00Z]\n')
    [scenario] = load_scenarios(folder, tmp_path)
    first, second = scenario.steps
    assert first.args == [["obj", "app:Thing", [["n", ["decimal", "1.5"]]]]] and first.save == "t"
    assert second.args[0] == ["ref", "t.id"] and second.args[1][0] == "datetime"


def test_a_bad_scenario_file_names_the_file_and_the_step(tmp_path):
    folder = tmp_path / "verify"
    folder.mkdir()
    (folder / "bad.toml").write_text('[[scenario]]\nname = "x"\n[[scenario.step]]\ncall = "nodot"\n')
    with pytest.raises(ScenarioError, match=r"verify/bad.toml, scenario 1 \(x\), step 1: needs call"):
        load_scenarios(folder, tmp_path)


def test_unknown_verify_setting_is_an_error_and_accept_needs_a_reason(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.pgunify.verify]\nexampels = 3\n")
    with pytest.raises(ConfigError, match="unknown key 'exampels'"):
        load_verify_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.pgunify.verify]\naccept = [{ target = "A.b" }]\n')
    with pytest.raises(ConfigError, match="reason"):
        load_verify_settings(tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pgunify.verify]\nexamples = 7\naccept = [{ target = "A.*", kind = "state", reason = "why" }]\n')
    settings = load_verify_settings(tmp_path)
    assert settings.examples == 7 and settings.accepted("A.b", "state").reason == "why"
    assert settings.accepted("A.b", "result") is None


def test_legacy_tree_from_baseline_and_from_git_agree(tmp_path):
    root = tmp_path / "app"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg/repo.py").write_text("OLD = 1\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "legacy")
    with pytest.raises(BaselineError, match="pgunify migrate --write"):
        from_baseline(root, tmp_path / "a")
    from pgunify.rewrite.outcome import Changed
    from pgunify.rewrite.writing import apply_changes

    changes = [Changed(path="pkg/repo.py", old=b"OLD = 1\n", new=b"NEW = 1\n"),
               Changed(path="pkg/engine.py", old=None, new=b"engine = 1\n")]
    report = apply_changes(root, changes)
    assert report.written == ["pkg/repo.py", "pkg/engine.py"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    snapshot = from_baseline(root, tmp_path / "a")
    revision = from_git(root, "HEAD", tmp_path / "b")
    for tree in (snapshot, revision):
        assert (tree.path / "pkg/repo.py").read_text() == "OLD = 1\n"
        assert not (tree.path / "pkg/engine.py").exists()
    assert snapshot.removed == ("pkg/engine.py",) and snapshot.restored == ("pkg/repo.py",)
    assert (root / "pkg/repo.py").read_text() == "NEW = 1\n"  # the user's tree is left alone
    # a second `migrate --write` (another codemod) snapshots migrated code: the oldest copy wins
    import time

    time.sleep(1.1)  # baselines are named by the second they were taken in
    later = [Changed(path="pkg/repo.py", old=b"NEW = 1\n", new=b"NEWER = 1\n"),
             Changed(path="pkg/engine.py", old=b"engine = 1\n", new=b"engine = 2\n"),
             Changed(path="pkg/startup.py", old=None, new=b"startup = 1\n")]
    assert apply_changes(root, later).written == ["pkg/repo.py", "pkg/engine.py", "pkg/startup.py"]
    (tmp_path / "d").mkdir()
    twice = from_baseline(root, tmp_path / "d")
    assert (twice.path / "pkg/repo.py").read_text() == "OLD = 1\n"
    assert not (twice.path / "pkg/engine.py").exists() and not (twice.path / "pkg/startup.py").exists()
    assert twice.drifted == ()
    with pytest.raises(BaselineError, match="no such git revision"):
        from_git(root, "no-such-rev", tmp_path / "c")


def test_a_url_variable_without_default_that_feeds_create_async_engine_gets_the_async_driver(tmp_path):
    from pgunify.facts.inventory import scan
    from pgunify.verify.settings import VerifySettings
    from pgunify.verify.wiring import discover

    (tmp_path / "settings_db.py").write_text(
        "import os\n"
        "from sqlalchemy.ext.asyncio import create_async_engine\n\n"
        'SETTINGS_DATABASE_URL = os.environ["SETTINGS_DATABASE_URL"]\n'
        "engine = create_async_engine(SETTINGS_DATABASE_URL)\n"
        'audit = create_async_engine(os.environ.get("AUDIT_DATABASE_URL"))\n')
    (tmp_path / "pool.py").write_text(
        "import os\nimport asyncpg\n\n"
        "async def open_pool():\n"
        '    return await asyncpg.create_pool(os.environ["BOT_DSN"])\n')
    plan = discover(tmp_path, scan(tmp_path, closure=False), VerifySettings(), None)
    # without a `+asyncpg` default to go by, the engine's variables were given plain URLs,
    # and create_async_engine() then asked for psycopg
    assert plan.env == {"SETTINGS_DATABASE_URL": "asyncpg", "AUDIT_DATABASE_URL": "asyncpg", "BOT_DSN": "plain"}
