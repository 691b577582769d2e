"""Twilio ConversationRelay: the caller's words arrive over a WebSocket, the answer goes back as streamed text.

Twilio does speech-to-text and text-to-speech; this side speaks its documented protocol. In: ``setup``, ``prompt``,
``interrupt``, ``dtmf``, ``error``. Out: ``text`` tokens as the model writes them (the answer's last with
``last: true``) and ``end`` with handoff data when the caller wants a person. The handshake's
``X-Twilio-Signature`` is checked before the socket is accepted, so a forged connection stores nothing. Call state
lives in the same tables as the Gather flow's, so the intake is filed the same way when the call ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket

from agents import AgentAnswer, AgentRequest, AgentRunner, Asker
from bot.phone.caller_numbers import mask_number
from bot.phone.calls import CallStore
from bot.phone.config import PhoneConfig
from bot.phone.signature import is_handshake_from_twilio
from bot.phone.spoken_text import SpokenStream, named_sources

logger = logging.getLogger(__name__)

PERSONA_PROMPT = "phone_persona"
HANDOFF_REASON_CODE = "live-agent-handoff"
# What a stored answer turn says after the part the caller heard, when they cut it off.
INTERRUPTED_MARK = "[the caller interrupted here]"
# Most words one prompt may carry to the model: a minute of fast speech is about 200 words.
MAX_PROMPT_CHARS = 2_000
SPOKEN_FAILURE = "I am sorry, I could not find an answer to that just now. Is there anything else I can help with?"
# Close codes (RFC 6455): policy violation, message too big.
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class SetupMessage(_Message):
    type: Literal["setup"]
    call_sid: str = Field(alias="callSid", min_length=1, max_length=64)
    caller: str = Field(default="", alias="from", max_length=64)
    called: str = Field(default="", alias="to", max_length=64)


class PromptMessage(_Message):
    type: Literal["prompt"]
    voice_prompt: str = Field(default="", alias="voicePrompt")
    last: bool = True


class InterruptMessage(_Message):
    type: Literal["interrupt"]
    utterance_until_interrupt: str = Field(default="", alias="utteranceUntilInterrupt", max_length=8_000)


class DtmfMessage(_Message):
    type: Literal["dtmf"]
    digit: str = Field(default="", max_length=1)


class ErrorMessage(_Message):
    type: Literal["error"]
    description: str = Field(default="", max_length=2_000)


RelayMessage = Annotated[
    SetupMessage | PromptMessage | InterruptMessage | DtmfMessage | ErrorMessage, Field(discriminator="type")
]
_MESSAGES: TypeAdapter[RelayMessage] = TypeAdapter(RelayMessage)


class ConversationRelay:
    """The ``/phone/relay`` WebSocket endpoint: one ``RelayCall`` per connection."""

    def __init__(
        self, config: PhoneConfig, store: CallStore, runner: AgentRunner | None, wants_person: Callable[[str], bool]
    ) -> None:
        self.config = config
        self.store = store
        self._runner = runner
        self._wants_person = wants_person

    async def serve(self, websocket: WebSocket) -> None:
        token = self.config.auth_token
        if token is None:
            await _refuse(websocket, 503, "the phone line is disabled: set TWILIO_AUTH_TOKEN")
            return
        if not is_handshake_from_twilio(websocket, token.get_secret_value(), self.config.public_base_url):
            logger.warning("refused a ConversationRelay handshake: missing or invalid X-Twilio-Signature")
            await _refuse(websocket, 403, "invalid Twilio signature")
            return
        if self._runner is None:
            await _refuse(websocket, 503, "the phone line has no agent runtime configured")
            return
        await websocket.accept()
        await RelayCall(websocket, self.config, self.store, self._runner, self._wants_person).run()


async def _refuse(websocket: WebSocket, status: int, text: str) -> None:
    """An HTTP answer to the handshake where the server can send one; a close before accepting otherwise."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(PlainTextResponse(text, status_code=status))
    else:
        await websocket.close(code=CLOSE_POLICY)


class RelayCall:
    """One ConversationRelay session: reads Twilio's messages and streams answers back, one at a time.

    The answer runs in its own task so an ``interrupt`` (or a new prompt) is read while it speaks and stops it at
    once; what the caller actually heard replaces the answer in the transcript, so the next prompt has that context.
    """

    def __init__(
        self,
        websocket: WebSocket,
        config: PhoneConfig,
        store: CallStore,
        runner: AgentRunner,
        wants_person: Callable[[str], bool],
    ) -> None:
        self._websocket = websocket
        self._config = config
        self._store = store
        self._runner = runner
        self._wants_person = wants_person
        self._call_sid: str | None = None
        self._asker: Asker | None = None
        self._partial_prompt = ""
        self._speaking: asyncio.Task[None] | None = None
        # The stored turn of the latest answer, once it is fully sent (Twilio may still be saying it).
        self._answer_turn: int | None = None
        self._send_lock = asyncio.Lock()

    async def run(self) -> None:
        try:
            while True:
                message = await self._websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    continue  # ConversationRelay sends text frames only
                if len(text.encode("utf-8")) > self._config.relay_max_message_bytes:
                    logger.warning("closing relay for call %s: a message over the size limit", self._call_sid)
                    await self._websocket.close(code=CLOSE_TOO_BIG)
                    break
                try:
                    parsed = _MESSAGES.validate_json(text)
                except ValidationError as error:
                    logger.warning("ignored a ConversationRelay message it cannot read: %s", error.errors()[:1])
                    continue
                if not await self._handle(parsed):
                    break
        finally:
            await self._stop_speaking(heard=None)

    async def _handle(self, message: RelayMessage) -> bool:
        """Act on one message; False ends the session."""
        if isinstance(message, SetupMessage):
            return await self._setup(message)
        if self._call_sid is None:
            logger.warning("closing relay: a %s message came before setup", message.type)
            await self._websocket.close(code=CLOSE_POLICY)
            return False
        if isinstance(message, PromptMessage):
            return await self._prompt(message)
        if isinstance(message, InterruptMessage):
            await self._stop_speaking(heard=message.utterance_until_interrupt)
            return True
        if isinstance(message, DtmfMessage):
            if message.digit == self._config.handoff_digit:
                return await self._hand_off(self._call_sid, "the caller pressed the key for a person")
            return True
        logger.warning("ConversationRelay reported an error on call %s: %s", self._call_sid, message.description)
        return True

    async def _setup(self, message: SetupMessage) -> bool:
        if self._call_sid is not None:
            return True  # one setup per session; a repeat changes nothing
        self._call_sid = message.call_sid
        self._asker = self._config.asker(message.caller)
        await self._store.open_call(message.call_sid, message.caller, message.called)
        logger.info("relay session for call %s from %s", message.call_sid, mask_number(message.caller))
        # Twilio says the welcome greeting from the TwiML itself.
        await self._store.add_turn(message.call_sid, "assistant", self._config.greeting)
        return True

    async def _prompt(self, message: PromptMessage) -> bool:
        self._partial_prompt = (self._partial_prompt + " " + message.voice_prompt)[-MAX_PROMPT_CHARS:]
        if not message.last:
            return True
        words, self._partial_prompt = " ".join(self._partial_prompt.split()), ""
        if not words:
            return True
        call_sid, asker = self._call_sid, self._asker
        if call_sid is None or asker is None:
            return False
        # A new prompt while an answer is still streaming means the caller moved on.
        await self._stop_speaking(heard=None)
        await self._store.add_turn(call_sid, "caller", words)
        if self._wants_person(words):
            return await self._hand_off(call_sid, "the caller asked for a person")
        self._answer_turn = None
        self._speaking = asyncio.create_task(self._speak(call_sid, asker, words), name=f"phone-relay-{call_sid}")
        return True

    async def _speak(self, call_sid: str, asker: Asker, question: str) -> None:
        """Stream one answer to Twilio; the edge of its task, so a failure is logged here and apologised for."""
        earlier = (await self._store.transcript(call_sid))[:-1]
        request = AgentRequest(question=question, thread_id=call_sid, asker=asker, persona_prompt=PERSONA_PROMPT)
        spoken = SpokenStream(self._config.language)
        said: list[str] = []
        answer: AgentAnswer | None = None
        try:
            async with contextlib.aclosing(self._runner.speak(request, earlier)) as events:
                async for event in events:
                    if event.answer is not None:
                        answer = event.answer
                    piece = spoken.feed(event.delta) if event.delta else ""
                    if piece and sum(map(len, said)) < self._config.max_spoken_chars:
                        said.append(piece)
                        await self._send_text(piece, last=False)
            tail = spoken.flush()
            sources = named_sources(answer.citations) if answer is not None else ""
            tail = " ".join(part for part in (tail.strip(), sources) if part)
            if tail and said:
                tail = " " + tail
            said.append(tail)
        except Exception:
            logger.exception("spoken answer for call %s failed", call_sid)
            said, tail = [SPOKEN_FAILURE], SPOKEN_FAILURE
        # Stored before the last token goes out: once Twilio has it, the caller may hang up at any moment.
        self._answer_turn = await self._store.add_turn(call_sid, "assistant", "".join(said).strip())
        await self._send_text(tail, last=True)

    async def _stop_speaking(self, heard: str | None) -> None:
        """Stop the answer now (no token goes out after this returns) and record what the caller heard of it."""
        task, self._speaking = self._speaking, None
        call_sid = self._call_sid
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            if call_sid is not None and heard is not None:
                await self._store.add_turn(call_sid, "assistant", f"{heard.strip()} {INTERRUPTED_MARK}".strip())
            return
        if task is not None:
            await task  # finished: surfaces nothing (its edge logs failures) but keeps the turn it stored in order
        if heard is not None and call_sid is not None and self._answer_turn is not None:
            # The answer was all sent but Twilio was still saying it: keep only what was heard.
            await self._store.revise_turn(call_sid, self._answer_turn, f"{heard.strip()} {INTERRUPTED_MARK}".strip())
            self._answer_turn = None

    async def _hand_off(self, call_sid: str, reason: str) -> bool:
        """End the session with handoff data; Twilio then posts to the ``<Connect>`` action, which transfers."""
        await self._stop_speaking(heard=None)
        await self._store.request_follow_up(call_sid)
        logger.info("call %s: %s; ending the relay for a handoff", call_sid, reason)
        handoff = {"reasonCode": HANDOFF_REASON_CODE, "reason": reason}
        async with self._send_lock:
            await self._websocket.send_text(json.dumps({"type": "end", "handoffData": json.dumps(handoff)}))
        return False

    async def _send_text(self, token: str, *, last: bool) -> None:
        async with self._send_lock:
            await self._websocket.send_text(json.dumps({"type": "text", "token": token, "last": last}))


def is_handoff(handoff_data: str) -> bool:
    """Whether the ``HandoffData`` Twilio posts back to the ``<Connect>`` action is this relay's handoff."""
    try:
        data = json.loads(handoff_data)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("reasonCode") == HANDOFF_REASON_CODE
