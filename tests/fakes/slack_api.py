"""A fake Slack Web API on loopback that records every call, for tests that drive the real Bolt app.

It answers what Switchboard calls (auth.test, chat.postMessage, chat.update, chat.postEphemeral, chat.getPermalink,
views.open, conversations.members, users.info with ``profile.email``, and for the channels connector
conversations.history, conversations.replies, conversations.info and conversations.list over ``channels``),
serves attached files under ``/files/`` (checking the bot token),
speaks Socket Mode (``apps.connections.open`` with the app token hands out a WebSocket that says hello, carries
the envelopes a test sends with ``send_envelope`` and records the acknowledgements),
accepts ``response_url`` posts under ``/respond/``, can answer a method with 429 + ``Retry-After`` a few times or
with a 500 error a few times (``fail``, optionally after some calls succeeded), and refuses posts to the channels
in ``refuse_channels`` with ``channel_not_found``. ``conversations.members`` pages like the real API: at most
``limit`` ids (default 100, at most 1000) and an opaque ``response_metadata.next_cursor`` while more remain.
``observe(method, callback)`` lets a test look at the world (e.g. the database) at the moment a call arrives,
before the fake answers it.
Streaming (``chat.startStream`` / ``appendStream`` / ``stopStream``) answers like an older Slack by default
(``stream_refusal = "unknown_method"``), so tests of the edited message see it; a test sets ``stream_refusal`` to
None to stream like current Slack, or to ``"not_allowed"`` for a workspace that forbids it. ``streams`` holds each
stream by ``ts``; appending to or stopping a stream that is not open answers ``message_not_in_streaming_state``.
The agent surface: ``assistant.threads.setStatus`` (each thread's statuses in order under ``statuses``; refused
with ``unknown_method`` by default, like a Slack that predates it, until a test calls ``allow``),
``assistant.threads.setSuggestedPrompts`` (at most four prompts, each with a ``title`` and a ``message``, else
``invalid_arguments``), ``assistant.threads.setTitle`` and ``views.publish`` (the latest Home view per user under
``home_views``). ``refuse(method, error)`` makes any method answer ``{"ok": false, "error": error}``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from tests.fakes.http_server import BackgroundServer

BOT_USER_ID = "UBOT"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
# Model or document text that Slack would render live if posted unescaped: broadcasts, mentions, a disguised link.
HOSTILE = (
    "Heads up <!channel> <!here>, ask <@U999> or <!subteam^S0SEC|security>; "
    "see <https://evil.example|https://trusted.example> & more"
)
LIVE_MARKUP = ("<!channel>", "<!here>", "<@U999>", "<!subteam", "<https://evil")
# Like a Slack that predates the thread status line: tests of the "working on it" message see it by default.
_DEFAULT_REFUSALS = {"assistant.threads.setStatus": "unknown_method"}


@dataclass
class FakeChannel:
    """A channel as the history methods serve it: top-level messages (thread parents included) and each thread's
    replies by parent ``ts``; parents' ``reply_count`` and ``latest_reply`` are derived from the replies."""

    name: str
    is_private: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def parent(self, ts: str) -> dict[str, Any]:
        return next(message for message in self.messages if message["ts"] == ts)


@dataclass
class FakeStream:
    """A streamed message: the Markdown pieces it was given in order, and the blocks ``chat.stopStream`` added."""

    channel: str
    thread_ts: str
    pieces: list[str] = field(default_factory=list)
    stopped: bool = False
    blocks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class SlackCall(BaseModel):
    method: str
    params: dict[str, Any]
    status: int = 200
    response: dict[str, Any] = {}
    at: float = Field(default_factory=time.time)  # wall clock when it arrived (a benchmark's timeline)


class FakeSlackApi:
    def __init__(self, port: int | None = None) -> None:
        self.calls: list[SlackCall] = []
        self.responses: list[dict[str, Any]] = []  # posts to response_url
        self.file_downloads: list[str] = []
        self.channel_members: dict[str, list[str]] = {}
        self.files: dict[str, bytes] = {}
        self.refuse_channels: set[str] = set()
        self.user_timezones: dict[str, str] = {}  # users.info ``user.tz``; users not listed have none
        self.user_emails: dict[str, str] = {}  # users.info ``user.profile.email``; users not listed have none
        self.channels: dict[str, FakeChannel] = {}  # what conversations.history / .replies / .info serve
        # Channels the bot is not in: history, replies, info and members answer ``not_in_channel``.
        self.unreadable_channels: set[str] = set()
        # Largest page of history or replies served, whatever ``limit`` asks: small, so tests exercise paging.
        self.history_page_size = 1000
        self._rate_limits: dict[str, tuple[int, int]] = {}
        self.stream_refusal: str | None = "unknown_method"
        self.streams: dict[str, FakeStream] = {}
        self.refusals: dict[str, str] = dict(_DEFAULT_REFUSALS)
        self.statuses: dict[tuple[str, str], list[str]] = {}  # (channel, thread_ts) -> statuses set, in order
        self.home_views: dict[str, dict[str, Any]] = {}  # user -> the Home tab view last published
        self._failures: dict[str, tuple[int, int]] = {}  # method -> (calls that still succeed, calls that fail)
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_connections = 0
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._observers: dict[str, list[Callable[[dict[str, Any]], None]]] = {}
        app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/files/{name}", self._file, methods=["GET"]),
                Route("/respond/{key}", self._respond, methods=["POST"]),
                Route("/_calls", self._recorded, methods=["GET"]),
                WebSocketRoute("/socket-mode", self._socket_mode),
            ]
        )
        self._server = BackgroundServer(app, port=port)

    # --- control -----------------------------------------------------------------------------------------------

    def start(self) -> FakeSlackApi:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return self._server.url

    @property
    def api_url(self) -> str:
        return f"{self._server.url}/api/"

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.file_downloads.clear()
            self._rate_limits.clear()
            self._failures.clear()
            self.channel_members.clear()
            self.refuse_channels.clear()
            self.user_timezones.clear()
            self._observers.clear()
            self.user_emails.clear()
            self.channels.clear()
            self.unreadable_channels.clear()
            self.history_page_size = 1000
            self.stream_refusal = "unknown_method"
            self.streams.clear()
            self.refusals = dict(_DEFAULT_REFUSALS)
            self.statuses.clear()
            self.home_views.clear()

    def refuse(self, method: str, error: str) -> None:
        """Answer every call of ``method`` with ``{"ok": false, "error": error}`` (e.g. ``not_allowed``)."""
        with self._lock:
            self.refusals[method] = error

    def allow(self, method: str) -> None:
        """Answer ``method`` normally again (e.g. ``assistant.threads.setStatus``, refused by default)."""
        with self._lock:
            self.refusals.pop(method, None)

    def observe(self, method: str, callback: Callable[[dict[str, Any]], None]) -> None:
        """Call ``callback(params)`` on each authorised call of ``method``, in the fake's thread, before answering."""
        with self._lock:
            self._observers.setdefault(method, []).append(callback)

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self._rate_limits[method] = (times, retry_after)

    def fail(self, method: str, times: int = 1, after: int = 0) -> None:
        """Let ``after`` calls of ``method`` succeed, then answer ``times`` calls with HTTP 500 and ``internal_error``
        (not retried); ``after`` fails a paged listing part way through."""
        with self._lock:
            self._failures[method] = (after, times)

    def calls_to(self, method: str, status: int | None = 200) -> list[dict[str, Any]]:
        with self._lock:
            return [
                call.params
                for call in self.calls
                if call.method == method and (status is None or call.status == status)
            ]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """The successful ``chat.postMessage`` calls' parameters, optionally only those to ``channel``."""
        return [
            params for params in self.calls_to("chat.postMessage") if channel is None or params["channel"] == channel
        ]

    def posted_ts(self) -> list[str]:
        """The ``ts`` of every message posted, in order."""
        with self._lock:
            return [c.response["ts"] for c in self.calls if c.method == "chat.postMessage" and c.status == 200]

    async def wait_for(
        self, method: str, count: int = 1, within_seconds: float = 15.0, **match: Any
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` successful calls of ``method`` (whose params include ``match``) were made."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        while True:
            found = [params for params in self.calls_to(method) if all(params.get(k) == v for k, v in match.items())]
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} {method} calls matching {match}, got {len(found)}: {found}")
            await asyncio.sleep(0.02)

    async def wait_for_responses(self, count: int = 1, within_seconds: float = 15.0) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        while len(self.responses) < count:
            if loop.time() > deadline:
                raise AssertionError(f"expected {count} response_url posts, got {self.responses}")
            await asyncio.sleep(0.02)
        return list(self.responses)

    # --- routes ------------------------------------------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        params: dict[str, Any] = dict(request.query_params)
        raw = await request.body()
        if raw:
            if request.headers.get("content-type", "").startswith("application/json"):
                params.update(json.loads(raw))
            else:
                params.update(parse_qsl(raw.decode()))
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        token = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if request.headers.get("authorization") != f"Bearer {token}":
            return self._record(method, params, JSONResponse({"ok": False, "error": "invalid_auth"}))
        with self._lock:
            observers = list(self._observers.get(method, []))
        for observer in observers:
            observer(params)
        remaining, retry_after = self._rate_limits.get(method, (0, 0))
        if remaining > 0:
            self._rate_limits[method] = (remaining - 1, retry_after)
            response = JSONResponse(
                {"ok": False, "error": "ratelimited"}, status_code=429, headers={"Retry-After": str(retry_after)}
            )
            return self._record(method, params, response)
        with self._lock:
            succeeding, failing = self._failures.get(method, (0, 0))
            if succeeding > 0:
                self._failures[method] = (succeeding - 1, failing)
                failing = 0
            elif failing > 0:
                self._failures[method] = (0, failing - 1)
        if failing > 0:
            return self._record(method, params, JSONResponse({"ok": False, "error": "internal_error"}, status_code=500))
        return self._record(method, params, JSONResponse(self._answer(method, params)))

    def _record(self, method: str, params: dict[str, Any], response: JSONResponse) -> JSONResponse:
        with self._lock:
            answer = json.loads(bytes(response.body))
            self.calls.append(SlackCall(method=method, params=params, status=response.status_code, response=answer))
        return response

    def _answer(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method in self.refusals:
            return {"ok": False, "error": self.refusals[method]}
        if method.startswith("assistant.threads.") or method == "views.publish":
            return self._surface_call(method, params)
        if method == "apps.connections.open":
            return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket-mode"}
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER_ID,
                "bot_id": "BBOT",
                "team_id": "T1",
                "user": "switchboard",
                "url": "https://acme.slack.example/",
            }
        if method == "chat.postMessage":
            if params.get("channel") in self.refuse_channels:
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": params.get("channel"), "ts": f"1700000000.{next(self._ts):06d}"}
        if method.startswith("chat.") and method.endswith("Stream"):
            return self._stream_call(method, params)
        if method == "chat.getPermalink":
            channel, ts = params.get("channel"), str(params.get("message_ts", ""))
            return {
                "ok": True,
                "channel": channel,
                "permalink": f"https://example.slack.com/archives/{channel}/p{ts.replace('.', '')}",
            }
        if method == "chat.update":
            return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"1700000000.{next(self._ts):06d}"}
        if method == "views.open":
            return {"ok": True, "view": {"id": "V1", **(params.get("view") or {})}}
        if method.startswith("conversations.") and params.get("channel") in self.unreadable_channels:
            return {"ok": False, "error": "not_in_channel"}
        if method == "conversations.members":
            return self._members_page(params)
        if method == "conversations.history":
            return self._history_page(params)
        if method == "conversations.replies":
            return self._replies_page(params)
        if method == "conversations.info":
            channel = self.channels.get(params.get("channel", ""))
            if channel is None:
                return {"ok": False, "error": "channel_not_found"}
            return {"ok": True, "channel": self._channel_object(params["channel"], channel)}
        if method == "conversations.list":
            listed = [self._channel_object(key, channel) for key, channel in self.channels.items()]
            return self._paged(listed, params, "channels")
        if method == "users.info":
            user = params.get("user", "")
            profile: dict[str, Any] = {"display_name": user}
            if user in self.user_emails:
                profile["email"] = self.user_emails[user]
            found: dict[str, Any] = {"id": user, "name": user.lower(), "profile": profile}
            if user in self.user_timezones:
                found["tz"] = self.user_timezones[user]
            return {"ok": True, "user": found}
        return {"ok": True}

    def _surface_call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "views.publish":
            view = params.get("view")
            if not params.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
                return {"ok": False, "error": "invalid_arguments"}
            if len(view.get("blocks") or []) > 100:
                return {"ok": False, "error": "invalid_blocks"}
            self.home_views[str(params["user_id"])] = view
            return {"ok": True, "view": {"id": "VHOME", **view}}
        if not params.get("channel_id"):
            return {"ok": False, "error": "channel_not_found"}
        if method == "assistant.threads.setStatus":
            if "status" not in params or not params.get("thread_ts"):
                return {"ok": False, "error": "invalid_arguments"}
            key = (str(params["channel_id"]), str(params["thread_ts"]))
            self.statuses.setdefault(key, []).append(str(params["status"]))
            return {"ok": True}
        if method == "assistant.threads.setSuggestedPrompts":
            prompts = params.get("prompts")
            if isinstance(prompts, str):
                prompts = json.loads(prompts)
            if (
                not isinstance(prompts, list)
                or not 1 <= len(prompts) <= 4
                or not all(isinstance(p, dict) and p.get("title") and p.get("message") for p in prompts)
            ):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True}
        if method == "assistant.threads.setTitle":
            if not params.get("thread_ts") or not params.get("title"):
                return {"ok": False, "error": "invalid_arguments"}
            return {"ok": True}
        return {"ok": False, "error": "unknown_method"}

    def _stream_call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "chat.startStream":
            if self.stream_refusal is not None:
                return {"ok": False, "error": self.stream_refusal}
            ts = f"1700000000.{next(self._ts):06d}"
            self.streams[ts] = FakeStream(channel=params.get("channel", ""), thread_ts=params.get("thread_ts", ""))
            self.streams[ts].pieces.append(str(params.get("markdown_text") or ""))
            return {"ok": True, "channel": params.get("channel"), "ts": ts}
        stream = self.streams.get(str(params.get("ts", "")))
        if stream is None or stream.stopped:
            return {"ok": False, "error": "message_not_in_streaming_state"}
        if params.get("markdown_text"):
            stream.pieces.append(str(params["markdown_text"]))
        if method == "chat.stopStream":
            stream.stopped = True
            stream.blocks = list(params.get("blocks") or [])
        return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}

    def _members_page(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._paged(self.channel_members.get(params.get("channel", ""), []), params, "members")

    def _paged(self, items: list[Any], params: dict[str, Any], key: str, cap: int = 1000) -> dict[str, Any]:
        limit = min(int(params.get("limit") or 100), 1000, cap)
        cursor = str(params.get("cursor") or "")
        try:
            start = int(base64.b64decode(cursor).decode().removeprefix("offset:")) if cursor else 0
        except ValueError:
            return {"ok": False, "error": "invalid_cursor"}
        end = start + limit
        following = base64.b64encode(f"offset:{end}".encode()).decode() if end < len(items) else ""
        return {
            "ok": True,
            key: items[start:end],
            "has_more": bool(following),
            "response_metadata": {"next_cursor": following},
        }

    @staticmethod
    def _channel_object(channel_id: str, channel: FakeChannel) -> dict[str, Any]:
        return {
            "id": channel_id,
            "name": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_private": channel.is_private,
        }

    def _with_thread_fields(self, channel: FakeChannel, message: dict[str, Any]) -> dict[str, Any]:
        replies = channel.replies.get(message["ts"])
        if not replies:
            return dict(message)
        return {
            **message,
            "thread_ts": message["ts"],
            "reply_count": len(replies),
            "latest_reply": max(reply["ts"] for reply in replies),
        }

    def _history_page(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(params.get("channel", ""))
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 10**12)
        inside = [
            self._with_thread_fields(channel, message)
            for message in channel.messages
            if oldest < float(message["ts"]) < latest
        ]
        inside.sort(key=lambda message: float(message["ts"]), reverse=True)
        return self._paged(inside, params, "messages", cap=self.history_page_size)

    def _replies_page(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self.channels.get(params.get("channel", ""))
        ts = str(params.get("ts", ""))
        if channel is None or not any(message["ts"] == ts for message in channel.messages):
            return {"ok": False, "error": "thread_not_found"}
        replies = [{**reply, "thread_ts": ts} for reply in channel.replies.get(ts, [])]
        thread = [self._with_thread_fields(channel, channel.parent(ts))] + sorted(replies, key=lambda r: float(r["ts"]))
        return self._paged(thread, params, "messages", cap=self.history_page_size)

    def send_envelope(self, payload: dict[str, Any], kind: str = "events_api") -> str:
        """Deliver ``payload`` over Socket Mode as Slack would; returns the envelope id its ack must carry."""
        envelope_id = uuid.uuid4().hex
        self._outbox.put({"envelope_id": envelope_id, "type": kind, "payload": payload, "retry_attempt": 0})
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, within_seconds: float = 15.0) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_seconds
        while True:
            with self._lock:
                found = [ack for ack in self.socket_acks if ack.get("envelope_id") == envelope_id]
            if found:
                return found[0]
            if loop.time() > deadline:
                raise AssertionError(f"no Socket Mode ack for envelope {envelope_id}: {self.socket_acks}")
            await asyncio.sleep(0.02)

    async def _socket_mode(self, websocket: WebSocket) -> None:
        await websocket.accept()
        with self._lock:
            self.socket_connections += 1
        await websocket.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A1"}})

        async def deliver() -> None:
            while True:
                try:
                    envelope = self._outbox.get_nowait()
                except queue.Empty:
                    await asyncio.sleep(0.01)
                    continue
                await websocket.send_json(envelope)

        delivering = asyncio.create_task(deliver())
        try:
            while True:
                ack = json.loads(await websocket.receive_text())
                with self._lock:
                    self.socket_acks.append(ack)
        except WebSocketDisconnect:
            pass
        finally:
            delivering.cancel()

    async def _file(self, request: Request) -> Response:
        name = request.path_params["name"]
        if request.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return Response(status_code=403)
        self.file_downloads.append(name)
        if name not in self.files:
            return Response(status_code=404)
        return Response(self.files[name], media_type="application/octet-stream")

    async def _recorded(self, request: Request) -> Response:
        """Every recorded call (or those after the first ``since``), for a benchmark that runs this fake in another
        process and reads the calls as they come."""
        since = int(request.query_params.get("since", "0"))
        with self._lock:
            return JSONResponse([call.model_dump() for call in self.calls[since:]])

    async def _respond(self, request: Request) -> Response:
        self.responses.append(json.loads(await request.body()))
        return Response("ok")
