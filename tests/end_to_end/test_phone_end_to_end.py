"""The phone line as a caller meets it: a signed call whose question the real agent answers from the synced wiki
in speakable words, then one intake note written by the live ``intake_summary`` prompt and posted to Slack."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from agents.prompts import SEED_DIRECTORY
from bot.phone import CallStore, caller_user_id
from tests.agents.conftest import role_of
from tests.bot.phone_calls import CALLER, SimulatedTwilio, TwiML
from tests.bot.slack_runtime_harness import RuntimeSlack
from tests.end_to_end.conftest import (
    CODE_WORD,
    INTAKE_CHANNEL,
    INTAKE_SYSTEM,
    SECURITY_USER,
    model_saw,
    reading_model,
    running_switchboard,
)
from tests.fakes.scripted_model import Responder, ScriptedModelServer, ScriptedReply, ScriptedToolCall
from tests.fakes.slack_api import FakeSlackApi

PERSONA = (SEED_DIRECTORY / "phone_persona.md").read_text(encoding="utf-8").strip()
EDITED_INTAKE = (SEED_DIRECTORY / "intake_summary.md").read_text(encoding="utf-8").strip() + (
    "\nKeep the reason under twenty words."
)
INTAKE = {
    "caller_name": "Dana Whitfield",
    "reason": "Needs to rotate her VPN certificate.",
    "details": "Asked how to rotate the VPN certificate; was told the command.",
    "urgency": "normal",
    "promised": "",
    "follow_up": False,
}


async def _answer(twilio: SimulatedTwilio, call: str, said: TwiML) -> TwiML:
    """Follow holding redirects until the answer is spoken, as Twilio does."""
    while "Redirect" in said.names():
        said = await twilio.follow_redirect(call, said)
    return said


async def test_a_call_is_answered_from_the_wiki_aloud_and_filed_once_as_an_intake(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    # An editor changed the intake prompt: the call is filed with the live version, not the seed.
    edited = await switchboard.run_command("/prompt", f"set intake_summary {EDITED_INTAKE}", user="UEDITOR")
    assert "`intake_summary` v2 is live" in edited
    scripted_model.responder = reading_model(intake=INTAKE)
    twilio = SimulatedTwilio(switchboard.http, public_base=str(switchboard.http.base_url).rstrip("/"))
    call = twilio.new_call()

    greeting = await twilio.dial(call)
    assert greeting.status == 200 and greeting.names() == ["Gather"]
    answer = await _answer(twilio, call, await twilio.say(call, "How do I rotate the VPN certificate?"))
    spoken = answer.spoken()
    assert answer.status == 200 and answer.names() == ["Gather"]
    assert "nwvpn cert renew" in spoken and "VPN certificate rotation" in spoken  # the answer and its source page
    for url_part in ("http", "wiki.northwind", ".md", "[1]"):
        assert url_part not in spoken
    acts = [r for r in scripted_model.requests if "messages" in r and r["messages"][0]["content"].startswith(PERSONA)]
    assert acts, "the phone_persona prompt was the system prompt the model answered under"

    # A caller is anonymous: the security group's runbook is never read to them.
    scripted_model.requests.clear()
    restricted = await _answer(
        twilio, call, await twilio.say(call, "What code word do I give during a security incident?")
    )
    assert restricted.status == 200 and CODE_WORD not in restricted.spoken()
    assert not model_saw(scripted_model, CODE_WORD)

    ended = await twilio.hang_up(call)
    again = await twilio.hang_up(call)  # Twilio retries a status callback it thinks failed
    assert ended.status == again.status == 200
    # Twilio was answered at once; the intake is filed in the background.
    await switchboard.settle()

    intake_requests = [
        r for r in scripted_model.requests if "messages" in r and r["messages"][0]["content"].startswith(INTAKE_SYSTEM)
    ]
    assert len(intake_requests) == 1
    assert intake_requests[0]["messages"][0]["content"].startswith(EDITED_INTAKE)
    assert "How do I rotate the VPN certificate?" in json.dumps(intake_requests[0]["messages"])
    intake = await CallStore(switchboard.service.sessions).get_intake(call)
    assert intake is not None and intake.summary_mode == "model"
    assert intake.caller_name == "Dana Whitfield" and intake.reason == INTAKE["reason"]
    posts = [p for p in switchboard.slack.posted(INTAKE_CHANNEL) if call in json.dumps(p)]
    assert len(posts) == 1
    assert "Dana Whitfield" in json.dumps(posts[0]) and INTAKE["reason"] in json.dumps(posts[0])


BADGE_FACT = "my badge number is 4711"  # the caller's own words: remember keeps nothing else


def remembering_model() -> Responder:
    """The reading model, except that a question asking to remember something calls the ``remember`` tool."""
    reading = reading_model()

    def respond(body: dict[str, Any]) -> ScriptedReply:
        messages = body["messages"]
        asked = next((str(m["content"]) for m in reversed(messages) if m["role"] == "user"), "")
        if role_of(body) == "act" and asked.startswith("Remember"):
            if any(m["role"] == "tool" for m in messages):
                return ScriptedReply(text="I will keep that in mind.")
            return ScriptedReply(tool_calls=[ScriptedToolCall(name="remember", arguments={"text": BADGE_FACT})])
        return reading(body)

    return respond


async def _two_calls_from_the_same_number(switchboard: RuntimeSlack, scripted_model: ScriptedModelServer) -> str:
    """A first call asks to remember the badge number; a second call from the same number asks for it (and for
    the restricted runbook's code word). Returns what the second call heard."""
    scripted_model.responder = remembering_model()
    twilio = SimulatedTwilio(switchboard.http, public_base=str(switchboard.http.base_url).rstrip("/"))
    first = twilio.new_call()
    await twilio.dial(first)
    await _answer(twilio, first, await twilio.say(first, "Remember that my badge number is 4711."))
    await twilio.hang_up(first)
    await switchboard.settle()  # its summary saw the transcript

    scripted_model.requests.clear()
    second = twilio.new_call()
    await twilio.dial(second)
    heard = await _answer(twilio, second, await twilio.say(second, "What is my badge number?"))
    code = await _answer(
        twilio, second, await twilio.say(second, "What code word do I give during a security incident?")
    )
    await twilio.hang_up(second)
    await switchboard.settle()
    return heard.spoken() + " " + code.spoken()


async def test_a_caller_id_alone_neither_saves_nor_recalls_long_term_memories(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    await _two_calls_from_the_same_number(switchboard, scripted_model)

    memory = switchboard.service.runner.memory
    assert memory is not None
    assert await memory.list_memories(workspace_id="default", user_id=caller_user_id(CALLER)) == []
    assert not model_saw(scripted_model, "4711")  # nothing of the first call reached the second
    assert not model_saw(scripted_model, CODE_WORD)


async def test_a_verified_number_gets_its_person_s_memories_and_permissions(
    slack_api: FakeSlackApi, scripted_model: ScriptedModelServer, database_url: str, wiki: Path
) -> None:
    verified = {"phone_verified_callers": {CALLER: SECURITY_USER}}
    async with running_switchboard(slack_api, scripted_model, database_url, wiki, **verified) as switchboard:
        second_call = await _two_calls_from_the_same_number(switchboard, scripted_model)
        memory = switchboard.service.runner.memory
        assert memory is not None
        kept = await memory.list_memories(workspace_id="default", user_id=SECURITY_USER)

    assert [m.text for m in kept] == [BADGE_FACT]
    systems = [str(r["messages"][0]["content"]) for r in scripted_model.requests if "messages" in r]
    assert any(f"<memory>{BADGE_FACT}</memory>" in system for system in systems)
    assert CODE_WORD in second_call  # the security group's runbook, read to its member


SLOW_MODEL_SECONDS = 12.0  # a large model on a busy endpoint, per reply
TWILIO_WEBHOOK_LIMIT_SECONDS = 15.0  # Twilio gives up on a webhook after this long, connect included
CALLER_PATIENCE_SECONDS = 60.0  # about as long as a caller reasonably holds


def slowed(responder: Responder, seconds: float) -> Responder:
    """The same model, taking ``seconds`` before it answers anything."""

    def respond(body: dict[str, Any]) -> ScriptedReply:
        return responder(body).model_copy(update={"delay_seconds": seconds})

    return respond


async def test_a_twelve_second_model_is_heard_in_gather_mode_not_an_apology(
    switchboard: RuntimeSlack, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = slowed(reading_model(), SLOW_MODEL_SECONDS)
    twilio = SimulatedTwilio(switchboard.http, public_base=str(switchboard.http.base_url).rstrip("/"))
    call = twilio.new_call()
    await twilio.dial(call)
    loop = asyncio.get_running_loop()
    asked_at = loop.time()
    webhook_seconds: list[float] = []

    started = loop.time()
    said = await twilio.say(call, "How do I rotate the VPN certificate?")
    webhook_seconds.append(loop.time() - started)
    while "Redirect" in said.names():  # Twilio follows each holding redirect at once
        started = loop.time()
        said = await twilio.follow_redirect(call, said)
        webhook_seconds.append(loop.time() - started)
    heard_after = loop.time() - asked_at

    assert max(webhook_seconds) < TWILIO_WEBHOOK_LIMIT_SECONDS, webhook_seconds
    assert heard_after < CALLER_PATIENCE_SECONDS
    assert len(webhook_seconds) >= 2, "a 12 s answer needs a holding phrase first"
    assert "nwvpn cert renew" in said.spoken() and "sorry" not in said.spoken().lower()
    chat_calls = [r for r in scripted_model.requests if "messages" in r]
    assert len(chat_calls) == 1, "the voice fast path makes one model call where chat makes three"
