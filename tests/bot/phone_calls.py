"""A simulated Twilio for the phone tests: signs each request with the twilio library, reads the TwiML back."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from agents import AgentRunner, PromptStore, create_chat_model
from bot import Service, Settings, create_app, create_slack_client
from bot.phone import PhoneConfig, PhoneLine
from tests.bot.job_harness import settle, working_jobs
from tests.fakes.scripted_model import ScriptedModelServer
from tests.fakes.slack_api import FakeSlackApi

TOKEN = "twilio-test-auth-token"
INTERNAL_BASE = "http://testserver"
CALLER = "+15551234567"
LINE = "+15557654321"

# What the intake-summary model answers in the phone tests.
INTAKE_JSON = {
    "caller_name": "Dana Whitfield",
    "reason": "Wants to know her vacation allowance and how to book it.",
    "details": "Asked how many vacation days she gets and how to request them.",
    "urgency": "normal",
    "promised": "",
    "follow_up": False,
}


@dataclass
class TwiML:
    """A parsed TwiML answer: the verbs in order, with their attributes and spoken text."""

    status: int
    content_type: str
    body: str
    verbs: list[ElementTree.Element] = field(default_factory=list)

    @classmethod
    def parse(cls, response: httpx.Response) -> TwiML:
        verbs: list[ElementTree.Element] = []
        if response.status_code == 200:
            root = ElementTree.fromstring(response.text)  # noqa: S314 - our own service's output
            verbs = list(root)
        return cls(response.status_code, response.headers.get("content-type", ""), response.text, verbs)

    def names(self) -> list[str]:
        return [verb.tag for verb in self.verbs]

    def spoken(self) -> str:
        """Everything the caller hears, in order (``<Say>`` at top level and inside ``<Gather>``)."""
        return " ".join((say.text or "") for verb in self.verbs for say in verb.iter("Say"))

    def verb(self, name: str) -> ElementTree.Element:
        return next(verb for verb in self.verbs if verb.tag == name)


class SimulatedTwilio:
    """Posts like Twilio does: form-encoded, signed over the URL Twilio believes it called."""

    def __init__(self, client: httpx.AsyncClient, token: str = TOKEN, public_base: str = INTERNAL_BASE) -> None:
        self.client = client
        self.token = token
        self.public_base = public_base

    def sign(self, url: str, params: dict[str, str]) -> str:
        return str(RequestValidator(self.token).compute_signature(url, params))

    def new_call(self) -> str:
        return "CA" + uuid.uuid4().hex

    async def post(
        self, path: str, params: dict[str, str], *, signed_base: str | None = None, signature: str | None = None
    ) -> TwiML:
        url = (signed_base or self.public_base) + path
        headers: dict[str, Any] = {}
        if signature is None:
            signature = self.sign(url, params)
        if signature:
            headers["X-Twilio-Signature"] = signature
        response = await self.client.post(path, data=params, headers=headers)
        return TwiML.parse(response)

    def call_params(self, call_sid: str, **extra: str) -> dict[str, str]:
        return {"CallSid": call_sid, "From": CALLER, "To": LINE, "AccountSid": "AC" + "0" * 32, **extra}

    async def dial(self, call_sid: str) -> TwiML:
        return await self.post("/phone/voice", self.call_params(call_sid, CallStatus="ringing"))

    async def say(self, call_sid: str, speech: str, confidence: str = "0.92") -> TwiML:
        params = self.call_params(call_sid, CallStatus="in-progress", SpeechResult=speech, Confidence=confidence)
        return await self.post("/phone/gather", params)

    async def follow_redirect(self, call_sid: str, twiml: TwiML) -> TwiML:
        target = twiml.verb("Redirect").text or ""
        path = target.removeprefix(self.public_base)
        return await self.post(path, self.call_params(call_sid, CallStatus="in-progress"))

    async def hang_up(self, call_sid: str) -> TwiML:
        return await self.post("/phone/status", self.call_params(call_sid, CallStatus="completed", CallDuration="42"))


@asynccontextmanager
async def running_phone_line(
    settings: Settings,
    runner: AgentRunner | None,
    *,
    database_url: str,
    engine: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    work_jobs: bool = True,
) -> AsyncIterator[tuple[SimulatedTwilio, PhoneLine]]:
    """The phone routes mounted in the service's one app, as ``switchboard serve`` does, behind a simulated Twilio,
    with a job worker filing and posting intakes (unless ``work_jobs`` is False: the test runs its own)."""
    chat_model = create_chat_model(settings.chat_model)
    service = Service.on_database(settings, database_url, engine, chat_model=chat_model)
    await service.queue.open()
    line = PhoneLine(
        PhoneConfig.from_settings(settings),
        sessions,
        runner=runner,
        chat_model=chat_model,
        slack=create_slack_client(settings),
        prompts=PromptStore(sessions),
        queue=service.queue,
    )
    app = create_app(service, extra_routes=line.routes())
    public_base = settings.public_base_url or INTERNAL_BASE
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=INTERNAL_BASE) as client,
            working_jobs(service.queue, line.intakes.handlers() if work_jobs else {}),
        ):
            yield SimulatedTwilio(client, public_base=public_base), line
            # Intakes are filed by the worker after hang-up: let them finish, however slow the machine.
            if work_jobs:
                await settle(service.queue)
    finally:
        await line.aclose()
        await service.queue.aclose()
        if chat_model is not None:
            await chat_model.aclose()


def phone_settings(slack_api: FakeSlackApi, model: ScriptedModelServer | None, **overrides: Any) -> Settings:
    """Settings for a phone line posting intakes to the fake Slack, summarizing with ``model`` (or without one)."""
    model_settings: dict[str, Any] = (
        {"llm_provider": "openai", "llm_base_url": model.base_url, "llm_api_key": "test-key", "llm_model": "scripted"}
        if model is not None
        else {"llm_provider": "none"}
    )
    values: dict[str, Any] = {
        "twilio_auth_token": TOKEN,
        "slack_bot_token": "xoxb-test-token",
        "slack_signing_secret": "test-signing-secret",
        "slack_api_url": slack_api.api_url,
        "intake_channel": "C0INTAKE",
        "llm_max_retries": 0,
        **model_settings,
        **overrides,
    }
    return Settings(**values)


def posts_about(slack_api: FakeSlackApi, call_sid: str) -> list[dict[str, Any]]:
    """The successful intake posts about one call."""
    return [post for post in slack_api.calls_to("chat.postMessage") if call_sid in json.dumps(post["blocks"])]
