"""The Twilio voice webhook: ``/phone/voice``, ``/phone/gather`` and ``/phone/status``.

Each request is checked against ``X-Twilio-Signature`` before anything is read or stored. A caller's question
runs through the agent in a background task; if it is not done within ``hold_after_seconds`` the caller hears a
holding phrase and Twilio is redirected back here to pick the answer up, so Twilio's 15-second limit is never hit.
A finished call's intake is queued as a job (``intake_jobs``) and filed by a worker; whatever a crash leaves
unqueued or unposted, ``IntakeJobs.queue_pending`` queues at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from agents import AgentAnswer, AgentRequest, AgentRunner, Asker, CallTurn, ChatModel, PromptStore
from bot.jobs import JobQueue
from bot.phone.caller_numbers import mask_number
from bot.phone.calls import AnswerState, CallStore
from bot.phone.config import PhoneConfig
from bot.phone.errors import PhoneError
from bot.phone.intake import IntakeFiler
from bot.phone.intake_jobs import IntakeJobs
from bot.phone.relay import ConversationRelay, is_handoff
from bot.phone.signature import is_from_twilio, read_form, websocket_url
from bot.phone.spoken_text import to_spoken_text
from bot.phone.twiml import RELAY_PATH, conversation_relay, empty, goodbye, hold, listen, transfer

logger = logging.getLogger(__name__)

TWIML = "text/xml"
PERSONA_PROMPT = "phone_persona"
ESCALATION_WORDS = re.compile(r"\b(agent|human|person|representative)s?\b", re.IGNORECASE)
POLL_SECONDS = 0.2

REPROMPT = "Sorry, I did not catch that. Please say your question again."
CLOSE_AFTER_SILENCE = "I still could not hear you, so I will end the call now. Please call again any time. Goodbye."
CALL_BACK = (
    "Of course. A person from our team will call you back at this number. "
    "If you like, tell me briefly what it is about, or simply hang up."
)
FIRST_HOLD = "One moment while I look that up."
NEXT_HOLD = "Still working on it. Thank you for waiting."
GAVE_UP = (
    "I am sorry, finding that answer is taking too long. I have noted your question so a person can follow up. "
    "Is there anything else I can help with?"
)
FAILED = "I am sorry, I could not find an answer to that just now."
ANYTHING_ELSE = "Is there anything else I can help with?"
TRANSFERRING = "Connecting you with a person now. Please hold."
HANDED_OVER = "The call was transferred to a person."
RELAY_ENDED = "Thank you for calling. Goodbye."
CALL_BACK_GOODBYE = "A person from our team will call you back at this number. Goodbye."


def _twiml(document: str) -> Response:
    return Response(document, media_type=TWIML)


def _wants_person(words: str) -> bool:
    return ESCALATION_WORDS.search(words) is not None


async def _spoken_answer(runner: AgentRunner, request: AgentRequest, transcript: list[CallTurn]) -> AgentAnswer:
    """The fast path's answer whole, for ``<Say>``: the call so far is the transcript before the question's turn."""
    async with contextlib.aclosing(runner.speak(request, transcript[:-1])) as events:
        async for event in events:
            if event.answer is not None:
                return event.answer
    raise PhoneError(f"the agent gave no answer for call {request.thread_id}")


def _no_runtime() -> Response:
    return PlainTextResponse("the phone line has no agent runtime configured", status_code=503)


class PhoneLine:
    """The phone channel: verifies Twilio, keeps call state in the database, asks the agent, files the intake.

    Args:
        config: the phone settings (``PhoneConfig.from_settings``).
        sessions: database sessions for the phone tables.
        runner: the agent runtime; ``None`` while the service runs without one (the routes then answer 503).
        chat_model: the model for intake summaries; ``None`` in retrieval-only mode (plain summaries).
        slack: the Slack Web API client intakes are posted with; ``None`` when Slack is disabled.
        prompts: the versioned prompts; the intake summary uses the live ``intake_summary``.
        queue: the job queue intakes are queued on.
    """

    def __init__(
        self,
        config: PhoneConfig,
        sessions: async_sessionmaker[AsyncSession],
        runner: AgentRunner | None,
        chat_model: ChatModel | None,
        slack: AsyncWebClient | None,
        prompts: PromptStore,
        queue: JobQueue,
    ) -> None:
        self.config = config
        self.store = CallStore(sessions)
        self._runner = runner
        self.intakes = IntakeJobs(
            queue, self.store, IntakeFiler(self.store, chat_model, slack, config.intake_channel, prompts)
        )
        # Agent runs in flight in this process, by answer id: awaited directly when the redirect lands here,
        # polled through the database when it lands on another replica.
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._relay = ConversationRelay(config, self.store, runner, wants_person=_wants_person)

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/phone/voice", self.voice, methods=["POST"]),
            Route("/phone/gather", self.gather, methods=["POST"]),
            Route("/phone/status", self.status, methods=["POST"]),
            WebSocketRoute(RELAY_PATH, self._relay.serve),
            Route("/phone/relay/ended", self.relay_ended, methods=["POST"]),
        ]

    async def aclose(self) -> None:
        """Cancel agent runs still in flight (their callers get the apology on the next redirect elsewhere)."""
        runs = list(self._runs.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    # --- routes ---

    async def voice(self, request: Request) -> Response:
        form = await self._verified_form(request)
        if isinstance(form, Response):
            return form
        if self._runner is None:
            return _no_runtime()
        call_sid = form.get("CallSid", "")
        caller = form.get("From", "")
        await self.store.open_call(call_sid, caller, form.get("To", ""))
        logger.info("incoming call %s from %s", call_sid, mask_number(caller))
        if self.config.voice_mode == "relay":
            # The relay session stores the greeting turn when Twilio connects (Twilio says it from the TwiML).
            return _twiml(conversation_relay(self.config, self._relay_url(request)))
        await self.store.add_turn(call_sid, "assistant", self.config.greeting)
        return _twiml(listen(self.config, self.config.greeting))

    async def relay_ended(self, request: Request) -> Response:
        """The ``<Connect>`` action: a relay session ended; transfer the caller when it ended for a handoff."""
        form = await self._verified_form(request)
        if isinstance(form, Response):
            return form
        call_sid = form.get("CallSid", "")
        if await self.store.get_call(call_sid) is None:
            await self.store.open_call(call_sid, form.get("From", ""), form.get("To", ""))
        if not is_handoff(form.get("HandoffData", "")):
            return _twiml(goodbye(self.config, RELAY_ENDED))
        number = self.config.handoff_number
        if number is None:
            await self.store.add_turn(call_sid, "assistant", CALL_BACK_GOODBYE)
            return _twiml(goodbye(self.config, CALL_BACK_GOODBYE))
        return await self._transfer(call_sid, number)

    async def _transfer(self, call_sid: str, number: str) -> Response:
        """Put the caller through to ``number`` (``<Dial>``), with the handoff in the transcript and the intake."""
        await self.store.record_handoff(call_sid)
        await self.store.add_turn(call_sid, "assistant", f"{TRANSFERRING} {HANDED_OVER}")
        logger.info("call %s handed over to a person", call_sid)
        return _twiml(transfer(self.config, TRANSFERRING, number))

    async def gather(self, request: Request) -> Response:
        form = await self._verified_form(request)
        if isinstance(form, Response):
            return form
        runner = self._runner
        if runner is None:
            return _no_runtime()
        call_sid = form.get("CallSid", "")
        call = await self.store.get_call(call_sid)
        if call is None:
            # Tolerate a call whose /phone/voice went elsewhere (e.g. a number reconfigured mid-call).
            call = await self.store.open_call(call_sid, form.get("From", ""), form.get("To", ""))
        pending = request.query_params.get("pending")
        if pending:
            return await self._pick_up(call_sid, pending)
        speech = form.get("SpeechResult", "").strip()
        if not speech or self._unintelligible(form.get("Confidence")):
            return await self._no_speech(call_sid)
        await self.store.reset_silence(call_sid)
        turn = await self.store.add_turn(call_sid, "caller", speech)
        if _wants_person(speech):
            if self.config.handoff_number is not None:
                return await self._transfer(call_sid, self.config.handoff_number)
            logger.info("caller on %s asked for a person; marking the intake for follow-up", call_sid)
            await self.store.request_follow_up(call_sid)
            return await self._say_and_listen(call_sid, CALL_BACK)
        answer_id = await self.store.start_answer(call_sid, turn)
        request_for_agent = AgentRequest(
            question=speech,
            thread_id=call_sid,
            asker=self._caller(call.caller_number),
            persona_prompt=PERSONA_PROMPT,
        )
        self._runs[answer_id] = asyncio.create_task(self._run_agent(runner, answer_id, request_for_agent))
        return await self._deliver_or_hold(call_sid, answer_id)

    async def status(self, request: Request) -> Response:
        form = await self._verified_form(request)
        if isinstance(form, Response):
            return form
        call_sid = form.get("CallSid", "")
        call_status = form.get("CallStatus", "")
        if call_status != "completed":
            return _twiml(empty())
        if await self.store.get_call(call_sid) is None:
            await self.store.open_call(call_sid, form.get("From", ""), form.get("To", ""))
        await self.store.end_call(call_sid, call_status)
        # Answer Twilio now: a worker files the intake (a slow summary model must not time out the callback). The
        # ended call is in the database, so if this replica dies before queueing, the next start's catch-up does.
        if not await self.intakes.queue_intake(call_sid):
            logger.info("intake for call %s is already queued; ignoring the repeated callback", call_sid)
        return _twiml(empty())

    # --- pieces ---

    async def _verified_form(self, request: Request) -> dict[str, str] | Response:
        """The request's form if it is Twilio's, else the response refusing it (nothing is stored either way)."""
        token = self.config.auth_token
        if token is None:
            return PlainTextResponse("the phone line is disabled: set TWILIO_AUTH_TOKEN", status_code=503)
        form = await read_form(request)
        if not is_from_twilio(request, form, token.get_secret_value(), self.config.public_base_url):
            logger.warning("refused %s: missing or invalid X-Twilio-Signature", request.url.path)
            return PlainTextResponse("invalid Twilio signature", status_code=403)
        if not form.get("CallSid"):
            return PlainTextResponse("CallSid is missing", status_code=400)
        return form

    def _caller(self, number: str) -> Asker:
        return self.config.asker(number)

    def _relay_url(self, request: Request) -> str:
        """``wss://`` + the public host + ``/phone/relay``; from the request's own host without ``PUBLIC_BASE_URL``."""
        base = self.config.public_base_url or str(request.base_url)
        return websocket_url(base, RELAY_PATH)

    def _unintelligible(self, confidence: str | None) -> bool:
        if not confidence:
            return False  # some speech models send no confidence; the words are all there is
        try:
            return float(confidence) < self.config.min_confidence
        except ValueError:
            return False

    async def _no_speech(self, call_sid: str) -> Response:
        silent = await self.store.count_silence(call_sid)
        if silent <= 1:
            return await self._say_and_listen(call_sid, REPROMPT)
        logger.info("call %s: no usable speech twice in a row; closing", call_sid)
        await self.store.add_turn(call_sid, "assistant", CLOSE_AFTER_SILENCE)
        return _twiml(goodbye(self.config, CLOSE_AFTER_SILENCE))

    async def _say_and_listen(self, call_sid: str, text: str) -> Response:
        await self.store.add_turn(call_sid, "assistant", text)
        return _twiml(listen(self.config, text))

    async def _run_agent(self, runner: AgentRunner, answer_id: str, request: AgentRequest) -> None:
        """The agent run behind one question; its result goes to the database for whichever request picks it up."""
        try:
            answer = await _spoken_answer(runner, request, await self.store.transcript(request.thread_id))
            spoken = to_spoken_text(
                answer.text, answer.citations, max_chars=self.config.max_spoken_chars, language=self.config.language
            )
            await self.store.finish_answer(
                answer_id, spoken_text=spoken or FAILED, trace_id=answer.trace_id, failed=not spoken
            )
        except asyncio.CancelledError:
            await self.store.finish_answer(answer_id, spoken_text=FAILED, trace_id=None, failed=True)
            raise
        except Exception:
            # The edge of a background run: the caller hears an apology, the log gets the traceback.
            logger.exception("agent run for call %s failed", request.thread_id)
            await self.store.finish_answer(answer_id, spoken_text=FAILED, trace_id=None, failed=True)
        finally:
            self._runs.pop(answer_id, None)

    async def _wait_for_answer(self, answer_id: str) -> AnswerState | None:
        """Wait up to ``hold_after_seconds`` for the answer, in process when the run is here, else via the database."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.hold_after_seconds
        run = self._runs.get(answer_id)
        if run is not None:
            await asyncio.wait({run}, timeout=self.config.hold_after_seconds)
        while True:
            state = await self.store.answer_state(answer_id)
            if state is None or state.finished or loop.time() >= deadline:
                return state
            await asyncio.sleep(min(POLL_SECONDS, max(deadline - loop.time(), 0)))

    async def _deliver_or_hold(self, call_sid: str, answer_id: str) -> Response:
        state = await self._wait_for_answer(answer_id)
        if state is not None and state.state in ("ready", "failed"):
            if await self.store.close_answer(answer_id, "delivered"):
                return await self._say_and_listen(call_sid, f"{state.spoken_text or FAILED} {ANYTHING_ELSE}")
            return _twiml(listen(self.config, ANYTHING_ELSE))
        if state is None or state.state != "running":
            # Already delivered or abandoned by an earlier request (e.g. Twilio repeated the redirect).
            return _twiml(listen(self.config, ANYTHING_ELSE))
        holds = await self.store.count_hold(answer_id)
        if holds > self.config.max_holds:
            await self.store.close_answer(answer_id, "abandoned")
            await self.store.request_follow_up(call_sid)
            logger.warning("call %s: the agent took too long; the caller was told a person will follow up", call_sid)
            return await self._say_and_listen(call_sid, GAVE_UP)
        return _twiml(hold(self.config, FIRST_HOLD if holds == 1 else NEXT_HOLD, answer_id))

    async def _pick_up(self, call_sid: str, answer_id: str) -> Response:
        state = await self.store.answer_state(answer_id)
        if state is None or state.call_sid != call_sid:
            logger.warning("call %s redirected for an answer it does not own; listening again", call_sid)
            return _twiml(listen(self.config, ANYTHING_ELSE))
        return await self._deliver_or_hold(call_sid, answer_id)
