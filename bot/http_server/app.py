"""The one ASGI app: health and metrics now; the Slack and phone routes mount here too."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.composition.service import Service
from bot.http_server.health import check_health
from bot.http_server.metrics import ServiceMetrics
from bot.http_server.request_size_limit import RequestSizeLimitMiddleware
from bot.logging_config import run_context

logger = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    report = await check_health(request.app.state.service)
    return JSONResponse(report.model_dump(), status_code=200 if report.database_ok else 503)


async def metrics(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        queue = service.queue
        service.metrics.observe_queue(await queue.counts(), await queue.live_workers(), await queue.latencies())
    except Exception:  # the rest of the metrics are still worth serving; /healthz says what is down
        logger.warning("could not read the job queue for /metrics", exc_info=True)
    return Response(service.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")


class RequestContextMiddleware:
    """Gives each request a run id (``X-Request-Id`` if the caller sent one), counts it and logs it."""

    def __init__(self, app: ASGIApp, routes: list[Route], metrics: ServiceMetrics) -> None:
        self._app = app
        self._routes = routes
        self._metrics = metrics

    def _route_name(self, scope: Scope) -> str:
        for route in self._routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
        return "unmatched"  # keeps label cardinality bounded whatever paths scanners try

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        header = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")[:64]
        route = self._route_name(scope)
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", run_id.encode()))
            await send(message)

        with run_context(header or None) as run_id:
            try:
                await self._app(scope, receive, send_with_status)
            finally:
                elapsed = time.perf_counter() - started
                self._metrics.http_requests.labels(route=route, method=scope["method"], status=str(status)).inc()
                self._metrics.http_latency.labels(route=route).observe(elapsed)
                logger.info("%s %s -> %d in %.1f ms", scope["method"], route, status, elapsed * 1000)


def create_app(service: Service, extra_routes: Sequence[BaseRoute] | None = None) -> Starlette:
    """Build the app around a started ``Service``; the caller owns the service's lifetime."""
    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    routes += extra_routes or []
    app = Starlette(routes=routes)
    app.state.service = service
    # Added first, so it runs inside the request context: a refused body is still logged and counted.
    app.add_middleware(RequestSizeLimitMiddleware, max_bytes=service.settings.max_request_bytes)
    app.add_middleware(
        RequestContextMiddleware, routes=[r for r in routes if isinstance(r, Route)], metrics=service.metrics
    )
    return app
