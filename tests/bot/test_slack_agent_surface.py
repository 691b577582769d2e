"""Slack as an AI app, through the real Bolt app over signed requests: the status line while the agent works, the
messages tab (suggested prompts, a titled conversation answered like a DM), assistant threads, and App Home for
editors and for everyone else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer, AgentRequest, Citation, ProgressEvent, PromptStore
from bot.slack.assistant_surface import SUGGESTED_PROMPTS, parse_greeting
from bot.slack.ratings import find_rating
from bot.slack.thread_status import ThreadStatus
from bot.slack.web_client import create_slack_client
from testing_support.agent_runner import ScriptedAgentRunner
from testing_support.waiting import eventually
from tests.bot.slack_harness import SlackHarness, running_slack, slack_settings
from tests.fakes.slack_api import HOSTILE, LIVE_MARKUP, FakeSlackApi

SET_STATUS = "assistant.threads.setStatus"


@pytest.fixture
def harness_args(engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str) -> dict[str, Any]:
    return {"engine": engine, "sessions": sessions, "database_url": database_url}


class ProgressRunner(ScriptedAgentRunner):
    """Goes through the stages the real agent reports, with the number of sources it reads."""

    async def answer(self, request: AgentRequest, on_progress: Any = None, on_answer_text: Any = None) -> Any:
        if on_progress is not None:
            await on_progress(ProgressEvent(stage="searching", detail=request.question))
            await on_progress(ProgressEvent(stage="answering", sources=3))
            await on_progress(ProgressEvent(stage="answering", sources=3))  # the same status: not sent again
            await on_progress(ProgressEvent(stage="reflecting", sources=3))
        return await super().answer(request, None, on_answer_text)


def _answered(slack: FakeSlackApi, thread_ts: str) -> dict[str, Any] | None:
    """The message in ``thread_ts`` that carries the native feedback (the answer), posted or edited."""
    for call in slack.calls_to("chat.postMessage") + slack.calls_to("chat.update"):
        if any(block["type"] == "context_actions" for block in call.get("blocks") or []):
            if call.get("thread_ts", thread_ts) == thread_ts:
                return call
    return None


async def _home_opened(slack: SlackHarness, user: str, tab: str = "home", channel: str = "D1") -> None:
    response = await slack.event({"type": "app_home_opened", "user": user, "channel": channel, "tab": tab})
    assert response.status_code == 200, response.text


async def test_a_status_line_shows_the_agents_progress_and_is_cleared_when_the_answer_is_posted(
    slack_api: FakeSlackApi, harness_args: dict[str, Any]
) -> None:
    slack_api.allow(SET_STATUS)
    async with running_slack(slack_api, ProgressRunner(), **harness_args) as slack:
        await slack.mention("how do I deploy?", ts="100.000001")
        answer = await eventually(lambda: _answered(slack_api, "100.000001"), what="the answer")
        await slack.settle()
    assert slack_api.statuses[("C1", "100.000001")] == [
        "Reading your question…",
        "Searching the knowledge base…",
        "Reading 3 sources…",
        "Checking the draft against its sources…",
        "",  # cleared once the answer is there
    ]
    # The status replaced the "working on it" message: the answer is the only message posted in the thread.
    assert [post["thread_ts"] for post in slack_api.posted("C1")] == ["100.000001"]
    assert not any("Working on it" in post["text"] for post in slack_api.posted())
    assert answer["thread_ts"] == "100.000001" and "Answer to: how do I deploy?" in answer["text"]


@pytest.mark.parametrize("refusal", ["unknown_method", "missing_scope"])
async def test_where_slack_refuses_a_status_the_working_message_shows_progress_and_it_is_not_asked_again(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], refusal: str
) -> None:
    slack_api.refuse(SET_STATUS, refusal)
    async with running_slack(slack_api, ScriptedAgentRunner(), **harness_args) as slack:
        await slack.mention("how do I deploy?", ts="100.000001")
        await slack.settle()
        await slack.mention("and roll back?", ts="101.000001")
        await slack.settle()
    working = [post for post in slack_api.posted("C1") if "Working on it" in post["text"]]
    assert [post["thread_ts"] for post in working] == ["100.000001", "101.000001"]
    assert len(slack_api.calls_to(SET_STATUS, status=None)) == 1  # remembered for the workspace
    assert _answered(slack_api, "101.000001") is not None


async def test_the_messages_tab_suggests_prompts_and_its_conversation_is_titled_and_answered_like_a_dm(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    slack_api.allow(SET_STATUS)
    greeting = parse_greeting((await PromptStore(sessions).get(SUGGESTED_PROMPTS)).text)
    runner = ScriptedAgentRunner()
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await _home_opened(slack, "U1", tab="messages", channel="D1")
        [suggested] = await slack_api.wait_for("assistant.threads.setSuggestedPrompts")
        assert suggested["channel_id"] == "D1" and "thread_ts" not in suggested  # agent view: the DM itself
        assert suggested["title"] == greeting.text
        assert suggested["prompts"] == [prompt.model_dump() for prompt in greeting.prompts]
        assert len(suggested["prompts"]) == 4 and all(p["title"] and p["message"] for p in suggested["prompts"])

        # The user picks a suggestion: it arrives as their DM message, the start of a conversation.
        question = {"type": "message", "channel": "D1", "channel_type": "im", "user": "U1", "ts": "200.000001"}
        await slack.event({**question, "text": greeting.prompts[0].message})
        answer = await eventually(lambda: _answered(slack_api, "200.000001"), what="the answer in the DM")
        await slack.settle()
        # A follow-up in the same conversation is answered there and does not rename it.
        await slack.event({**question, "ts": "201.000001", "thread_ts": "200.000001", "text": "and on Fridays?"})
        await slack.settle()

    [title] = slack_api.calls_to("assistant.threads.setTitle")
    assert (title["channel_id"], title["thread_ts"]) == ("D1", "200.000001")
    assert title["title"] == greeting.prompts[0].message
    assert answer["channel"] == "D1" and greeting.prompts[0].message in answer["text"]
    assert slack_api.statuses[("D1", "200.000001")][0] == "Reading your question…"
    assert slack_api.statuses[("D1", "200.000001")][-1] == ""
    assert [request.question for request in runner.requests] == [greeting.prompts[0].message, "and on Fridays?"]
    assert [reader.user_id for reader in runner.requests[0].asker.scope.readers] == ["U1"]  # a DM: the asker only


async def test_a_new_assistant_thread_gets_the_greeting_and_the_prompts_editors_set(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    text = "Welcome <!channel>! Ask about *anything*.\nOn-call | Who is on call this week?\nWhat changed last week?"
    await PromptStore(sessions).set(SUGGESTED_PROMPTS, text, author="UEDITOR", note="new greeting")
    async with running_slack(slack_api, ScriptedAgentRunner(), **harness_args) as slack:
        thread = {"user_id": "U1", "channel_id": "D1", "thread_ts": "300.000001", "context": {"channel_id": "C9"}}
        await slack.event({"type": "assistant_thread_started", "assistant_thread": thread})
        [suggested] = await slack_api.wait_for("assistant.threads.setSuggestedPrompts")
        await slack.event({"type": "assistant_thread_context_changed", "assistant_thread": thread})
        await slack.settle()
    [greeting] = slack_api.posted("D1")
    assert greeting["thread_ts"] == "300.000001"
    assert "Welcome" in greeting["text"] and "<!channel>" not in json.dumps(greeting["blocks"])  # posted inert
    assert (suggested["channel_id"], suggested["thread_ts"]) == ("D1", "300.000001")
    assert suggested["prompts"] == [
        {"title": "On-call", "message": "Who is on call this week?"},
        {"title": "What changed last week?", "message": "What changed last week?"},
    ]


def _disliked(request: AgentRequest) -> AgentAnswer:
    return AgentAnswer(
        text="The VPN needs a certificate.",
        citations=[Citation(title=f"VPN {HOSTILE}", url="https://it.example/vpn")],
        trace_id="c" * 32,
        prompt_versions={"answer": 1},
    )


async def test_app_home_shows_editors_the_bots_state_and_everyone_else_how_to_ask(
    slack_api: FakeSlackApi, harness_args: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    live = (await PromptStore(sessions).get("answer")).version
    runner = ScriptedAgentRunner(
        lambda request: _disliked(request).model_copy(update={"prompt_versions": {"answer": live}})
    )
    async with running_slack(slack_api, runner, **harness_args) as slack:
        await slack.mention("how do I get on the VPN?", ts="400.000001")
        await slack.settle()
        # A 👎 with a hostile comment, through Slack's native feedback on the edited answer.
        await slack.click("feedback", "down:" + "c" * 32, user="U2")
        [modal] = await slack_api.wait_for("views.open")
        comment = {"comment": {"comment": {"type": "plain_text_input", "value": HOSTILE}}}
        view = {"callback_id": modal["view"]["callback_id"], "private_metadata": modal["view"]["private_metadata"]}
        await slack.submit_view(view, comment, user="U2")
        await eventually(lambda: find_rating(sessions, "c" * 32, "U2"), what="the rating stored")

        await _home_opened(slack, "UEDITOR")
        await _home_opened(slack, "U1")
        await eventually(lambda: {"UEDITOR", "U1"} <= set(slack_api.home_views), what="both Home tabs published")
        editor, plain = slack_api.home_views["UEDITOR"], slack_api.home_views["U1"]

        # Edit on a prompt opens the /prompt edit form for an editor; nothing for anyone else.
        await slack.click("home_prompt_edit", "answer", user="U1")
        await slack.click("home_prompt_edit", "answer", user="UEDITOR")
        forms = await slack_api.wait_for("views.open", count=2)
        await slack.click("home_refresh", "refresh", user="UEDITOR")
        await slack_api.wait_for("views.publish", count=3)
        await slack.settle()

    rating = await find_rating(sessions, "c" * 32, "U2")
    assert rating is not None and rating.rating == -1 and rating.prompt_versions == {"answer": live}
    assert forms[1]["view"]["callback_id"] == "prompt_edit" and len(slack_api.calls_to("views.open")) == 2

    editor_text = json.dumps(editor)
    headers = [block["text"]["text"] for block in editor["blocks"] if block["type"] == "header"]
    assert headers == ["Knowledge sources", "Prompts", "Schedules"]
    answer_row = next(b for b in editor["blocks"] if b["type"] == "section" and "*answer*" in b["text"]["text"])
    assert f"`v{live}` (live)" in answer_row["text"]["text"] and ":thumbsdown: 1" in answer_row["text"]["text"]
    assert "&lt;!channel&gt;" in answer_row["text"]["text"]  # the 👎 comment, escaped
    assert answer_row["accessory"]["action_id"] == "home_prompt_edit" and answer_row["accessory"]["value"] == "answer"
    assert not any(live_markup in editor_text for live_markup in LIVE_MARKUP)
    assert any(b["type"] == "section" and "assistant_suggested_prompts" in b["text"]["text"] for b in editor["blocks"])

    plain_text = json.dumps(plain)
    assert "Prompts" not in plain_text and "home_prompt_edit" not in plain_text and "thumbsdown: 1" not in plain_text
    assert "Messages" in plain_text and "/memory list" in plain_text


async def test_a_status_change_that_comes_too_soon_is_sent_when_the_interval_is_up_unless_replaced(
    slack_api: FakeSlackApi,
) -> None:
    slack_api.allow(SET_STATUS)
    client = create_slack_client(slack_settings(slack_api))
    assert client is not None
    status = ThreadStatus(client=client, channel_id="C1", thread_ts="500.1", interval_seconds=0.5)
    assert await status.show("Reading your question…", at_once=True)
    await status.show("Searching the knowledge base…")  # too soon: held...
    await status.show("Reading 3 sources…")  # ...and replaced by a newer one before the interval is up
    await eventually(lambda: len(slack_api.statuses[("C1", "500.1")]) == 2, what="the held status sent")
    await status.clear()
    assert slack_api.statuses[("C1", "500.1")] == ["Reading your question…", "Reading 3 sources…", ""]
    assert status.calls == 3
