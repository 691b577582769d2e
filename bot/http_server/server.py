"""``switchboard serve``: one uvicorn server around the service, with a bounded graceful shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager

import uvicorn

from bot.composition.channels import start_channels
from bot.composition.service import Service
from bot.composition.startup_heap import freeze_startup_heap
from bot.http_server.app import create_app
from bot.settings import Settings

logger = logging.getLogger(__name__)


class _Server(uvicorn.Server):
    """uvicorn would install its own signal handlers and re-raise the signal after shutdown, killing the process
    before the service closes the database; ``serve`` handles the signals on the loop instead."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, host: str, port: int) -> None:
    """Start the service (migrating the database first) and its channels, serve until SIGTERM/SIGINT, then close.

    On the signal uvicorn stops accepting and lets in-flight requests finish for up to
    ``shutdown_grace_seconds``; then the channels stop, and the service closes its clients, the database pool and
    the embedded server. A signal that arrives while the service is still starting stops it once it has started.
    """
    loop = asyncio.get_running_loop()
    stop_requested = False
    server: _Server | None = None

    def on_signal(sig: signal.Signals) -> None:
        nonlocal stop_requested
        stop_requested = True
        if server is not None:
            server.handle_exit(sig, None)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with AsyncExitStack() as stack:
            service = await Service.start(settings)
            stack.push_async_callback(service.aclose)
            channels = await start_channels(service, stack)
            if stop_requested:
                return
            config = uvicorn.Config(
                create_app(service, extra_routes=channels.routes),
                host=host,
                port=port,
                log_config=None,  # keep the process's own logging (JSON, run ids, redaction)
                access_log=False,  # our middleware logs each request with its run id
                lifespan="off",
                timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
            )
            server = _Server(config)
            freeze_startup_heap()
            logger.info("serving on http://%s:%d", host, port)
            await server.serve()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
