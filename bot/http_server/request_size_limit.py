"""Refuse oversized request bodies with 413 before any route parses, verifies or stores them.

Signature checks (Slack, Twilio) need the whole body, so without a limit anyone could make the service buffer an
arbitrarily large request. The limit is enforced twice: a declared ``Content-Length`` over it is refused without
reading a byte, and a body streamed without one (chunked) is read only up to the limit and then cut off. The
route sees the body only once it is known to fit, replayed from the buffer.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)


class RequestSizeLimitMiddleware:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 and never reaches the app."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self._max_bytes:
            logger.warning("refused %s: Content-Length %d is over the limit", scope["path"], declared)
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client went away before sending its body; nothing to answer
            body = message.get("body", b"")
            received += len(body)
            if received > self._max_bytes:
                logger.warning("refused %s: body streamed past the limit", scope["path"])
                await self._refuse(send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        await self._app(scope, _replay(b"".join(chunks), receive), send)

    async def _refuse(self, send: Send) -> None:
        text = (
            f"request body too large: the limit is {self._max_bytes} bytes (MAX_REQUEST_BYTES); "
            "send a smaller request\n"
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(text)).encode()),
                    # The rest of the body is never read, so the connection cannot carry another request.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": text})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects malformed lengths itself; the streamed count still applies
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the buffered body over once, then passes on what the client sends next."""
    delivered = False

    async def replayed() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
