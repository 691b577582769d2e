"""The acknowledgements' claimer when the database is away: each acknowledgement fails within its wait (so Slack
retries it, nothing recorded), and the claimer takes events again as soon as the database is back, without a
restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from psycopg_pool import PoolTimeout
from sqlalchemy.engine import make_url

from bot.slack.store import EventClaimer
from testing_support.waiting import eventually
from tests.fakes.http_server import free_port


@contextlib.asynccontextmanager
async def forwarding(port: int, socket_path: str) -> AsyncIterator[None]:
    """A TCP port on loopback that carries every connection to the server's Unix socket: the database "comes back"."""

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass  # either side hung up: the other pipe ends it
        finally:
            writer.close()

    async def carry(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(socket_path)
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    server = await asyncio.start_server(carry, "127.0.0.1", port)
    try:
        yield
    finally:
        server.close()


async def test_acks_fail_while_the_database_is_away_and_succeed_once_it_is_back(database_url: str) -> None:
    url = make_url(database_url)
    socket_dir = str(url.query["host"])
    port = free_port()
    claimer = EventClaimer(f"postgresql://{url.username}@127.0.0.1:{port}/{url.database}", connect_seconds=0.5)
    body = {"type": "event_callback", "event": {"type": "app_mention", "channel": "C1", "ts": "1.1", "user": "U1"}}
    try:
        for _ in range(2):  # nothing listens yet: every claim times out (none finds the pool closed for good)
            with pytest.raises(PoolTimeout):
                await claimer.claim("Ev" + uuid.uuid4().hex[:10], body)
        async with forwarding(port, f"{socket_dir}/.s.PGSQL.{url.port or 5432}"):
            event_id = "Ev" + uuid.uuid4().hex[:10]

            async def delivered() -> bool:  # as Slack does: the delivery again until it is acknowledged
                try:
                    return await claimer.claim(event_id, body)
                except PoolTimeout:
                    return False

            # The pool reconnects in the background, backing off (about 1 s, then 2 s, ...).
            assert await eventually(delivered, what="the event claimed once the database is back", within_seconds=30)
            assert await claimer.claim(event_id, body) is False  # the next retry is a repeat
    finally:
        await claimer.aclose()
