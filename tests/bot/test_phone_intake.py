"""A finished call files one intake: summarized by the model (or from the transcript), stored, posted to Slack."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.phone import CallStore
from testing_support.agent_runner import ScriptedAgentRunner
from tests.bot.phone_calls import CALLER, INTAKE_JSON, phone_settings, posts_about, running_phone_line
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply
from tests.fakes.slack_api import HOSTILE, LIVE_MARKUP, FakeSlackApi


@pytest.fixture(scope="module")
def slack_api() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi().start()
    yield api
    api.stop()


@pytest.fixture
def db(database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {"database_url": database_url, "engine": engine, "sessions": sessions}


async def test_a_full_call_files_one_intake_and_one_slack_message(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    scripted_model.script("```json\n" + json.dumps(INTAKE_JSON) + "\n```")
    settings = phone_settings(slack_api, scripted_model)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        greeting = await twilio.dial(call)
        first = await twilio.say(call, "How many vacation days do I get?")
        second = await twilio.say(call, "How do I request them?")
        ended = await twilio.hang_up(call)
    assert greeting.status == first.status == second.status == ended.status == 200

    # The intake-summary prompt ran over the whole transcript.
    assert len(scripted_model.requests) == 1
    prompt_messages = scripted_model.requests[0]["messages"]
    assert prompt_messages[0]["role"] == "system" and "JSON" in prompt_messages[0]["content"]
    assert "Caller: How many vacation days do I get?" in prompt_messages[1]["content"]
    assert "Caller: How do I request them?" in prompt_messages[1]["content"]

    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None
    assert intake.caller_name == "Dana Whitfield"
    assert intake.caller_number == CALLER
    assert intake.reason == INTAKE_JSON["reason"]
    assert intake.urgency == "normal" and intake.follow_up is False
    assert intake.summary_mode == "model"
    assert intake.slack_channel == "C0INTAKE" and intake.slack_ts

    posts = posts_about(slack_api, call)
    assert len(posts) == 1
    post = json.dumps(posts[0])
    assert posts[0]["channel"] == "C0INTAKE"
    assert "Dana Whitfield" in post and INTAKE_JSON["reason"] in post
    assert "+1******4567" in post and CALLER not in post
    assert f"switchboard phone transcript {call}" in post, "the message says how to read the call's transcript"
    assert "How many vacation days do I get?" not in post, "the transcript itself stays in the database"


async def test_a_repeated_status_callback_files_once(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    scripted_model.responder = lambda body: ScriptedReply(text=json.dumps(INTAKE_JSON))
    settings = phone_settings(slack_api, scripted_model)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "Is parking free?")
        # Twilio retries: two callbacks at once, then one more later.
        racing = await asyncio.gather(twilio.hang_up(call), twilio.hang_up(call))
        later = await twilio.hang_up(call)
    assert [answer.status for answer in [*racing, later]] == [200, 200, 200]
    assert len(posts_about(slack_api, call)) == 1
    assert (await CallStore(sessions).get_intake(call)) is not None


async def test_in_retrieval_only_mode_a_plain_summary_is_filed_and_labelled(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "My badge stopped working this morning")
        await twilio.hang_up(call)
    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None
    assert intake.summary_mode == "transcript"
    assert intake.reason == "My badge stopped working this morning"
    [post] = posts_about(slack_api, call)
    assert "without a model" in json.dumps(post)


async def test_asking_for_a_person_files_an_intake_marked_for_follow_up(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # The model misses the request for a person; the line's own record of it still wins.
    scripted_model.script(json.dumps({**INTAKE_JSON, "reason": "Payroll question", "follow_up": False}))
    settings = phone_settings(slack_api, scripted_model)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "I need to speak to a human about my payslip")
        await twilio.hang_up(call)
    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None and intake.follow_up is True
    [post] = posts_about(slack_api, call)
    assert "call back requested" in json.dumps(post)


async def test_with_a_handoff_number_asking_for_a_person_transfers_and_the_intake_says_so(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None, phone_handoff_number="+15550001111")
    runner = ScriptedAgentRunner()
    async with running_phone_line(settings, runner, **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "My badge stopped working this morning")
        transferred = await twilio.say(call, "Can I talk to a person please")
        await twilio.hang_up(call)
    assert transferred.names() == ["Say", "Dial"]
    assert (transferred.verb("Dial").text or "").strip() == "+15550001111"
    assert len(runner.requests) == 1, "only the question before the handoff went to the agent"
    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None and intake.handed_over and intake.follow_up
    assert "My badge stopped working this morning" in intake.details  # what was said before the person took over
    [post] = posts_about(slack_api, call)
    assert "Phone intake: transferred to a person" in json.dumps(post)


async def test_a_failing_model_still_files_the_intake_from_the_transcript(
    slack_api: FakeSlackApi,
    scripted_model: ScriptedModelServer,
    db: dict[str, Any],
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    scripted_model.script(ScriptedReply(status=500, text="model down"))
    settings = phone_settings(slack_api, scripted_model)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "When is the next holiday?")
        await twilio.hang_up(call)
    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None and intake.summary_mode == "transcript"
    assert "could not summarize" in intake.notes
    assert len(posts_about(slack_api, call)) == 1


async def test_without_intake_channel_the_intake_is_stored_only(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None, intake_channel=None)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "Where do I park?")
        await twilio.hang_up(call)
    intake = await CallStore(sessions).get_intake(call)
    assert intake is not None and intake.slack_ts is None
    assert posts_about(slack_api, call) == []


async def test_status_updates_before_completion_file_nothing(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = phone_settings(slack_api, None)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        ringing = await twilio.post("/phone/status", twilio.call_params(call, CallStatus="in-progress"))
    assert ringing.status == 200
    assert await CallStore(sessions).get_intake(call) is None


async def test_model_text_in_an_intake_summary_reaches_slack_inert(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, db: dict[str, Any]
) -> None:
    hostile = HOSTILE
    summary = {**INTAKE_JSON, "caller_name": "<@U999>", "reason": hostile, "details": hostile, "promised": hostile}
    scripted_model.script("```json\n" + json.dumps(summary) + "\n```")
    settings = phone_settings(slack_api, scripted_model)
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "Please tell everyone.")
        await twilio.hang_up(call)

    [post] = posts_about(slack_api, call)
    rendered = json.dumps(post)
    for live in LIVE_MARKUP:
        assert live not in rendered
    assert "&lt;!channel&gt;" in post["text"] and "&amp; more" in post["text"]
    assert "&lt;@U999&gt;" in rendered
