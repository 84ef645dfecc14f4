"""Shared fixtures: one PostgreSQL server per test session, fresh databases per test.

The server comes from `pgunify.postgres.provision()` (explicit URL, local server,
Docker, local binaries or the embedded server, in that order; see
docs/postgres.md).  When none is available the tests that need one are
skipped, or fail when UNIFY_REQUIRE_DB=1 (set that in CI).
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

import pytest

from pgunify.postgres import ProvisioningError, Server, provision, scratch_database


def _database_required() -> bool:
    return os.environ.get("UNIFY_REQUIRE_DB", "").strip().lower() in {"1", "true", "yes", "on"}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """The session's PostgreSQL server; whatever was started for it is stopped
    and deleted when the session ends."""
    with contextlib.ExitStack() as stack:
        try:
            server = stack.enter_context(provision())
        except ProvisioningError as exc:
            if _database_required():
                pytest.fail(f"UNIFY_REQUIRE_DB=1 and no PostgreSQL server could be provisioned.\n{exc}", pytrace=False)
            pytest.skip(f"no PostgreSQL server (set UNIFY_REQUIRE_DB=1 to fail instead):\n{exc}")
        yield server


@pytest.fixture
def database_url(pg_server: Server) -> Iterator[str]:
    """URL of a database created for this test alone and dropped after it."""
    with scratch_database(pg_server, prefix="unify_test") as url:
        yield url


@pytest.fixture(scope="session")
def session_database_url(pg_server: Server) -> Iterator[str]:
    """URL of a database shared by the whole session and dropped at its end."""
    with scratch_database(pg_server, prefix="unify_session") as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _private_cache(tmp_path_factory) -> Iterator[None]:
    """Keep the per-file result cache of this test session out of the user's ~/.cache."""
    previous = os.environ.get("UNIFY_CACHE_DIR")
    os.environ["UNIFY_CACHE_DIR"] = str(tmp_path_factory.mktemp("pgunify-cache"))
    yield
    if previous is None:
        os.environ.pop("UNIFY_CACHE_DIR", None)
    else:
        os.environ["UNIFY_CACHE_DIR"] = previous
