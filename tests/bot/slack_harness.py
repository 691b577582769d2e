"""Drive the real Slack channel over HTTP: signed Events API, slash command and interactivity requests sent
through the one ASGI app, with the Web API pointed at the fake Slack server."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentRunner
from bot import Service, Settings, create_app, create_slack_client
from bot.jobs import JobHandler, JobKind
from bot.slack import SlackChannel
from testing_support.slack_requests import SIGNING_SECRET, event_body, signature_headers
from tests.bot.job_harness import settle, working_jobs
from tests.fakes.slack_api import BOT_TOKEN, FakeSlackApi


class SlackHarness:
    def __init__(self, channel: SlackChannel, http: httpx.AsyncClient, slack: FakeSlackApi) -> None:
        self.channel = channel
        self.http = http
        self.slack = slack

    async def settle(self) -> None:
        """Wait until every queued answer job has run and the work started here (approvals, commands) is done."""

        await settle(self.channel.queue)
        await self.channel.flow.drain(10)

    async def send(self, body: str, content_type: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.http.post(
            "/slack/events",
            content=body,
            headers={"Content-Type": content_type, **signature_headers(body), **(headers or {})},
        )

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, **headers: str) -> httpx.Response:
        return await self.send(event_body(event, event_id=event_id), "application/json", headers)

    async def mention(self, text: str, *, user: str = "U1", channel: str = "C1", ts: str, **extra: Any) -> str:
        event_id = "Ev" + uuid.uuid4().hex[:10]
        event = {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "ts": ts, "channel": channel}
        response = await self.event({**event, **extra}, event_id=event_id)
        assert response.status_code == 200, response.text
        return event_id

    async def command(self, command: str, text: str, *, user: str = "U1", channel: str = "C1") -> httpx.Response:
        body = urlencode(
            {
                "command": command,
                "text": text,
                "user_id": user,
                "team_id": "T1",
                "channel_id": channel,
                "trigger_id": "trig-" + uuid.uuid4().hex[:6],
                "response_url": f"{self.slack.url}/respond/{uuid.uuid4().hex[:8]}",
            }
        )
        return await self.send(body, "application/x-www-form-urlencoded")

    async def click(self, action_id: str, value: str, *, user: str, channel: str = "C1") -> httpx.Response:
        payload = {
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": user, "team_id": "T1"},
            "channel": {"id": channel},
            "trigger_id": "trig-" + uuid.uuid4().hex[:6],
            "response_url": f"{self.slack.url}/respond/{uuid.uuid4().hex[:8]}",
            "container": {"type": "message", "channel_id": channel, "message_ts": "1.0"},
            "actions": [
                {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.1"}
            ],
        }
        return await self.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")

    async def submit_view(self, view: dict[str, Any], values: dict[str, Any], *, user: str) -> httpx.Response:
        payload = {
            "type": "view_submission",
            "team": {"id": "T1"},
            "user": {"id": user, "team_id": "T1"},
            "view": {"type": "modal", **view, "id": "V1", "state": {"values": values}},
        }
        return await self.send(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")


def slack_settings(slack: FakeSlackApi, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": slack.api_url,
        "prompt_editors": ["UEDITOR"],
        "switchboard_admins": ["UADMIN"],
        "groups": {"security": ["U1"]},
        "channels": {"CALL": {"respond_to": "all", "sources": ["handbook"]}},
    }
    return Settings(**(values | overrides))


@asynccontextmanager
async def running_slack(
    slack: FakeSlackApi,
    runner: AgentRunner,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    database_url: str,
    **overrides: Any,
) -> AsyncIterator[SlackHarness]:
    """The service's ASGI app with the Slack channel mounted, as ``serve`` builds it."""
    settings = slack_settings(slack, **overrides)
    client = create_slack_client(settings)
    assert client is not None
    service = Service.on_database(settings, database_url, engine, agent_runner=runner)
    await service.queue.open()
    channel = SlackChannel(settings, sessions, runner, client, queue=service.queue, progress_interval_seconds=0)
    # Questions and approval resumes are run by a job worker, here on the test's own event loop
    # (``jobs_in_process`` in serve).
    flow = channel.flow
    handlers = {
        JobKind.SLACK_ANSWER: JobHandler(run=flow.answer_job, give_up=flow.give_up),
        JobKind.APPROVAL_RESUME: JobHandler(run=flow.resume_job, give_up=flow.give_up_resume),
    }
    app = create_app(service, channel.routes())
    try:
        async with (
            working_jobs(service.queue, handlers),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://switchboard.test") as http,
        ):
            harness = SlackHarness(channel, http, slack)
            yield harness
            # No job of this test may be left for the next one's worker (they share the database).
            await harness.settle()
    finally:
        await channel.aclose()
        await service.queue.aclose()
