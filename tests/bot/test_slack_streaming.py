"""Answers that appear in Slack as they are written (chat.startStream / appendStream / stopStream), the fallback to
the edited message where Slack refuses streaming, and Slack's native feedback buttons on a streamed answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer, AgentRequest, Citation
from bot.slack.answer_streams import StreamBudget
from bot.slack.ratings import find_rating
from testing_support.agent_runner import ScriptedAgentRunner
from testing_support.waiting import eventually
from tests.bot.slack_harness import running_slack
from tests.fakes.slack_api import HOSTILE, FakeSlackApi, FakeStream


@pytest.fixture
def harness_args(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str) -> dict[str, Any]:
    return {"engine": engine, "sessions": sessions, "database_url": database_url}


async def _stopped_stream(slack: FakeSlackApi) -> tuple[str, FakeStream]:
    def stopped() -> tuple[str, FakeStream] | None:
        return next(((ts, stream) for ts, stream in list(slack.streams.items()) if stream.stopped), None)

    return await eventually(stopped, what="a finished stream", within_seconds=10)


async def _edited_answer(slack: FakeSlackApi) -> dict[str, Any]:
    def edited() -> dict[str, Any] | None:
        return next(
            (
                update
                for update in slack.calls_to("chat.update")
                if any(block["type"] == "actions" for block in update.get("blocks") or [])
            ),
            None,
        )

    return await eventually(edited, what="the edited answer with its buttons", within_seconds=10)


def _long_answer(request: AgentRequest) -> AgentAnswer:
    return AgentAnswer(
        text="To deploy, run the pipeline from the main branch and watch the canary for ten minutes [1].",
        citations=[Citation(title="Deploys", url="https://handbook.northwind.example/deploy.md")],
        trace_id="a" * 32,
        prompt_versions={"answer": 3},
    )


async def test_a_streamed_answer_starts_appends_and_stops_with_sources_and_native_feedback(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    slack_api.stream_refusal = None
    async with running_slack(slack_api, ScriptedAgentRunner(_long_answer), **harness_args) as slack:
        slack.channel.flow.stream_interval_seconds = 0  # every piece its own append, to see several
        slack.channel.flow.stream_budget = StreamBudget(calls_per_minute=float("inf"))
        await slack.mention("how do I deploy?", ts="100.000001")
        ts, stream = await _stopped_stream(slack_api)
        await slack_api.wait_for("chat.delete")

        start = slack_api.calls_to("chat.startStream")[0]
        assert (start["channel"], start["thread_ts"]) == ("C1", "100.000001")
        assert (start["recipient_user_id"], start["recipient_team_id"]) == ("U1", "T1")
        assert len(slack_api.calls_to("chat.appendStream")) >= 5
        assert stream.text.replace("\\", "") == _long_answer(AgentRequest.model_construct()).text
        assert not slack_api.calls_to("chat.update") or all(
            call["ts"] != ts for call in slack_api.calls_to("chat.update")
        )  # the streamed text is the answer: nothing replaces it
        working_ts = slack_api.posted_ts()[0]
        assert slack_api.calls_to("chat.delete")[0]["ts"] == working_ts  # the "working on it" message goes
        sources = "\n".join(b["text"]["text"] for b in stream.blocks if b["type"] == "section")
        assert "<https://handbook.northwind.example/deploy.md|Deploys>" in sources
        feedback = next(b for b in stream.blocks if b["type"] == "context_actions")["elements"][0]
        assert feedback["type"] == "feedback_buttons"
        assert feedback["positive_button"]["value"] == "up:" + "a" * 32
        assert feedback["negative_button"]["value"] == "down:" + "a" * 32

        response = await slack.click("feedback", "down:" + "a" * 32, user="U2")
        assert response.status_code == 200
        await slack_api.wait_for("views.open")  # a 👎 opens the "what was wrong?" form, as with the buttons
    rating = await find_rating(sessions, "a" * 32, "U2")
    assert rating is not None and rating.rating == -1 and rating.prompt_versions == {"answer": 3}


@pytest.mark.parametrize("refusal", ["unknown_method", "not_allowed"])
async def test_where_slack_refuses_streaming_the_answer_edits_the_working_message_and_is_not_asked_again(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], refusal: str
) -> None:
    slack_api.stream_refusal = refusal
    async with running_slack(slack_api, ScriptedAgentRunner(_long_answer), **harness_args) as slack:
        await slack.mention("how do I deploy?", ts="100.000001")
        answer = await _edited_answer(slack_api)
        assert answer["ts"] == slack_api.posted_ts()[0]
        assert "run the pipeline" in answer["text"]
        await slack.mention("and rollbacks?", ts="101.000001")
        await slack_api.wait_for("chat.update", count=4)
        await eventually(lambda: len(_with_buttons(slack_api)) == 2, what="both answers with their buttons")
    assert len(_with_buttons(slack_api)) == 2
    assert len(slack_api.calls_to("chat.startStream", status=None)) == 1  # remembered for the workspace
    assert not slack_api.calls_to("chat.appendStream") and not slack_api.calls_to("chat.stopStream")


def _with_buttons(slack: FakeSlackApi) -> list[dict[str, Any]]:
    return [c for c in slack.calls_to("chat.update") if any(b["type"] == "actions" for b in c.get("blocks") or [])]


async def test_streamed_model_text_reaches_slack_inert(slack_api: FakeSlackApi, harness_args: dict[str, Any]) -> None:
    def hostile(request: AgentRequest) -> AgentAnswer:
        return AgentAnswer(text=f"{HOSTILE} [click](https://evil.example/login)", trace_id="b" * 32)

    slack_api.stream_refusal = None
    async with running_slack(slack_api, ScriptedAgentRunner(hostile), **harness_args) as slack:
        await slack.mention("anything?", ts="100.000001")
        _, stream = await _stopped_stream(slack_api)
    streamed = "".join(stream.pieces)
    assert "channel" in streamed and "evil.example/login" in streamed  # the words are shown...
    # ...but no "<" (Slack markup, HTML) or "[" / "(" (a Markdown link) is left unescaped to start anything.
    assert re.search(r"(?<!\\)[<\[(&!@]", streamed) is None


async def test_an_answer_that_differs_from_what_was_streamed_replaces_the_streamed_text(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    class ChangingRunner(ScriptedAgentRunner):
        async def answer(self, request: AgentRequest, on_progress: Any = None, on_answer_text: Any = None) -> Any:
            if on_answer_text is not None:
                await on_answer_text("Let me look that up first.")
            return _long_answer(request)

    slack_api.stream_refusal = None
    async with running_slack(slack_api, ChangingRunner(), **harness_args) as slack:
        await slack.mention("how do I deploy?", ts="100.000001")
        ts, stream = await _stopped_stream(slack_api)
        answer = await _edited_answer(slack_api)
    assert answer["ts"] == ts and "run the pipeline" in answer["text"]
    assert stream.blocks == []


def test_the_streams_of_a_workspace_share_its_append_budget() -> None:
    """chat.appendStream's limit (Tier 4, about 100 a minute) is per workspace: a burst stretches every interval."""
    budget = StreamBudget(calls_per_minute=100)
    assert budget.interval("T1", at_least=1.0) == 1.0
    for _ in range(50):
        budget.opened("T1")
    assert budget.interval("T1", at_least=1.0) == 30.0  # 50 streams, one append each per 30 s: 100 a minute
    assert budget.interval("T2", at_least=1.0) == 1.0  # another workspace has its own
    for _ in range(49):
        budget.closed("T1")
    assert budget.interval("T1", at_least=1.0) == 1.0


async def test_with_a_status_line_a_streamed_answer_needs_no_working_message(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    slack_api.stream_refusal = None
    slack_api.allow("assistant.threads.setStatus")
    async with running_slack(slack_api, ScriptedAgentRunner(_long_answer), **harness_args) as slack:
        await slack.mention("how do I deploy?", ts="100.000001")
        _, stream = await _stopped_stream(slack_api)
        await slack.settle()
    assert slack_api.statuses[("C1", "100.000001")] == ["Reading your question…", "Searching the knowledge base…", ""]
    assert not slack_api.posted() and not slack_api.calls_to("chat.delete")  # the stream is the only message
    assert any(block["type"] == "context_actions" for block in stream.blocks)
