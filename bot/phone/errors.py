"""Errors of the phone line; the webhook routes turn them into TwiML or status codes."""

from __future__ import annotations

from bot.errors import BotError


class PhoneError(BotError):
    """Root of the phone line's errors."""


class UnknownCallError(PhoneError, LookupError):
    """A request names a ``CallSid`` (or an answer id) this service has no record of."""

    def __init__(self, call_sid: str) -> None:
        super().__init__(f"no phone call {call_sid} is on record; Twilio should start each call at /phone/voice")
        self.call_sid = call_sid


class IntakePostError(PhoneError):
    """Slack would not take an intake's post; it stays stored, and its post job is retried."""
