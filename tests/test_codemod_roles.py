"""What the runner knows of a codemod comes from its CodemodInfo, never its name; what a
codemod knows of a receiver comes from the typed fields of its Resolution, never the wording
of the evidence."""

from __future__ import annotations

import json

import libcst as cst
from libcst.metadata import MetadataWrapper, ParentNodeProvider, ScopeProvider
from typer.testing import CliRunner

from pgunify.cli import app
from pgunify.codemods import REGISTRY
from pgunify.facts.receivers import ClassAttributeCollector, Kind, ReceiverResolver

runner = CliRunner()


def migrate(*args: str) -> dict:
    return json.loads(runner.invoke(app, ["migrate", *args, "--format", "json"]).stdout)


def test_roles_are_declared_by_the_codemods():
    moves = {c.info.name for c in REGISTRY if c.info.moves_asyncpg_pools}
    waits = {c.info.name for c in REGISTRY if c.info.needs_pools_moved}
    assert moves == {"repositories"}
    assert waits == {"repositories", "config"}


def test_a_library_given_its_pool_is_not_rewritten(tmp_path):
    (tmp_path / "store.py").write_text(
        "import asyncpg\n\n\n"
        "async def names(pool: asyncpg.Pool):\n"
        "    return await pool.fetch('SELECT name FROM item WHERE id = $1', 1)\n"
    )
    data = migrate(str(tmp_path))
    assert "repositories" not in data["codemods"]
    assert "repositories not run: the application creates no asyncpg pool of its own to move onto the engine, so " \
           "its asyncpg calls stay on asyncpg" in data["notes"]
    assert not [f for f in data["files"] if f["path"] == "store.py" and f["status"] == "changed"]
    # without the codemod that needs the pools, nothing is said about it
    data = migrate(str(tmp_path), "--select", "config")
    assert not any(note.startswith("repositories not run") for note in data["notes"])


def test_pools_that_cannot_move_stop_every_codemod_that_needs_them(tmp_path):
    (tmp_path / "db.py").write_text(
        "import os\nimport asyncpg\n\n\n"
        "async def pools():\n"
        "    main = await asyncpg.create_pool(os.environ['DATABASE_URL'])\n"
        "    audit = await asyncpg.create_pool(os.environ['AUDIT_DATABASE_URL'])\n"
        "    return main, audit\n"
    )
    data = migrate(str(tmp_path))
    assert "repositories" not in data["codemods"] and "config" not in data["codemods"]
    assert "engine" in data["codemods"]
    assert any(note.startswith("repositories and config not run: ") for note in data["notes"])
    data = migrate(str(tmp_path), "--ignore", "repositories")
    assert any(note.startswith("config not run: ") for note in data["notes"])


def _resolutions(source: str):
    """The resolution of each parameter `x` annotated in `source`'s functions, by function name."""
    wrapper = MetadataWrapper(cst.parse_module(source))
    collector = ClassAttributeCollector()
    wrapper.visit(collector)
    found = {}

    class Visitor(cst.CSTVisitor):
        METADATA_DEPENDENCIES = (ScopeProvider, ParentNodeProvider)

        def __init__(self):
            super().__init__()
            self.resolver = ReceiverResolver(self.get_metadata, collector.attributes, collector.imports_asyncpg)

        def visit_Call(self, node: cst.Call) -> None:
            if isinstance(node.func, cst.Attribute) and node.func.attr.value == "fetch":
                found[node.args[0].value.value.strip("'")] = self.resolver.resolve(node.func.value)

    wrapper.visit(Visitor())
    return found


def test_resolution_fields_say_how_a_receiver_was_found():
    found = _resolutions(
        "import asyncpg\n\n\n"
        "async def either(x: asyncpg.Pool | asyncpg.Connection):\n"
        "    await x.fetch('either')\n\n\n"
        "async def guessed(pool):\n"
        "    await pool.fetch('guessed')\n\n\n"
        "async def own():\n"
        "    conn = await asyncpg.connect('postgresql://localhost/app')\n"
        "    await conn.fetch('own')\n\n\n"
        "async def pooled(pool: asyncpg.Pool):\n"
        "    async with pool.acquire() as conn:\n"
        "        await conn.fetch('pooled')\n"
    )
    either, guessed, own, pooled = found["either"], found["guessed"], found["own"], found["pooled"]
    assert either.ambiguous and either.alternatives == (Kind.CONNECTION, Kind.POOL)
    assert either.choices == "connection | pool" and either.kind is Kind.UNKNOWN
    assert guessed.by_name_only and guessed.kind is Kind.POOL and not guessed.ambiguous
    assert own.own_connection and own.kind is Kind.CONNECTION and not own.by_name_only
    assert pooled.kind is Kind.CONNECTION and not (pooled.own_connection or pooled.by_name_only or pooled.ambiguous)
