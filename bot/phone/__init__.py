"""The phone line: a Twilio voice webhook that talks with the agent and files an intake summary to Slack."""

from bot.phone.caller_numbers import caller_user_id, mask_number
from bot.phone.calls import CallStore
from bot.phone.config import PhoneConfig
from bot.phone.errors import PhoneError, UnknownCallError
from bot.phone.intake import IntakeFiler
from bot.phone.spoken_text import to_spoken_text
from bot.phone.webhook import PhoneLine

__all__ = [
    "CallStore",
    "IntakeFiler",
    "PhoneConfig",
    "PhoneError",
    "PhoneLine",
    "UnknownCallError",
    "caller_user_id",
    "mask_number",
    "to_spoken_text",
]
