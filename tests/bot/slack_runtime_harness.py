"""The Slack channel as ``serve`` wires it: a started ``Service`` (real agent runtime, the scripted model as LLM and
embedder) with every channel started by ``start_channels``, driven through the one ASGI app with signed requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx

from bot import Channels, Service, create_app, start_channels
from testing_support.waiting import eventually
from tests.bot.slack_harness import SlackHarness, slack_settings
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi, SlackCall


class RuntimeSlack(SlackHarness):
    def __init__(self, service: Service, channels: Channels, http: httpx.AsyncClient, slack: FakeSlackApi) -> None:
        assert channels.slack is not None
        super().__init__(channels.slack, http, slack)
        self.service = service
        self.channels = channels

    async def reply(self, count: int) -> dict[str, Any]:
        """The ``count``-th response_url post (commands answer there once their work is done)."""
        return (await self.slack.wait_for_responses(count))[count - 1]

    async def answer_of(self, ts: str, within_seconds: float = 20.0) -> dict[str, Any]:
        """The finished answer in the thread of ``ts``: the working message once it carries the feedback buttons."""

        def finished_answer() -> dict[str, Any] | None:
            posted = [c.response.get("ts") for c in self.slack.calls if _in_thread(c, ts)]
            for update in self.slack.calls_to("chat.update"):
                if update["ts"] in posted and any(b["type"] == "actions" for b in update.get("blocks") or []):
                    return update
            return None

        answer = await eventually(
            finished_answer, what=f"an answer in the thread of {ts}", within_seconds=within_seconds
        )
        assert answer is not None
        return answer

    async def run_command(self, command: str, text: str, *, user: str, channel: str = "C1") -> str:
        """Send a command that is carried out in the background and return the text it finally replies with."""
        before = len(self.slack.responses)
        response = await self.command(command, text, user=user, channel=channel)
        assert response.status_code == 200, response.text
        reply = await self.reply(before + 1)
        assert reply["response_type"] == "ephemeral", reply
        return str(reply["text"])


def _in_thread(call: SlackCall, ts: str) -> bool:
    return call.method == "chat.postMessage" and call.status == 200 and call.params.get("thread_ts") == ts


@asynccontextmanager
async def slack_on_runtime(
    slack: FakeSlackApi, model: ScriptedModelServer, database_url: str, **overrides: Any
) -> AsyncIterator[RuntimeSlack]:
    settings = slack_settings(
        slack,
        database_url=database_url,
        llm_provider="openai",
        llm_base_url=model.base_url,
        llm_model="scripted",
        llm_max_retries=0,
        embeddings_provider="openai",
        embeddings_base_url=model.base_url,
        embeddings_model="scripted",
        **({"jobs_in_process": True} | overrides),
    )
    async with AsyncExitStack() as stack:
        service = await Service.start(settings, migrate=False)
        stack.push_async_callback(service.aclose)
        channels = await start_channels(service, stack)
        app = create_app(service, channels.routes)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchboard.test") as http:
            yield RuntimeSlack(service, channels, http, slack)
