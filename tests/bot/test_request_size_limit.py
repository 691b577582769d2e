"""Every POST route refuses a body over MAX_REQUEST_BYTES with 413 before it is parsed, verified or stored."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.phone.tables import PhoneCall
from bot.slack.tables import SlackEvent
from testing_support.agent_runner import ScriptedAgentRunner
from testing_support.slack_requests import event_body, signature_headers
from tests.bot.phone_calls import CALLER, LINE, phone_settings, running_phone_line
from tests.bot.slack_harness import running_slack
from tests.fakes.slack_api import FakeSlackApi

LIMIT = 4096
CHUNK = 1024


@pytest.fixture
def db(database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {"database_url": database_url, "engine": engine, "sessions": sessions}


class CountingBody:
    """A request body streamed in chunks (no Content-Length unless the test sets one), counting what was read."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.chunks_read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), CHUNK):
            self.chunks_read += 1
            yield self.body[start : start + CHUNK]

    @property
    def chunks(self) -> int:
        return -(-len(self.body) // CHUNK)


def oversized_event(extra_bytes: int = 20 * CHUNK) -> str:
    """A validly signed Events API message whose text makes it larger than the limit."""
    return event_body(
        {"type": "app_mention", "user": "U1", "text": "<@UBOT> " + "x" * extra_bytes, "ts": "500.1", "channel": "C1"}
    )


async def count(sessions: async_sessionmaker[AsyncSession], table: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
async def test_a_slack_body_over_the_limit_is_refused_before_it_is_verified_or_stored(
    declared: bool, slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = oversized_event()
    stream = CountingBody(body.encode())
    before = await count(sessions, SlackEvent)
    headers = {"Content-Type": "application/json", **signature_headers(body)}
    if declared:
        headers["Content-Length"] = str(len(body))
    async with running_slack(slack_api, ScriptedAgentRunner(), max_request_bytes=LIMIT, **db) as slack:
        response = await slack.http.post("/slack/events", content=stream, headers=headers)

    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.text
    if declared:
        assert stream.chunks_read == 0  # refused on the declared length, unread
    else:
        assert "content-length" not in {name.lower() for name in response.request.headers}
        assert stream.chunks_read <= LIMIT // CHUNK + 1 < stream.chunks  # cut off just past the limit
    assert await count(sessions, SlackEvent) == before
    assert slack_api.calls_to("chat.postMessage") == []


async def test_a_body_within_the_limit_still_reaches_the_route_whole(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    body = oversized_event(extra_bytes=2 * CHUNK)  # chunked, under the limit of 8 chunks
    stream = CountingBody(body.encode())
    async with running_slack(slack_api, ScriptedAgentRunner(), max_request_bytes=8 * CHUNK, **db) as slack:
        headers = {"Content-Type": "application/json", **signature_headers(body)}
        response = await slack.http.post("/slack/events", content=stream, headers=headers)
        event_id = json.loads(body)["event_id"]
        async with sessions() as session:
            stored = await session.get(SlackEvent, event_id)

    assert response.status_code == 200, response.text
    assert stored is not None  # the signature matched: the route saw every byte


async def test_an_oversized_phone_request_stores_no_call(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None, max_request_bytes=LIMIT)
    before = await count(sessions, PhoneCall)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        params = {"CallSid": call, "From": CALLER, "To": LINE, "CallStatus": "ringing", "Padding": "x" * (2 * LIMIT)}
        declared = await twilio.post("/phone/voice", params)
        stream = CountingBody("&".join(f"{k}={v}" for k, v in params.items()).encode())
        signature = twilio.sign(twilio.public_base + "/phone/voice", params)
        chunked = await twilio.client.post(
            "/phone/voice",
            content=stream,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
        )

    assert declared.status == 413
    assert chunked.status_code == 413
    assert await count(sessions, PhoneCall) == before
