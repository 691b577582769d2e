"""``switchboard serve``: one uvicorn server around the service, with a bounded graceful shutdown on SIGTERM."""

from __future__ import annotations

import logging
import math

import uvicorn

from bot.http_app import create_app
from bot.scheduling import Scheduling, build_scheduling
from bot.service import Service
from bot.settings import Settings
from bot.slack_client import create_slack_client

logger = logging.getLogger(__name__)


async def serve(settings: Settings, host: str, port: int) -> None:
    """Start the service (migrating the database first), serve until SIGTERM/SIGINT, then close everything.

    uvicorn stops accepting on the signal and lets in-flight requests finish for up to
    ``shutdown_grace_seconds`` before the service closes the database.
    """
    service = await Service.start(settings)
    scheduling: Scheduling | None = None
    try:
        # --- scheduler (issue 7): scheduled agent runs and periodic system jobs, once across replicas ---
        # The integrator passes the agent runtime here and registers knowledge re-syncs with
        # ``scheduling.scheduler.add_system_job(...)`` before ``start()``.
        scheduling = await build_scheduling(service, agent_runner=None, slack=create_slack_client(settings))
        await scheduling.start()
        # --- end scheduler ---
        app = create_app(service)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # keep the process's own logging (JSON, run ids, redaction)
            access_log=False,  # our middleware logs each request with its run id
            lifespan="off",
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
        )
        server = uvicorn.Server(config)
        logger.info("serving on http://%s:%d", host, port)
        await server.serve()
    finally:
        if scheduling is not None:
            await scheduling.stop()
        await service.aclose()
