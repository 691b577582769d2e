"""``switchboard serve``: one uvicorn server around the service, with a bounded graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from bot.http_app import create_app
from bot.service import Service
from bot.settings import Settings

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn re-raises the signal after its own shutdown, which would kill the process before the service
    closes the database; handle SIGTERM/SIGINT on the loop instead so shutdown finishes in our code."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.handle_exit, sig, None)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)


async def serve(settings: Settings, host: str, port: int) -> None:
    """Start the service (migrating the database first), serve until SIGTERM/SIGINT, then close everything.

    On the signal uvicorn stops accepting and lets in-flight requests finish for up to
    ``shutdown_grace_seconds``; then the service closes its clients, the database pool and the embedded server.
    """
    service = await Service.start(settings)
    try:
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
        logger.info("serving on http://%s:%d", host, port)
        await _Server(config).serve()
    finally:
        await service.aclose()
