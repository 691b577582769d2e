"""A loopback HTTP endpoint standing in for a ticketing system, for the ``http_request`` tool's endpoints."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


class TicketApi:
    """``POST /tickets`` opens ticket OPS-42; every call is recorded with its Authorization header and body."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.server = BackgroundServer(Starlette(routes=[Route("/tickets", self._create, methods=["POST"])]))

    def start(self) -> TicketApi:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url + "/tickets"

    async def _create(self, request: Request) -> JSONResponse:
        self.calls.append({"auth": request.headers.get("authorization"), "body": await request.json()})
        return JSONResponse({"ticket": "OPS-42"}, status_code=201)
