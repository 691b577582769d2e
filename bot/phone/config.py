"""What the phone line is configured with, built from the one ``Settings``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from agents import Asker
from bot.phone.caller_numbers import caller_user_id
from bot.settings import Settings
from knowledge import Reader, ReaderScope
from tools import Role


class VerifiedCaller(BaseModel):
    """The person an operator mapped a caller number to: their reader groups and roles apply on the phone too."""

    model_config = ConfigDict(frozen=True)

    reader: Reader
    roles: frozenset[Role] = frozenset()
    # Memories are kept per workspace: a Slack team ID here shares the person's Slack memories with the phone.
    workspace_id: str = "default"

    @classmethod
    def from_setting(cls, mapped_to: str, settings: Settings) -> VerifiedCaller:
        """``U0123ABC`` (memories of the phone's own ``default`` workspace) or ``T0123ABC:U0123ABC``."""
        workspace_id, _, user_id = mapped_to.rpartition(":")
        return cls(
            reader=settings.reader(user_id),
            roles=settings.roles_of(user_id),
            workspace_id=workspace_id or "default",
        )


class PhoneConfig(BaseModel):
    """The phone line's slice of the settings: credentials, URLs, and how it talks and waits."""

    model_config = ConfigDict(frozen=True)

    auth_token: SecretStr | None = None
    public_base_url: str | None = None
    intake_channel: str | None = None
    greeting: str = "Hello, you have reached Switchboard. What can I help you with?"
    language: str = "en-US"
    hold_after_seconds: float = 8.0
    max_holds: int = 3
    min_confidence: float = 0.2
    max_spoken_chars: int = 600
    voice_mode: Literal["relay", "gather"] = "gather"
    handoff_number: str | None = None
    handoff_digit: str = "0"
    relay_max_message_bytes: int = 16_384
    # Caller number (E.164) -> the person it is trusted to be; every other caller is anonymous.
    verified_callers: dict[str, VerifiedCaller] = Field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> PhoneConfig:
        return cls(
            auth_token=settings.twilio_auth_token,
            public_base_url=settings.public_base_url,
            intake_channel=settings.intake_channel,
            greeting=settings.phone_greeting,
            language=settings.phone_language,
            hold_after_seconds=settings.phone_hold_after_seconds,
            max_holds=settings.phone_max_holds,
            min_confidence=settings.phone_min_confidence,
            max_spoken_chars=settings.phone_max_spoken_chars,
            voice_mode=settings.phone_voice_mode,
            handoff_number=settings.phone_handoff_number,
            handoff_digit=settings.phone_handoff_digit,
            relay_max_message_bytes=settings.phone_relay_max_message_bytes,
            verified_callers={
                number: VerifiedCaller.from_setting(mapped_to, settings)
                for number, mapped_to in settings.phone_verified_callers.items()
            },
        )

    def absolute_url(self, path_and_query: str) -> str:
        """A URL for TwiML to point at: under ``PUBLIC_BASE_URL`` when set (it may carry a path prefix)."""
        if self.public_base_url is None:
            return path_and_query
        return self.public_base_url.rstrip("/") + path_and_query

    def asker(self, number: str) -> Asker:
        """Who the agent answers: the mapped person for a verified number, else an anonymous caller.

        Caller ID is trivially spoofed, so a number alone never unlocks anyone's long-term memories or restricted
        documents: an unmapped caller gets public knowledge only and no recall or remembering.
        """
        verified = self.verified_callers.get(number.strip())
        if verified is not None:
            return Asker(
                user_id=verified.reader.user_id,
                channel="phone",
                workspace_id=verified.workspace_id,
                scope=ReaderScope(readers=(verified.reader,)),
                roles=verified.roles,
            )
        anonymous = caller_user_id(number)
        return Asker(user_id=anonymous, channel="phone", scope=ReaderScope.single(anonymous), long_term_memory=False)
