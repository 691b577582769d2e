"""The phone line in ConversationRelay mode, driven by a real WebSocket client speaking Twilio's messages."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agents import AgentRequest, CallTurn, PromptStore, VoiceEvent
from bot import Service, create_app
from bot.phone import CallStore, PhoneConfig, PhoneLine
from bot.settings import Settings
from knowledge import create_embedder
from testing_support.agent_runner import ScriptedAgentRunner
from tests.bot.phone_calls import CALLER, LINE, TOKEN, SimulatedTwilio, TwiML
from tests.fakes.http_server import free_port

DEADLINE = 10.0


class EndlessRunner(ScriptedAgentRunner):
    """An answer that never ends on its own: a caller must interrupt it. Records when its stream is closed."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = asyncio.Event()

    async def speak(self, request: AgentRequest, earlier: Sequence[CallTurn] = ()) -> AsyncGenerator[VoiceEvent, None]:
        self.requests.append(request)
        self.earlier.append(list(earlier))
        if request.question.startswith("And"):
            async for event in super().speak(request, earlier):
                yield event
            return
        try:
            count = 0
            while True:
                count += 1
                yield VoiceEvent(delta=f"word{count} ")
                await asyncio.sleep(0.01)  # the model's own pace, not a synchronisation
        finally:
            self.closed.set()


@asynccontextmanager
async def serving(
    runner: ScriptedAgentRunner, db: dict[str, Any], **overrides: Any
) -> AsyncIterator[tuple[str, PhoneLine]]:
    """The service's app on a loopback port, in this test's event loop (the database engine lives here)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    values: dict[str, Any] = {
        "twilio_auth_token": TOKEN,
        "llm_provider": "none",
        "public_base_url": base,
        "phone_voice_mode": "relay",
        **overrides,
    }
    settings = Settings(**values)
    service = Service(settings=settings, chat_model=None, embedder=create_embedder(settings.embeddings), **db)
    line = PhoneLine(
        PhoneConfig.from_settings(settings),
        db["sessions"],
        runner=runner,
        chat_model=None,
        slack=None,
        prompts=PromptStore(db["sessions"]),
        queue=service.queue,
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(service, extra_routes=line.routes()), port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(DEADLINE):
        while not server.started:  # noqa: ASYNC110 - uvicorn has no started event; a polled condition, deadline above
            await asyncio.sleep(0.01)
    try:
        yield base, line
    finally:
        server.should_exit = True
        await task
        await line.aclose()


def relay_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/phone/relay"


@asynccontextmanager
async def relay(base: str, signature: str | None = None) -> AsyncIterator[ClientConnection]:
    url = relay_url(base)
    signature = RequestValidator(TOKEN).compute_signature(url, {}) if signature is None else signature
    async with connect(url, additional_headers={"X-Twilio-Signature": signature}) as socket:
        yield socket


async def send(socket: ClientConnection, **message: Any) -> None:
    await socket.send(json.dumps(message))


async def receive(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(DEADLINE):
        return dict(json.loads(await socket.recv()))


async def answer_tokens(socket: ClientConnection) -> list[dict[str, Any]]:
    """Text messages up to and including the one with ``last: true``."""
    tokens = []
    while True:
        message = await receive(socket)
        assert message["type"] == "text"
        tokens.append(message)
        if message["last"]:
            return tokens


def setup_message(call_sid: str) -> dict[str, Any]:
    return {
        "type": "setup",
        "sessionId": "VX" + call_sid[2:],
        "callSid": call_sid,
        "from": CALLER,
        "to": LINE,
        "direction": "inbound",
        "customParameters": {},
    }


def prompt(words: str) -> dict[str, Any]:
    return {"type": "prompt", "voicePrompt": words, "lang": "en-US", "last": True}


@pytest.fixture
def db(database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    return {"database_url": database_url, "engine": engine, "sessions": sessions}


async def test_incoming_call_connects_to_conversation_relay_with_the_public_wss_url(db: dict[str, Any]) -> None:
    async with serving(ScriptedAgentRunner(), db) as (base, _), httpx.AsyncClient(base_url=base) as client:
        twiml = await SimulatedTwilio(client, public_base=base).dial("CA" + "1" * 32)
    assert twiml.names() == ["Connect"]
    connect_verb = twiml.verb("Connect")
    assert connect_verb.get("action") == base + "/phone/relay/ended"
    relay_verb = connect_verb.find("ConversationRelay")
    assert relay_verb is not None and relay_verb.get("url") == relay_url(base)
    assert "Switchboard" in (relay_verb.get("welcomeGreeting") or "")


async def test_a_forged_handshake_is_refused_and_nothing_is_stored(
    db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    call = "CA" + "2" * 32
    async with serving(ScriptedAgentRunner(), db) as (base, _):
        forged = RequestValidator("not-the-token").compute_signature(relay_url(base), {})
        with pytest.raises(InvalidStatus) as refused:
            async with relay(base, signature=forged) as socket:
                await send(socket, **setup_message(call))
        with pytest.raises(InvalidStatus) as unsigned:
            async with relay(base, signature=""):
                pass
    assert refused.value.response.status_code == 403
    assert unsigned.value.response.status_code == 403
    assert await CallStore(sessions).get_call(call) is None


async def test_a_prompt_is_answered_in_streamed_tokens_ending_with_last(
    db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    call = "CA" + "3" * 32
    runner = ScriptedAgentRunner()
    async with serving(runner, db) as (base, _), relay(base) as socket:
        await send(socket, **setup_message(call))
        await send(socket, **prompt("How many vacation days do I get?"))
        tokens = await answer_tokens(socket)
    assert len(tokens) > 3, "the answer arrives word by word, not as one message"
    assert [t["last"] for t in tokens] == [False] * (len(tokens) - 1) + [True]
    spoken = "".join(t["token"] for t in tokens)
    assert spoken == "Answer to: How many vacation days do I get? Source: Handbook."
    assert runner.requests[0].thread_id == call
    assert runner.requests[0].asker.long_term_memory is False, "an unmapped caller stays anonymous"
    transcript = await CallStore(sessions).transcript(call)
    assert [turn.speaker for turn in transcript] == ["assistant", "caller", "assistant"]
    assert transcript[-1].text == spoken


async def test_an_interrupt_stops_the_answer_at_once_and_the_next_prompt_knows_what_was_heard(
    db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    call = "CA" + "4" * 32
    runner = EndlessRunner()
    async with serving(runner, db) as (base, _), relay(base) as socket:
        await send(socket, **setup_message(call))
        await send(socket, **prompt("Tell me everything about the handbook"))
        first = await receive(socket)
        assert first["type"] == "text" and not first["last"]
        await send(socket, type="interrupt", utteranceUntilInterrupt="word1 word2", durationUntilInterruptMs="460")
        async with asyncio.timeout(DEADLINE):
            await runner.closed.wait()
        await send(socket, **prompt("And how do I book them?"))
        # Anything the old answer sent after the interrupt would arrive before the new answer's tokens.
        while (message := await receive(socket))["token"].startswith(("word", " word")):
            assert message["type"] == "text"
        after = [message, *([] if message["last"] else await answer_tokens(socket))]
    assert "".join(t["token"] for t in after).startswith("Answer to: And how do I book them?")
    heard = "word1 word2 [the caller interrupted here]"
    assert [turn.text for turn in runner.earlier[1]][-1] == heard
    transcript = await CallStore(sessions).transcript(call)
    assert [turn.text for turn in transcript][2] == heard


async def test_asking_for_a_person_ends_the_relay_with_handoff_data_and_transfers_the_call(
    db: dict[str, Any], sessions: async_sessionmaker[AsyncSession]
) -> None:
    call = "CA" + "5" * 32
    runner = ScriptedAgentRunner()
    async with serving(runner, db, phone_handoff_number="+15550001111") as (base, _):
        async with relay(base) as socket:
            await send(socket, **setup_message(call))
            await send(socket, **prompt("Let me talk to a person please"))
            ended = await receive(socket)
        async with httpx.AsyncClient(base_url=base) as client:
            twilio = SimulatedTwilio(client, public_base=base)
            params = twilio.call_params(call, HandoffData=ended["handoffData"], SessionStatus="ended")
            after: TwiML = await twilio.post("/phone/relay/ended", params)
            forged = await twilio.post("/phone/relay/ended", params, signature="forged")
    assert ended["type"] == "end"
    assert json.loads(ended["handoffData"])["reasonCode"] == "live-agent-handoff"
    assert runner.requests == [], "a handoff does not ask the agent"
    assert after.names() == ["Say", "Dial"]
    assert (after.verb("Dial").text or "").strip() == "+15550001111"
    assert forged.status == 403
    store = CallStore(sessions)
    stored = await store.get_call(call)
    assert stored is not None and stored.follow_up_requested and stored.handed_over_at is not None
    said = [turn.text for turn in await store.transcript(call)]
    assert said[1] == "Let me talk to a person please"
    assert "transferred to a person" in said[-1]


async def test_the_handoff_key_hands_off_too(db: dict[str, Any]) -> None:
    async with serving(ScriptedAgentRunner(), db) as (base, _), relay(base) as socket:
        await send(socket, **setup_message("CA" + "6" * 32))
        await send(socket, type="dtmf", digit="0")
        ended = await receive(socket)
    assert ended["type"] == "end"


async def test_an_oversized_message_closes_the_session(db: dict[str, Any]) -> None:
    async with serving(ScriptedAgentRunner(), db) as (base, _), relay(base) as socket:
        await send(socket, **setup_message("CA" + "7" * 32))
        await send(socket, **prompt("x" * 20_000))
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
