"""``switchboard serve``: one uvicorn server around the service, with a bounded graceful shutdown on SIGTERM."""

from __future__ import annotations

import logging
import math

import uvicorn

from bot.http_app import create_app
from bot.phone import PhoneConfig, PhoneLine
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
    # --- Phone line (issue 6): /phone/voice, /phone/gather, /phone/status ---
    # runner: the agent runtime's AgentRunner once it is on the service; until then the routes answer 503.
    phone_line = PhoneLine(
        PhoneConfig.from_settings(settings),
        service.sessions,
        runner=None,
        chat_model=service.chat_model,
        slack=create_slack_client(settings),
    )
    # --- end phone line ---
    try:
        app = create_app(service, extra_routes=phone_line.routes())
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
        await phone_line.aclose()
        await service.aclose()
