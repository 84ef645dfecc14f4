"""Test fixtures for the pepgmp example.

Every test session gets a scratch PostgreSQL database, provisioned when pytest
starts. ``DATABASE_URL`` and ``ASYNC_DATABASE_URL`` point at it before any module
that reads them at import time (``src.database.connection`` and everything
importing it) is loaded; the ORM side is still only reached through fixtures.
"""
from __future__ import annotations

import asyncio
import contextlib
import importlib
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

RAW_TABLES = ("alerts", "detection_records", "cameras")
MLOPS_TABLES = ("workflow_runs", "workflows", "deployments", "datasets")


def _require_db() -> bool:
    return os.environ.get("UNIFY_REQUIRE_DB", "").strip().lower() in ("1", "true", "yes")


def _set_utc(url: str) -> None:
    """Reports and date_trunc() buckets are defined in UTC, as in production."""

    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            name = await conn.fetchval("SELECT current_database()")
            await conn.execute(f'ALTER DATABASE "{name}" SET timezone TO \'UTC\'')
        finally:
            await conn.close()

    asyncio.run(run())


def _apply_migrations(url: str, variable: str) -> None:
    """Where the schema is under Alembic (alembic.ini next to this file), create it the
    documented way, `alembic upgrade head`, instead of relying on start-up code."""
    root = Path(__file__).resolve().parent
    if not (root / "alembic.ini").is_file():
        return
    done = subprocess.run([sys.executable, "-m", "alembic", "-c", str(root / "alembic.ini"), "upgrade", "head"],
                          cwd=root, env={**os.environ, variable: url}, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"alembic upgrade head failed:\n{done.stderr[-2000:]}")


_SESSION: dict = {}


def pytest_configure(config):
    """Provision the scratch database before test modules are imported.

    Modules that build their engine at import time read DATABASE_URL then, so it has
    to point at the scratch database before collection starts.
    """
    stack = contextlib.ExitStack()
    try:
        from pgunify.postgres import provision, scratch_database

        server = stack.enter_context(provision())
        url = stack.enter_context(scratch_database(server, prefix="pepgmp_test"))
        plain_url = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        _set_utc(plain_url)
        _apply_migrations(plain_url, "DATABASE_URL")
    except Exception as exc:  # provisioning problems of any kind
        stack.close()
        _SESSION["error"] = exc
        return
    async_url = make_url(plain_url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    _SESSION["saved"] = {k: os.environ.get(k) for k in ("DATABASE_URL", "ASYNC_DATABASE_URL")}
    os.environ["DATABASE_URL"] = plain_url
    os.environ["ASYNC_DATABASE_URL"] = async_url
    _SESSION.update(url=plain_url, stack=stack)


def pytest_unconfigure(config):
    for key, value in _SESSION.pop("saved", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    stack = _SESSION.pop("stack", None)
    if stack is not None:
        stack.close()


@pytest.fixture(scope="session")
def pepgmp_database_url():
    error = _SESSION.get("error")
    if error is not None:
        reason = "PostgreSQL could not be provisioned for the pepgmp tests"
        if _require_db():
            pytest.fail(f"{reason} (UNIFY_REQUIRE_DB=1): {error}", pytrace=False)
        first_line = (str(error).strip().splitlines() or [""])[0]
        pytest.skip(f"{reason} ({type(error).__name__}: {first_line}); set UNIFY_REQUIRE_DB=1 to fail instead")
    plain_url = _SESSION["url"]
    if "src.database.connection" in sys.modules:
        engine_url = sys.modules["src.database.connection"].async_engine.url
        if engine_url.database != make_url(plain_url).database:
            pytest.fail(
                "src.database.connection was imported before the test database was "
                f"provisioned; its engine points at {engine_url!r}",
                pytrace=False,
            )
    return plain_url


@pytest.fixture
async def probe(pepgmp_database_url):
    """A separate connection for checking database state from the outside."""
    conn = await asyncpg.connect(pepgmp_database_url)
    try:
        yield conn
    finally:
        await conn.close()


# --- raw-SQL side -------------------------------------------------------------


@pytest.fixture
async def db_service(pepgmp_database_url):
    from src.services.database_service import DatabaseService

    service = DatabaseService()
    await service.initialize()
    await service.init_schema()
    async with service.pool.acquire() as conn:
        await conn.execute(f"TRUNCATE {', '.join(RAW_TABLES)} RESTART IDENTITY CASCADE")
    try:
        yield service
    finally:
        await service.close()


@pytest.fixture
def camera_repo(db_service):
    from src.repositories.camera_repository import PostgreSQLCameraRepository

    return PostgreSQLCameraRepository(db_service.pool)


@pytest.fixture
def alert_repo(db_service):
    from src.repositories.alert_repository import PostgreSQLAlertRepository

    return PostgreSQLAlertRepository(db_service.pool)


@pytest.fixture
def detection_repo(db_service):
    from src.repositories.detection_repository import PostgreSQLDetectionRecordRepository

    return PostgreSQLDetectionRecordRepository(db_service.pool)


@pytest.fixture
def camera_service(camera_repo):
    from src.services.camera_service import CameraService

    return CameraService(camera_repo)


@pytest.fixture
def alert_service(alert_repo):
    from src.services.alert_service import AlertService

    return AlertService(alert_repo)


@pytest.fixture
def detection_service(detection_repo):
    from src.services.detection_service import DetectionService

    return DetectionService(detection_repo)


@pytest.fixture
def make_camera(camera_repo):
    """Create a camera with sensible defaults; keyword arguments override them."""
    from src.domain.camera import Camera

    counter = iter(range(1, 10_000))

    async def factory(**fields):
        n = next(counter)
        fields.setdefault("name", f"cam-{n:03d}")
        fields.setdefault("location", f"line {n}")
        fields.setdefault("rtsp_url", f"rtsp://10.0.0.{n}/stream1")
        fields.setdefault("status", "active")
        return await camera_repo.create(Camera(**fields))

    return factory


# --- MLOps (SQLAlchemy ORM) side ----------------------------------------------


@pytest.fixture
async def mlops_db(pepgmp_database_url):
    """The ``src.database.connection`` module, with tables created and emptied."""
    connection = importlib.import_module("src.database.connection")
    assert connection.async_engine.url.database == make_url(pepgmp_database_url).database
    try:
        await connection.init_db()
        async with connection.async_engine.begin() as conn:
            await conn.exec_driver_sql(f"TRUNCATE {', '.join(MLOPS_TABLES)} RESTART IDENTITY CASCADE")
        yield connection
    finally:
        # the engine outlives this test's event loop; drop its connections
        await connection.async_engine.dispose()


@pytest.fixture
async def session(mlops_db):
    async with mlops_db.AsyncSessionLocal() as s:
        yield s


@pytest.fixture
def models(mlops_db):
    return importlib.import_module("src.database.models")


@pytest.fixture
def dataset_dao(mlops_db):
    return importlib.import_module("src.database.dao").DatasetDAO


@pytest.fixture
def deployment_dao(mlops_db):
    return importlib.import_module("src.database.dao").DeploymentDAO


@pytest.fixture
def workflow_dao(mlops_db):
    return importlib.import_module("src.database.dao").WorkflowDAO


# --- HTTP -----------------------------------------------------------------------


@pytest.fixture
def app(pepgmp_database_url):
    return importlib.import_module("src.main").app


@pytest.fixture
async def client(app, probe):
    """An HTTP client with the application's lifespan running against the test database."""
    import httpx

    async with app.router.lifespan_context(app):
        await probe.execute(
            f"TRUNCATE {', '.join(RAW_TABLES + MLOPS_TABLES)} RESTART IDENTITY CASCADE"
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
