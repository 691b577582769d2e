"""``switchboard serve``: one uvicorn server around the service, with a bounded graceful shutdown on SIGTERM."""

from __future__ import annotations

import logging
import math

import uvicorn

from bot.http_app import create_app
from bot.service import Service
from bot.settings import Settings
from bot.slack import SlackChannel
from bot.slack_client import create_slack_client

logger = logging.getLogger(__name__)


async def serve(settings: Settings, host: str, port: int) -> None:
    """Start the service (migrating the database first), serve until SIGTERM/SIGINT, then close everything.

    uvicorn stops accepting on the signal and lets in-flight requests finish for up to
    ``shutdown_grace_seconds`` before the service closes the database.
    """
    service = await Service.start(settings)
    slack = None
    try:
        # --- Slack (HTTP route or Socket Mode) ---
        slack = create_slack_channel(service)
        extra_routes = slack.routes() if slack is not None else []
        if slack is not None:
            await slack.start()
        app = create_app(service, extra_routes)
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
        if slack is not None:
            await slack.aclose(settings.shutdown_grace_seconds)
        await service.aclose()


def create_slack_channel(service: Service) -> SlackChannel | None:
    """The Slack channel when Slack is configured and an agent runtime is there to answer; None otherwise."""
    if not service.settings.slack_enabled:
        return None
    if service.agent_runner is None:
        logger.warning("Slack is configured, but this build has no agent runtime to answer with: Slack stays off")
        return None
    client = create_slack_client(service.settings)
    if client is None:
        return None
    return SlackChannel(service.settings, service.sessions, service.agent_runner, client)
