"""The TwiML documents the phone line answers with, built with the twilio library (never by string pasting)."""

from __future__ import annotations

from twilio.twiml.voice_response import Connect, Dial, Gather, VoiceResponse

from bot.phone.config import PhoneConfig

GATHER_PATH = "/phone/gather"
RELAY_PATH = "/phone/relay"
RELAY_ENDED_PATH = "/phone/relay/ended"


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


def conversation_relay(config: PhoneConfig, relay_url: str) -> str:
    """Hand the call to ConversationRelay: Twilio transcribes the caller and speaks the text streamed back.

    When the session ends (the caller asked for a person, or the relay closed), Twilio posts to the ``<Connect>``
    action, whose TwiML decides what happens next.
    """
    response = VoiceResponse()
    connect = Connect(action=config.absolute_url(RELAY_ENDED_PATH), method="POST")
    connect.conversation_relay(
        url=relay_url,
        welcome_greeting=config.greeting,
        language=config.language,
        interruptible="any",
        dtmf_detection=True,
    )
    response.append(connect)
    return str(response.to_xml())


def transfer(config: PhoneConfig, say: str, number: str) -> str:
    """Tell the caller, then put them through to a person."""
    response = VoiceResponse()
    response.say(say, language=config.language)
    response.append(Dial(number))
    return str(response.to_xml())
