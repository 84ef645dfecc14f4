"""config codemod: one URL variable; second ones removed or derived, never localhost."""

from __future__ import annotations

from libcst.codemod import CodemodContext, CodemodTest

from codemod_helpers import make_plan
from pgunify.codemods.config import ConfigCodemod


class TestConfigCodemod(CodemodTest):
    TRANSFORM = ConfigCodemod

    def check(self, before: str, after: str, **plan) -> None:
        context = CodemodContext(filename="/app/app/mlops/settings.py", full_module_name="app.mlops.settings")
        self.assertCodemod(before, after, make_plan(**plan), context_override=context)

    def test_unused_second_variable_is_removed_with_its_import(self):
        self.check(
            """
            import os

            ASYNC_DATABASE_URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://u:p@localhost/db")
            """,
            """
            """,
        )

    def test_used_second_variable_is_derived_from_the_one_url(self):
        self.check(
            """
            import os

            ASYNC_DATABASE_URL = os.environ.get("ASYNC_DATABASE_URL", "postgresql+asyncpg://localhost/db")
            print(ASYNC_DATABASE_URL)
            """,
            """
            from app.db.engine import database_url

            ASYNC_DATABASE_URL = database_url().render_as_string(hide_password=False)
            print(ASYNC_DATABASE_URL)
            """,
        )

    def test_variable_imported_by_other_modules_is_derived(self):
        self.check(
            """
            import os

            ASYNC_URL = os.getenv("ASYNC_DATABASE_URL", "postgresql+asyncpg://localhost/db")
            LOG_LEVEL = os.getenv("LOG_LEVEL", "info")
            """,
            """
            import os

            from app.db.engine import database_url

            ASYNC_URL = database_url().render_as_string(hide_password=False)
            LOG_LEVEL = os.getenv("LOG_LEVEL", "info")
            """,
            exported_names=frozenset({("app.mlops.settings", "ASYNC_URL")}),
        )

    def test_inline_read_is_derived(self):
        self.check(
            """
            from os import environ

            def url():
                return environ["ASYNC_DATABASE_URL"]
            """,
            """
            from app.db.engine import database_url

            def url():
                return database_url().render_as_string(hide_password=False)
            """,
        )

    def test_the_one_variable_other_settings_and_writes_stay(self):
        source = """
            import os

            DATABASE_URL = os.getenv("DATABASE_URL", "postgresql://localhost/db")
            REDIS_URL = os.getenv("REDIS_URL", "redis://localhost")
            os.environ["ASYNC_DATABASE_URL"] = DATABASE_URL
            del os.environ["ASYNC_DATABASE_URL"]
            print(DATABASE_URL, REDIS_URL)
            """
        self.check(source, source)

    def test_lookalike_getenv_is_untouched(self):
        source = """
            def getenv(name, default=None):
                return default

            ASYNC_DATABASE_URL = getenv("ASYNC_DATABASE_URL", "x")
            """
        self.check(source, source)
