"""The model held in a process of its own answers as the model held here does."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from pgunify.rewrite.model import LegacyModel, ModelProcess, open_model
from pgunify.rewrite.outcome import Changed
from pgunify.rewrite.plan import MigrationPlan

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="processes are forked only where the platform forks")

SOURCES = {
    "app/__init__.py": "",
    "app/db.py": "import asyncpg\n\npool = None\n\nasync def start(dsn):\n    global pool\n"
                 "    pool = await asyncpg.create_pool(dsn)\n",
    "app/repo.py": "from app import db\n\nasync def names():\n    return await db.pool.fetch('SELECT name FROM t')\n",
}
# the run left a call of asyncpg's API on the pool it moved onto the engine
AFTER = {
    "app/db.py": "from sqlalchemy.ext.asyncio import create_async_engine\n\npool = None\n\nasync def start(dsn):\n"
                 "    global pool\n    pool = create_async_engine(dsn)\n",
}


def _plan() -> MigrationPlan:
    root = Path(".").resolve()
    return MigrationPlan(root=root, import_root=root, url_var="DATABASE_URL", url_default=None,
                         secondary_url_vars=frozenset(), engine_module="app.engine", engine_path="app/engine.py",
                         raw_sql_module="app.raw_sql", raw_sql_path="app/raw_sql.py")


def _outcomes() -> list[Changed]:
    return [Changed(rel, SOURCES[rel].encode(), text.encode(), (), (), 0) for rel, text in AFTER.items()]


def test_the_model_in_its_own_process_answers_as_the_model_here(monkeypatch):
    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    here, there = LegacyModel(Path("."), SOURCES), ModelProcess(Path("."), SOURCES)
    try:
        for model in (here, there):
            model.build(frozenset())
            model.settle(frozenset({"app.engine", "app.raw_sql"}))
        assert there.error == here.error == ""
        assert there.learned == here.learned
        assert there.learned["receivers"]  # the pool was followed into app/repo.py
        found = there.closure(_outcomes(), _plan())
        assert found == here.closure(_outcomes(), _plan())
        assert [(f.path, f.blocking) for f in found] == [("app/repo.py", True)]
    finally:
        there.close()


def test_a_model_process_that_ends_early_leaves_nothing_proven(monkeypatch):
    monkeypatch.setenv("UNIFY_NO_CACHE", "1")
    model = ModelProcess(Path("."), SOURCES)
    try:
        model.build(frozenset())
        assert model.error == ""
        for pid in list(model._process._processes):  # killed, as the kernel does a process out of memory
            os.kill(pid, signal.SIGKILL)
        # asked again whether or not this process has seen it end (a request it knows cannot
        # be handed over fails at once; one handed over fails when the process is found gone)
        model.build(frozenset({"app.engine"}))
        assert model.learned is None
        assert "could not be built" in model.error
        findings = model.closure(_outcomes(), _plan())
        assert len(findings) == 1 and findings[0].blocking and "could not run" in findings[0].problem
    finally:
        model.close()


def test_a_run_with_workers_keeps_the_model_out_of_this_process():
    separate, here = open_model(Path("."), SOURCES, separate=True), open_model(Path("."), SOURCES, separate=False)
    separate.close()
    assert isinstance(separate, ModelProcess if sys.platform.startswith("linux") else LegacyModel)
    assert isinstance(here, LegacyModel)
