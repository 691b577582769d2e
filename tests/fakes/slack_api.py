"""A minimal fake Slack Web API on loopback: answers ``auth.test`` and ``chat.postMessage`` and records each call."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


class FakeSlackApi:
    """Point ``SLACK_API_URL`` at ``url``; ``calls`` holds ``(method, arguments)`` in arrival order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._server = BackgroundServer(Starlette(routes=[Route("/api/{method}", self._handle, methods=["POST"])]))

    @property
    def url(self) -> str:
        return self._server.url + "/api/"

    def start(self) -> FakeSlackApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [arguments for name, arguments in self.calls if name == method]

    async def _handle(self, request: Request) -> Response:
        method = request.path_params["method"]
        body = (await request.body()).decode()
        if request.headers.get("content-type", "").startswith("application/json"):
            arguments: dict[str, Any] = json.loads(body or "{}")
        else:
            arguments = dict(parse_qsl(body, keep_blank_values=True))
            if isinstance(arguments.get("blocks"), str):
                arguments["blocks"] = json.loads(arguments["blocks"])
        self.calls.append((method, arguments))
        if method == "auth.test":
            return JSONResponse({"ok": True, "team_id": "T0001", "user_id": "U0BOT", "bot_id": "B0001"})
        if method == "chat.postMessage":
            ts = f"{time.time():.6f}"
            return JSONResponse({"ok": True, "channel": arguments.get("channel"), "ts": ts, "message": arguments})
        return JSONResponse({"ok": False, "error": "unknown_method"})
