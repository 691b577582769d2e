"""Read an HTTP response body up to a byte limit and stop there, whatever size the server sends or claims."""

from __future__ import annotations

import httpx


async def read_at_most(response: httpx.Response, limit: int) -> tuple[str, bool]:
    """The body's first ``limit`` bytes as text, and whether it was cut; the rest is never downloaded.

    Leaving the ``client.stream`` block after this closes the connection, so a server sending gigabytes is cut off
    at about the limit (plus what the network buffers already hold).
    """
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            del body[limit:]
            return body.decode(response.encoding or "utf-8", errors="replace"), True
    return body.decode(response.encoding or "utf-8", errors="replace"), False
