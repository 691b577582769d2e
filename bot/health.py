"""What ``GET /healthz`` reports: the database's reachability and how each channel is configured."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.service import Service

logger = logging.getLogger(__name__)

DATABASE_CHECK_SECONDS = 3.0


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    slack: str
    model: str
    scheduler: str
    # Each ``[[mcp_servers]]`` entry: "up (N tools)", "connecting", or "down: why" (retried in the background).
    mcp_servers: dict[str, str] = {}

    @property
    def database_ok(self) -> bool:
        return self.database == "ok"


async def check_health(service: Service) -> HealthReport:
    database = await _database_state(service)
    service.metrics.database_up.set(1 if database == "ok" else 0)
    settings = service.settings
    if not settings.slack_enabled:
        slack = "disabled"
    else:
        slack = "socket mode" if settings.slack_app_token else "http"
    model = (
        "none (retrieval-only)"
        if service.chat_model is None
        else (f"{service.chat_model.provider}: {service.chat_model.model}")
    )
    return HealthReport(
        status="ok" if database == "ok" else "degraded",
        database=database,
        slack=slack,
        model=model,
        scheduler="stopped" if service.scheduler is None else service.scheduler.state,
        mcp_servers={} if service.mcp_tools is None else service.mcp_tools.summary(),
    )


async def _database_state(service: Service) -> str:
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            async with service.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        logger.warning("health check: database unreachable: %s", error.__class__.__name__)
        return "down"
    return "ok"
