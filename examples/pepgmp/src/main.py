"""pepgmp API entry point: ``uvicorn src.main:app``."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI

from src.api.routers import alerts, cameras, detections, mlops
from src.database.connection import async_engine, init_db
from src.services.database_service import close_db_service, get_db_service

logging.basicConfig(
    level=logging.INFO,
    format="%(asctime)s %(levelname)s %(name)s: %(message)s",
)
logger = logging.getLogger("pepgmp")


@asynccontextmanager
async def lifespan(app: FastAPI):
    db = await get_db_service()
    await db.init_schema()
    try:
        await init_db()
    except Exception:
        # Cameras, alerts and detections do not depend on the MLOps tables,
        # so keep serving them; the MLOps endpoints will report the error.
        logger.exception("MLOps database initialisation failed")
    logger.info("pepgmp API started")
    try:
        yield
    finally:
        await close_db_service()
        await async_engine.dispose()
        logger.info("pepgmp API stopped")


app = FastAPI(title="pepgmp detection API", version="1.4.2", lifespan=lifespan)

app.include_router(cameras.router)
app.include_router(alerts.router)
app.include_router(detections.router)
app.include_router(mlops.router)


@app.get("/health")
async def health():
    db = await get_db_service()
    healthy = await db.health_check()
    return {"status": "ok" if healthy else "degraded", "database": healthy}
