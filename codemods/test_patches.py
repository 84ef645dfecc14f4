"""test-patches: a test's patch of asyncpg follows the call that replaced it.

A test that patches `app.db.asyncpg.create_pool` to check which URL the application
connects with fails once `app.db` calls the engine module's use_database_url() instead:
the module no longer has an `asyncpg` attribute. Where that call receives exactly the
arguments create_pool() received (the URL or the server in pieces, and callbacks handed
over), the patch moves to `app.db.use_database_url`, and what the test asserts about the
call still holds. Any other patch of asyncpg inside a migrated module is for the closure
check to list.
"""

from __future__ import annotations

import re

import libcst as cst

from pgunify.files import auxiliary
from pgunify.rewrite.outcome import Risk

from ._base import CodemodInfo, UnifyCodemod

_TARGET = re.compile(r"^((?:\w+\.)*\w+)\.asyncpg\.create_pool$")


class TestPatchesCodemod(UnifyCodemod):
    __test__ = False  # not a pytest class, whatever its name says

    info = CodemodInfo(
        name="test-patches",
        summary="Move tests' patches of asyncpg.create_pool to the use_database_url() call that replaced it",
        risk=Risk.REVIEW,
        why="A test that patches asyncpg inside a module that no longer imports it fails before it checks anything.",
    )

    @classmethod
    def wants(cls, source: bytes, plan) -> bool:
        return b".asyncpg.create_pool" in source

    @classmethod
    def wants_file(cls, rel: str, source: bytes, plan) -> bool:
        return plan.move_asyncpg_pools and auxiliary(rel) and cls.wants(source, plan)

    def leave_SimpleString(self, original_node: cst.SimpleString, updated_node: cst.SimpleString):
        value = original_node.evaluated_value
        match = _TARGET.match(value) if isinstance(value, str) else None
        if match is None:
            return updated_node
        module = match.group(1)
        if module not in self.plan.same_argument_pools:
            return updated_node
        prefix = original_node.prefix
        quote = original_node.quote
        self.record(original_node, f"the patch of asyncpg.create_pool in {module} follows it to use_database_url(), "
                                   "which that module now calls with the same arguments")
        return updated_node.with_changes(value=f"{prefix}{quote}{module}.use_database_url{quote}")
