"""The phone line as Twilio drives it: signed webhook requests in, TwiML out, calls and transcripts stored."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agents import AgentAnswer, AgentRequest, Citation, ProgressCallback
from bot import Settings
from bot.phone import CallStore
from testing_support.agent_runner import ScriptedAgentRunner
from tests.bot.phone_calls import CALLER, INTERNAL_BASE, TOKEN, SimulatedTwilio, running_phone_line
from tests.fakes.slack_api import FakeSlackApi


@pytest.fixture(scope="module")
def slack_api() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi().start()
    yield api
    api.stop()


@pytest.fixture
def settings(slack_api: FakeSlackApi) -> Settings:
    return Settings(
        twilio_auth_token=TOKEN,
        slack_bot_token="xoxb-test-token",
        slack_signing_secret="test-signing-secret",
        slack_api_url=slack_api.api_url,
        intake_channel="C0INTAKE",
        llm_provider="none",
        phone_hold_after_seconds=0.3,
    )


@pytest.fixture
def db(database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {"database_url": database_url, "engine": engine, "sessions": sessions}


class GatedRunner(ScriptedAgentRunner):
    """An agent that answers only once the test opens the gate: a slow model without timing."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def answer(self, request: AgentRequest, on_progress: ProgressCallback | None = None) -> AgentAnswer:
        await self.gate.wait()
        return await super().answer(request, on_progress)


async def test_incoming_call_hears_greeting_inside_a_speech_gather(
    settings: Settings, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        twiml = await twilio.dial(call)
    assert twiml.status == 200
    assert twiml.content_type.startswith("text/xml")
    gather = twiml.verb("Gather")
    assert gather.get("input") == "speech"
    assert gather.get("action") == "/phone/gather"
    assert "Switchboard" in twiml.spoken()
    stored = await CallStore(sessions).get_call(call)
    assert stored is not None and stored.caller_number == CALLER


async def test_questions_are_answered_in_one_agent_thread_per_call(
    settings: Settings, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    runner = ScriptedAgentRunner()
    async with running_phone_line(settings, runner, **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        first = await twilio.say(call, "How many vacation days do I get?")
        second = await twilio.say(call, "And how do I request them?")
    assert "Answer to: How many vacation days do I get?" in first.spoken()
    assert first.names() == ["Gather"], "the answer is said inside the next Gather, so the caller can barge in"
    assert "Source: Handbook." in second.spoken()
    assert [request.thread_id for request in runner.requests] == [call, call]
    for request in runner.requests:
        assert request.persona_prompt == "phone_persona"
        assert request.asker.channel == "phone"
        assert CALLER not in request.asker.user_id and "5551234567" not in request.asker.user_id
        assert all(not reader.groups for reader in request.asker.scope.readers)
    transcript = await CallStore(sessions).transcript(call)
    assert [turn.speaker for turn in transcript] == ["assistant", "caller", "assistant", "caller", "assistant"]
    assert transcript[3].text == "And how do I request them?"


async def test_spoken_answers_carry_no_urls_or_markdown(settings: Settings, db: dict[str, Any]) -> None:
    def markdown_answer(request: AgentRequest) -> AgentAnswer:
        return AgentAnswer(
            text=(
                "## Parental leave\n\n**Sixteen weeks** of paid leave, see [the policy](https://hr.example.com/leave)."
                "\n\n- File the form at https://forms.example.com/leave\n- Run `hr-cli request --leave`\n\n"
                "```\nhr-cli request --leave --weeks 16\n```\nMore at www.example.com [1]."
            ),
            citations=[Citation(title="People handbook", url="https://hr.example.com/leave")],
            trace_id=uuid.uuid4().hex,
        )

    async with running_phone_line(settings, ScriptedAgentRunner(markdown_answer), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        twiml = await twilio.say(call, "What is the parental leave policy?")
    spoken = twiml.spoken()
    assert "Sixteen weeks of paid leave" in spoken
    assert "People handbook" in spoken
    for forbidden in ("http", "www.", ".com", "](", "**", "`", "#", "[1]"):
        assert forbidden not in spoken


async def test_a_slow_agent_gets_a_holding_phrase_then_the_answer_on_the_redirect(
    settings: Settings, db: dict[str, Any]
) -> None:
    runner = GatedRunner()
    async with running_phone_line(settings, runner, **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        holding = await twilio.say(call, "Summarize last quarter's incidents")
        assert holding.names() == ["Say", "Redirect"]
        assert "moment" in holding.spoken()
        redirect = holding.verb("Redirect").text or ""
        assert redirect.startswith("/phone/gather?pending=")
        still_holding = await twilio.follow_redirect(call, holding)
        assert still_holding.names() == ["Say", "Redirect"]
        runner.gate.set()
        answered = await twilio.follow_redirect(call, still_holding)
    assert "Answer to: Summarize last quarter's incidents" in answered.spoken()
    assert answered.names() == ["Gather"]
    assert len(runner.requests) == 1


async def test_an_agent_that_never_finishes_gets_an_apology_and_a_follow_up(
    slack_api: FakeSlackApi, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings(twilio_auth_token=TOKEN, llm_provider="none", phone_hold_after_seconds=0.2, phone_max_holds=1)
    async with running_phone_line(settings, GatedRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        holding = await twilio.say(call, "Something very hard")
        assert holding.names() == ["Say", "Redirect"]
        apology = await twilio.follow_redirect(call, holding)
    assert apology.names() == ["Gather"]
    assert "sorry" in apology.spoken().lower()
    stored = await CallStore(sessions).get_call(call)
    assert stored is not None and stored.follow_up_requested


async def test_silence_is_reprompted_once_then_the_call_is_closed(
    settings: Settings, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    runner = ScriptedAgentRunner()
    async with running_phone_line(settings, runner, **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        # Twilio posts an empty result when the caller says nothing (actionOnEmptyResult).
        reprompt = await twilio.post("/phone/gather", twilio.call_params(call, CallStatus="in-progress"))
        mumbled = await twilio.say(call, "mmh grr", confidence="0.05")
    assert reprompt.names() == ["Gather"]
    assert "did not catch that" in reprompt.spoken()
    assert mumbled.names() == ["Say", "Hangup"]
    assert "Goodbye" in mumbled.spoken()
    assert runner.requests == []
    transcript = await CallStore(sessions).transcript(call)
    assert all(turn.speaker == "assistant" for turn in transcript), "unusable speech is not put in the transcript"


async def test_speech_after_a_reprompt_starts_the_count_again(settings: Settings, db: dict[str, Any]) -> None:
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "")
        answered = await twilio.say(call, "Where is the office?")
        reprompt = await twilio.say(call, "")
    assert "Answer to: Where is the office?" in answered.spoken()
    assert reprompt.names() == ["Gather"], "one silence after speech is re-prompted, not hung up on"


@pytest.mark.parametrize("speech", ["Can I talk to a person?", "I want a human", "Representative please", "AGENT"])
async def test_asking_for_a_person_promises_a_call_back_and_marks_follow_up(
    speech: str, settings: Settings, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    runner = ScriptedAgentRunner()
    async with running_phone_line(settings, runner, **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        twiml = await twilio.say(call, speech)
    assert "call you back" in twiml.spoken()
    assert twiml.names() == ["Gather"]
    assert runner.requests == []
    stored = await CallStore(sessions).get_call(call)
    assert stored is not None and stored.follow_up_requested


async def test_a_bad_or_missing_signature_is_refused_and_nothing_is_stored(
    settings: Settings, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    runner = ScriptedAgentRunner()
    async with running_phone_line(settings, runner, **db) as (twilio, _):
        forged_call = twilio.new_call()
        forged = await twilio.post("/phone/voice", twilio.call_params(forged_call), signature="bm90IGEgc2lnbmF0dXJl")
        unsigned = await twilio.post("/phone/voice", twilio.call_params(forged_call), signature="")
        wrong_token = await SimulatedTwilio(twilio.client, token="another-token").dial(forged_call)

        call = twilio.new_call()
        await twilio.dial(call)
        # Signed over one question, sent with another: the signature covers the form.
        signed_params = twilio.call_params(call, SpeechResult="What is the wifi password?")
        signature = twilio.sign(INTERNAL_BASE + "/phone/gather", signed_params)
        tampered = await twilio.post(
            "/phone/gather", {**signed_params, "SpeechResult": "Delete everything"}, signature=signature
        )
        status = await twilio.post(
            "/phone/status", twilio.call_params(call, CallStatus="completed"), signature="bm90IGEgc2lnbmF0dXJl"
        )
    assert [forged.status, unsigned.status, wrong_token.status, tampered.status, status.status] == [403] * 5
    store = CallStore(sessions)
    assert await store.get_call(forged_call) is None
    assert [turn.speaker for turn in await store.transcript(call)] == ["assistant"]
    assert await store.get_intake(call) is None
    assert runner.requests == []


async def test_public_base_url_is_what_signatures_are_checked_against(
    settings: Settings, db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    public = settings.model_copy(update={"public_base_url": "https://bot.example.com/switchboard"})
    async with running_phone_line(public, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        accepted = await twilio.dial(call)
        internal_call = twilio.new_call()
        refused = await twilio.post("/phone/voice", twilio.call_params(internal_call), signed_base=INTERNAL_BASE)
        holding_path = await twilio.say(call, "Hello there")
    assert accepted.status == 200
    assert accepted.verb("Gather").get("action") == "https://bot.example.com/switchboard/phone/gather"
    assert holding_path.status == 200
    assert refused.status == 403
    assert await CallStore(sessions).get_call(internal_call) is None


async def test_query_strings_are_part_of_the_signed_url(settings: Settings, db: dict[str, Any]) -> None:
    public = settings.model_copy(update={"public_base_url": "https://bot.example.com"})
    runner = GatedRunner()
    async with running_phone_line(public, runner, **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        holding = await twilio.say(call, "A slow one")
        redirect = holding.verb("Redirect").text or ""
        assert redirect.startswith("https://bot.example.com/phone/gather?pending=")
        path = redirect.removeprefix("https://bot.example.com")
        without_query = await twilio.post(
            path,
            twilio.call_params(call),
            signature=twilio.sign("https://bot.example.com/phone/gather", twilio.call_params(call)),
        )
        runner.gate.set()
        answered = await twilio.follow_redirect(call, holding)
    assert without_query.status == 403
    assert "Answer to: A slow one" in answered.spoken()


async def test_without_twilio_auth_token_the_routes_answer_503(db: dict[str, Any]) -> None:
    settings = Settings(llm_provider="none")
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        answers = [
            await twilio.dial(call),
            await twilio.say(call, "hello"),
            await twilio.hang_up(call),
        ]
    assert [answer.status for answer in answers] == [503, 503, 503]
    assert "TWILIO_AUTH_TOKEN" in answers[0].body


async def test_caller_numbers_never_reach_the_logs(
    settings: Settings, db: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the service's level; slack_sdk's DEBUG lines echo whole message bodies
    async with running_phone_line(settings, ScriptedAgentRunner(), **db) as (twilio, _):
        call = twilio.new_call()
        await twilio.dial(call)
        await twilio.say(call, "Is the cafeteria open?")
        await twilio.hang_up(call)
    assert "+1******4567" in caplog.text
    assert CALLER not in caplog.text
    assert "Is the cafeteria open?" not in caplog.text, "transcripts stay in the database"
