"""What ``GET /healthz`` reports: the database's reachability, checked on each request (it is the one dependency
without which nothing works), and Slack's and the model's, read from the background checks so the endpoint never
waits on them."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bot.composition.service import Service
from bot.http_server.dependency_checks import DependencyState

logger = logging.getLogger(__name__)

DATABASE_CHECK_SECONDS = 3.0


class HealthReport(BaseModel):
    status: Literal["ok", "degraded"]
    database: str
    # ``ok``, ``unreachable``, ``disabled`` (not configured) or ``unknown`` (not checked yet).
    slack: str
    model: str
    scheduler: str
    # The job queue: ``queued``, ``running``, ``stalled`` and ``failed`` jobs, and ``workers`` with a heartbeat.
    jobs: dict[str, int] = Field(default_factory=dict)
    # For each unreachable dependency, why, in a few words.
    reasons: dict[str, str] = Field(default_factory=dict)
    # Each ``[[mcp_servers]]`` entry: "up (N tools)", "connecting", or "down: why" (retried in the background).
    mcp_servers: dict[str, str] = {}

    @property
    def database_ok(self) -> bool:
        return self.database == "ok"


async def check_health(service: Service) -> HealthReport:
    database = await _database_state(service)
    service.metrics.database_up.set(1 if database == "ok" else 0)
    states = {name: _dependency_state(service, name) for name in ("slack", "model")}
    reasons = {name: state.reason for name, state in states.items() if state.state == "unreachable"}
    jobs = await _job_state(service) if database == "ok" else {}
    if jobs.get("queued", 0) and not jobs.get("workers", 0):
        reasons["jobs"] = "jobs are queued but no worker is running: start `switchboard worker` or set JOB_WORKERS"
    healthy = database == "ok" and not reasons
    return HealthReport(
        status="ok" if healthy else "degraded",
        database=database,
        slack=states["slack"].state,
        model=states["model"].state,
        scheduler="stopped" if service.scheduler is None else service.scheduler.state,
        jobs=jobs,
        reasons=reasons,
        mcp_servers={} if service.mcp_tools is None else service.mcp_tools.summary(),
    )


def _dependency_state(service: Service, name: str) -> DependencyState:
    if service.dependencies is not None:
        return service.dependencies.state(name)
    configured = service.settings.slack_enabled if name == "slack" else service.chat_model is not None
    return DependencyState(state="unknown" if configured else "disabled")


async def _job_state(service: Service) -> dict[str, int]:
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            counts = await service.queue.counts()
            workers = await service.queue.live_workers()
    except Exception as error:  # reported as unknown; the database check above says whether PostgreSQL is up
        logger.warning("health check: could not read the job queue: %s", error.__class__.__name__)
        return {}
    total = {status: sum(c.jobs for c in counts if c.status == status) for status in ("todo", "doing", "failed")}
    stalled = sum(c.stalled for c in counts)
    return {
        "queued": total["todo"],
        "running": total["doing"] - stalled,
        "stalled": stalled,
        "failed": total["failed"],
        "workers": workers,
    }


async def _database_state(service: Service) -> str:
    try:
        async with asyncio.timeout(DATABASE_CHECK_SECONDS):
            async with service.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError, TimeoutError) as error:
        logger.warning("health check: database unreachable: %s", error.__class__.__name__)
        return "down"
    return "ok"
