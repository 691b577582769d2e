"""Taking in Events API deliveries that may be questions: deduplicated on the event id and queued as answer jobs
before they are acknowledged; a worker (maybe in another process) answers them.

One decision, two doors. Slack's HTTP requests are taken here before Bolt sees them, after the same signature check
Bolt makes (slack_sdk's ``SignatureVerifier``: the HMAC and the five-minute timestamp window): a question needs no
listener, and Bolt's dispatch (a Web API client built per request, kwargs injection for every middleware) was a third
of the acknowledging process's CPU under a burst of 50 (profiled in bench/RESULTS.md). Socket Mode deliveries reach
the same ``take`` through Bolt's middleware (middleware.py). Everything else (slash commands, buttons, App Home and
assistant thread events, a request whose signature does not verify) goes on to Bolt, which checks and refuses or
handles it as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from slack_sdk.signature import SignatureVerifier

from bot.slack.assistant_surface import SURFACE_EVENTS
from bot.slack.identity import IdentityResolver, is_direct_message
from bot.slack.incoming_questions import is_person_message
from bot.slack.store import EventClaimer

logger = logging.getLogger(__name__)

Intake = Literal["taken", "refused", "bolt"]


class EventIntake:
    """Queues each question-like event once; ``count_event`` is told ``received`` or ``retried`` (the metrics)."""

    def __init__(
        self,
        claimer: EventClaimer,
        identity: IdentityResolver,
        signing_secret: str,
        count_event: Callable[[str], None],
    ) -> None:
        self._claimer = claimer
        self._identity = identity
        self._verifier = SignatureVerifier(signing_secret)
        self._count_event = count_event

    async def take(self, body: Mapping[str, Any]) -> bool:
        """True when ``body`` was dealt with here (queued, a repeat dropped, or chatter ignored) and only needs its
        acknowledgement; False when Bolt's listeners should see it."""
        if body.get("type") != "event_callback":
            return False
        event = body.get("event") or {}
        if not isinstance(event, dict) or event.get("type") in SURFACE_EVENTS:
            return False  # App Home and assistant threads: short work, after the ack (surface_listeners)
        if not is_person_message(event) or not self._may_be_question(event):
            return True
        event_id = body.get("event_id")
        if not event_id or not isinstance(event_id, str):
            logger.warning("ignoring a Slack event without an event_id")
            return True
        if not await self._claimer.claim(event_id, dict(body)):
            logger.info("Slack event %s already received (retry %s): not answered again", event_id, _retry(body))
            self._count_event("retried")
            return True
        self._count_event("received")
        return True

    async def take_request(self, raw: bytes, headers: Mapping[str, str]) -> Intake:
        """``take`` for an HTTP request once its signature verifies: ``taken`` (acknowledge it), ``refused`` (a
        signature header that is not even well-formed, which Bolt would turn into a 500), or ``bolt`` (Bolt's turn:
        not JSON, not a question, or not verified, which Bolt refuses with its 401)."""
        try:
            if not self._verifier.is_valid_request(raw, headers):
                return "bolt"
        except ValueError:  # a timestamp that is not a number
            return "refused"
        if not headers.get("content-type", "").startswith("application/json"):
            return "bolt"
        try:
            body = json.loads(raw)
        except ValueError:
            return "bolt"
        return "taken" if isinstance(body, dict) and await self.take(body) else "bolt"

    def _may_be_question(self, event: dict[str, Any]) -> bool:
        """Cheap pre-filter so ordinary channel chatter is not stored: the worker makes the real decision."""
        if event.get("type") == "app_mention" or is_direct_message(event.get("channel", ""), event.get("channel_type")):
            return True
        if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
            return True
        return self._identity.channel_settings(event.get("channel", "")).respond_to == "all"


def _retry(body: Mapping[str, Any]) -> str:
    return str(body.get("retry_attempt", "?"))
