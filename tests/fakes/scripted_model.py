"""A scripted model server speaking the OpenAI chat/embeddings API and Anthropic's Messages API over loopback.

Tests queue replies (or install a responder that decides from the request) and then drive Switchboard's real model
clients against ``base_url``. Every request body is recorded for assertions; each streamed OpenAI reply also records
when it was asked for and when its first word went out (``first_tokens``, also served at ``GET /_streams`` for a
benchmark that runs this server in another process). ``GET /v1/models`` answers the
providers' model list (what health checks call).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.http_server import BackgroundServer


class ScriptedToolCall(BaseModel):
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    id: str = Field(default_factory=lambda: "call_" + uuid.uuid4().hex[:12])


class ScriptedReply(BaseModel):
    """One answer of the fake model: text and/or tool calls, or an HTTP error with headers."""

    text: str = ""
    tool_calls: list[ScriptedToolCall] = Field(default_factory=list)
    status: int = 200
    headers: dict[str, str] = Field(default_factory=dict)
    delay_seconds: float = 0.0
    # A streamed reply's pace, as a real model's: the wait before its first word, then between words.
    first_token_delay: float = 0.0
    token_interval: float = 0.0
    input_tokens: int = 11
    output_tokens: int = 7


Responder = Callable[[dict[str, Any]], ScriptedReply]


def embed_text(text: str, dimensions: int = 16) -> list[float]:
    """A deterministic bag-of-words embedding: texts sharing words get similar vectors."""
    vector = [0.0] * dimensions
    for word in text.lower().split():
        digest = hashlib.sha256(word.strip(".,?!").encode()).digest()
        vector[digest[0] % dimensions] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class ScriptedModelServer:
    def __init__(self, port: int | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.request_times: list[float] = []
        # Per streamed reply: wall-clock ``requested_at`` and ``first_token_at``, and the last user message.
        self.first_tokens: list[dict[str, Any]] = []
        self._queue: deque[ScriptedReply] = deque()
        self.responder: Responder | None = None
        # The embeddings API gives each vector its input's ``index``; nothing promises the list is in input order.
        self.embeddings_in_reverse = False
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._openai_chat, methods=["POST"]),
                Route("/v1/embeddings", self._openai_embeddings, methods=["POST"]),
                Route("/v1/messages", self._anthropic_messages, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/_streams", self._streams, methods=["GET"]),
            ]
        )
        self._server = BackgroundServer(app, port=port)

    @property
    def base_url(self) -> str:
        """OpenAI-style base URL (``.../v1``)."""
        return self._server.url + "/v1"

    @property
    def root_url(self) -> str:
        """Anthropic-style base URL (the SDK appends ``/v1/messages``)."""
        return self._server.url

    def start(self) -> ScriptedModelServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def script(self, *replies: ScriptedReply | str) -> None:
        """Queue replies, served in order; a plain string is a text reply."""
        for reply in replies:
            self._queue.append(ScriptedReply(text=reply) if isinstance(reply, str) else reply)

    def reset(self) -> None:
        self._queue.clear()
        self.requests.clear()
        self.request_times.clear()
        self.responder = None
        self.embeddings_in_reverse = False

    async def _streams(self, request: Request) -> Response:
        return JSONResponse(self.first_tokens)

    async def _models(self, request: Request) -> Response:
        """The model list both APIs serve (health checks call it): the fields of OpenAI's and Anthropic's."""
        model = {"id": "scripted", "object": "model", "type": "model", "display_name": "Scripted", "created": 0}
        model["created_at"] = "2025-01-01T00:00:00Z"
        return JSONResponse(
            {"object": "list", "data": [model], "has_more": False, "first_id": "scripted", "last_id": "scripted"}
        )

    def _next(self, body: dict[str, Any]) -> ScriptedReply:
        self.requests.append(body)
        self.request_times.append(asyncio.get_running_loop().time())
        if self._queue:
            return self._queue.popleft()
        if self.responder is not None:
            return self.responder(body)
        return ScriptedReply(status=500, text="the scripted model has no reply left for this request")

    async def _openai_chat(self, request: Request) -> Response:
        requested_at = time.time()
        body = await request.json()
        reply = self._next(body)
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status != 200:
            error = {"error": {"message": reply.text or "scripted error", "type": "server_error"}}
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)
        model = body.get("model", "scripted")
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": json.dumps(c.arguments)}}
            for c in reply.tool_calls
        ]
        usage = {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        }
        finish = "tool_calls" if calls else "stop"
        if body.get("stream"):
            users = [m for m in body.get("messages") or [] if m.get("role") == "user"]
            timing = {"requested_at": requested_at, "first_token_at": None, "question": str(users[-1:] or "")[:4000]}
            self.first_tokens.append(timing)
            stream = _openai_stream(model, reply, calls, usage, finish, timing)
            return StreamingResponse(stream, media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if calls:
            message["tool_calls"] = calls
        return JSONResponse(
            {
                "id": "chatcmpl-" + uuid.uuid4().hex,
                "object": "chat.completion",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": usage,
            }
        )

    async def _openai_embeddings(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": embed_text(t)} for i, t in enumerate(texts)]
        if self.embeddings_in_reverse:
            data.reverse()
        usage = {"prompt_tokens": 0, "total_tokens": 0}
        return JSONResponse({"object": "list", "data": data, "model": body.get("model"), "usage": usage})

    async def _anthropic_messages(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(body)
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status != 200:
            error = {"type": "error", "error": {"type": "api_error", "message": reply.text or "scripted error"}}
            return JSONResponse(error, status_code=reply.status, headers=reply.headers)
        content: list[dict[str, Any]] = []
        if reply.text:
            content.append({"type": "text", "text": reply.text})
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in reply.tool_calls]
        message = {
            "id": "msg_" + uuid.uuid4().hex,
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "scripted"),
            "content": content,
            "stop_reason": "tool_use" if reply.tool_calls else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
        }
        if body.get("stream"):
            return StreamingResponse(_anthropic_stream(message), media_type="text/event-stream")
        return JSONResponse(message)


async def _openai_stream(
    model: str,
    reply: ScriptedReply,
    calls: list[dict[str, Any]],
    usage: dict[str, int],
    finish: str,
    timing: dict[str, Any],
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None, with_usage: bool = False) -> str:
        payload: dict[str, Any] = {
            "id": "chatcmpl-stream",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [] if with_usage else [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
        }
        if with_usage:
            payload["usage"] = usage
        return f"data: {json.dumps(payload)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    words = reply.text.split(" ")
    for i, word in enumerate(words):
        if word or i:
            await asyncio.sleep(reply.first_token_delay if i == 0 else reply.token_interval)
            if timing["first_token_at"] is None:
                timing["first_token_at"] = time.time()
            yield chunk({"content": word if i == 0 else " " + word})
    for index, call in enumerate(calls):
        yield chunk({"tool_calls": [{"index": index, **call}]})
    yield chunk({}, finish_reason=finish)
    yield chunk({}, with_usage=True)
    yield "data: [DONE]\n\n"


async def _anthropic_stream(message: dict[str, Any]) -> AsyncIterator[str]:
    def event(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

    start = {**message, "content": [], "stop_reason": None, "usage": {**message["usage"], "output_tokens": 0}}
    yield event("message_start", {"message": start})
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
            for i, word in enumerate(block["text"].split(" ")):
                piece = word if i == 0 else " " + word
                yield event("content_block_delta", {"index": index, "delta": {"type": "text_delta", "text": piece}})
        else:
            yield event("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
            yield event(
                "content_block_delta",
                {"index": index, "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}},
            )
        yield event("content_block_stop", {"index": index})
    yield event(
        "message_delta",
        {"delta": {"stop_reason": message["stop_reason"], "stop_sequence": None}, "usage": message["usage"]},
    )
    yield event("message_stop", {})
