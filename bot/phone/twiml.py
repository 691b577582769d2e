"""The TwiML documents the phone line answers with, built with the twilio library (never by string pasting)."""

from __future__ import annotations

from twilio.twiml.voice_response import Gather, VoiceResponse

from bot.phone.config import PhoneConfig

GATHER_PATH = "/phone/gather"


def listen(config: PhoneConfig, say: str | None) -> str:
    """Say something (if any) and listen for the caller's next words, posting them to ``/phone/gather``.

    ``actionOnEmptyResult`` makes Twilio post even when the caller says nothing, so silence is handled by the same
    route instead of falling off the end of the document.
    """
    response = VoiceResponse()
    gather = Gather(
        input="speech",
        action=config.absolute_url(GATHER_PATH),
        method="POST",
        action_on_empty_result=True,
        speech_timeout="auto",
        language=config.language,
    )
    if say:
        gather.say(say, language=config.language)
    response.append(gather)
    return str(response.to_xml())


def hold(config: PhoneConfig, say: str, answer_id: str) -> str:
    """A short holding phrase, then straight back to ``/phone/gather`` to pick up the answer when it is ready."""
    response = VoiceResponse()
    response.say(say, language=config.language)
    response.redirect(config.absolute_url(f"{GATHER_PATH}?pending={answer_id}"), method="POST")
    return str(response.to_xml())


def goodbye(config: PhoneConfig, say: str) -> str:
    response = VoiceResponse()
    response.say(say, language=config.language)
    response.hangup()
    return str(response.to_xml())


def empty() -> str:
    """An empty document, for status callbacks (Twilio ignores the body but wants a 200)."""
    return str(VoiceResponse().to_xml())
