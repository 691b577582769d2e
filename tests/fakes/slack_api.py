"""A minimal Slack Web API on loopback: records every call and answers the methods scheduled runs use.

Answers ``auth.test``, ``chat.postMessage``, ``conversations.members`` and ``chat.getPermalink``; anything else gets
``unknown_method``. Channels in ``refuse_channels`` make ``chat.postMessage`` fail with ``channel_not_found``.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


class FakeSlackApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.members: dict[str, list[str]] = {}
        self.refuse_channels: set[str] = set()
        self._lock = threading.Lock()
        self._counter = 0
        self._server = BackgroundServer(
            Starlette(routes=[Route("/api/{method}", self._handle, methods=["GET", "POST"])])
        )

    @property
    def url(self) -> str:
        """The base URL to give the client (``SLACK_API_URL``), with the trailing slash slack_sdk needs."""
        return f"{self._server.url}/api/"

    def start(self) -> FakeSlackApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.members.clear()
            self.refuse_channels.clear()

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [arguments for name, arguments in self.calls if name == method]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The ``chat.postMessage`` arguments, optionally only those to ``channel``."""
        return [
            arguments
            for method, arguments in self.calls
            if method == "chat.postMessage" and (channel is None or arguments.get("channel") == channel)
        ]

    async def _handle(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        # slack_sdk sends some methods as GET with query parameters, others as form or JSON bodies.
        arguments: dict[str, Any] = dict(request.query_params)
        if request.headers.get("content-type", "").startswith("application/json"):
            arguments.update(await request.json())
        elif request.method == "POST":
            arguments.update(await request.form())
        for key in ("blocks", "attachments"):
            if isinstance(arguments.get(key), str):
                arguments[key] = json.loads(arguments[key])
        with self._lock:
            self.calls.append((method, arguments))
            self._counter += 1
            counter = self._counter
        if method == "auth.test":
            return JSONResponse({"ok": True, "user_id": "UBOT", "team_id": "T1", "bot_id": "BBOT"})
        if method == "chat.postMessage":
            channel = str(arguments.get("channel", ""))
            if channel in self.refuse_channels:
                return JSONResponse({"ok": False, "error": "channel_not_found"})
            ts = f"1700000000.{counter:06d}"
            return JSONResponse({"ok": True, "channel": channel, "ts": ts, "message": arguments})
        if method == "conversations.members":
            channel = str(arguments.get("channel", ""))
            if channel not in self.members:
                return JSONResponse({"ok": False, "error": "channel_not_found"})
            members = self.members[channel]
            return JSONResponse({"ok": True, "members": members, "response_metadata": {"next_cursor": ""}})
        if method == "chat.getPermalink":
            channel, ts = arguments.get("channel"), str(arguments.get("message_ts", ""))
            permalink = f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}"
            return JSONResponse({"ok": True, "channel": channel, "permalink": permalink})
        return JSONResponse({"ok": False, "error": "unknown_method"})
