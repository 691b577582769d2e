"""``/schedule add|list|remove|run``: thin handlers over the scheduler's ``ScheduleService``.

Who may: ``tools.REQUIRED_ROLES``. The router's middleware checks ``add`` and ``remove`` as ``schedule.change`` (editors
and admins), or as ``schedule.change_own`` (anyone) when the call touches only a schedule that posts to the caller's
own DM with the bot (``me`` as the channel, or the DM the command is typed in); the store applies the same table to
``run``, which the middleware lets through.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from pydantic import BaseModel
from slack_sdk.errors import SlackApiError

from agents import ScheduleError, ScheduleInputError
from agents.schedules import Schedule, accepted_forms_text
from bot.markdown_rendering import escape_mrkdwn
from bot.slack.blocks import format_run_result, format_schedule_added, format_schedule_list, format_schedule_removed
from bot.slack.commands import CommandError, CommandInvocation, CommandRegistry, CommandReply, text_after_subcommand
from tools import Action

if TYPE_CHECKING:  # bot.scheduling posts through bot.slack.blocks: a runtime import here would be circular
    from bot.scheduling import ScheduleService

logger = logging.getLogger(__name__)

SCHEDULE_USAGE = (
    "Usage:\n"
    '  `/schedule add "WHEN" #channel INSTRUCTION` (WHEN is a phrase or a cron expression)\n'
    "  `/schedule list`  `/schedule remove ID`  `/schedule run ID`\n"
    f"WHEN may be:\n{accepted_forms_text()}"
)
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})
_CHANNEL_MENTION = re.compile(r"<#([CDG][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,}")
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_SCHEDULE_ID = re.compile(r"#?(\d{1,9})")


class AddCommand(BaseModel):
    """The parts of ``/schedule add "WHEN" #channel INSTRUCTION``."""

    when: str
    channel: str
    instruction: str


def parse_schedule_add(text: str, user_id: str) -> AddCommand:
    """Split the text after ``/schedule add``: ``"WHEN" #channel INSTRUCTION``.

    WHEN is quoted (straight or curly quotes), or unquoted when it is one word ("hourly") or a 5-field cron
    expression. The channel is a Slack mention (``<#C123|ops>``, what Slack sends when the command escapes channels)
    or a bare id; a plain ``#ops`` cannot be resolved to an id here and gets an error saying so. ``me`` (or the
    user's own mention) as the channel makes a personal schedule, posting to the user's DM with the bot.

    Raises:
        ScheduleInputError: the text does not have the three parts; the message shows the usage.
    """
    text = text.translate(_SMART_QUOTES).strip()
    if text[:1] in ('"', "'"):
        closing = text.find(text[0], 1)
        if closing < 0:
            raise ScheduleInputError("WHEN has an opening quote but no closing one.\n" + SCHEDULE_USAGE)
        words = [text[1:closing], *text[closing + 1 :].split()]
    else:
        words = text.split()
    for when_length in (1, 5):
        if len(words) <= when_length:
            continue
        target = words[when_length]
        channel = user_id if _is_self(target, user_id) else _channel_id(target)
        if channel is not None:
            instruction = " ".join(words[when_length + 1 :]).strip()
            if not instruction:
                raise ScheduleInputError("the instruction is missing: say what the agent should do.\n" + SCHEDULE_USAGE)
            return AddCommand(when=" ".join(words[:when_length]), channel=channel, instruction=instruction)
    raise ScheduleInputError(
        "expected WHEN, then the channel picked with #channel (so Slack sends its id), then the instruction.\n"
        + SCHEDULE_USAGE
    )


def _is_self(word: str, user_id: str) -> bool:
    mention = _USER_MENTION.fullmatch(word)
    return word.lower() in ("me", "@me") or (mention is not None and mention.group(1) == user_id)


def _channel_id(token: str) -> str | None:
    mention = _CHANNEL_MENTION.fullmatch(token)
    if mention is not None:
        return mention.group(1)
    return token if _CHANNEL_ID.fullmatch(token) else None


def _schedule_id(word: str) -> int:
    found = _SCHEDULE_ID.fullmatch(word.strip())
    if found is None:
        raise CommandError(f"`{escape_mrkdwn(word)}` is not a schedule id; `/schedule list` shows them (like `#3`).")
    return int(found.group(1))


def _describe(schedule: Schedule) -> str:
    """A schedule as the audit log keeps it."""
    return (
        f'"{schedule.when}" ({schedule.cron}, {schedule.timezone}) in {schedule.channel} '
        f"owned by {schedule.owner}: {schedule.instruction}"
    )


def _own_dm(channel: str, user_id: str, typed_in: str) -> bool:
    """The user's own DM with the bot: ``me`` (their user id) or the DM channel the command was typed in."""
    return channel == user_id or (channel == typed_in and channel.startswith("D"))


class ScheduleCommands:
    def __init__(self, schedules: ScheduleService) -> None:
        self.schedules = schedules

    async def add(self, invocation: CommandInvocation) -> CommandReply:
        try:
            command = parse_schedule_add(text_after_subcommand(invocation.text), invocation.user_id)
        except ScheduleError as error:
            raise CommandError(escape_mrkdwn(str(error))) from error
        try:
            listing = await self.schedules.add(
                when=command.when,
                channel=command.channel,
                instruction=command.instruction,
                owner=invocation.user_id,
                timezone=await self._timezone(invocation),
                roles=invocation.roles,
            )
        except ScheduleError as error:
            raise CommandError(escape_mrkdwn(str(error))) from error
        await invocation.audit.record(
            "schedule.add", f"schedule #{listing.schedule.id}", before=None, after=_describe(listing.schedule)
        )
        return CommandReply(text=format_schedule_added(listing))

    async def list(self, invocation: CommandInvocation) -> CommandReply:
        """Channel schedules, and the caller's own personal ones (other people's DM schedules stay private)."""
        listings = await self.schedules.store.list()
        shown = [
            item
            for item in listings
            if item.schedule.owner == invocation.user_id or not self.schedules.store.is_personal(item.schedule)
        ]
        return CommandReply(text=format_schedule_list(shown))

    async def remove(self, invocation: CommandInvocation) -> CommandReply:
        schedule_id = _schedule_id(invocation.args[0])
        try:
            removed = await self.schedules.remove(schedule_id, by=invocation.user_id, roles=invocation.roles)
        except ScheduleError as error:
            raise CommandError(escape_mrkdwn(str(error))) from error
        target = f"schedule #{removed.id}"
        await invocation.audit.record("schedule.remove", target, before=_describe(removed), after=None)
        return CommandReply(text=format_schedule_removed(removed))

    async def run(self, invocation: CommandInvocation) -> CommandReply:
        """Runs the whole schedule now (the router acknowledged already) and reports how it went."""
        schedule_id = _schedule_id(invocation.args[0])
        try:
            schedule, run = await self.schedules.run_now(schedule_id, by=invocation.user_id, roles=invocation.roles)
        except ScheduleError as error:
            raise CommandError(escape_mrkdwn(str(error))) from error
        return CommandReply(text=format_run_result(schedule, run))

    async def action_of_add(self, text: str, user_id: str, channel_id: str) -> Action:
        """For the middleware: an ``add`` that posts only to the user's own DM changes only their own things."""
        try:
            command = parse_schedule_add(text, user_id)
        except ScheduleError:
            return "schedule.change"
        return "schedule.change_own" if _own_dm(command.channel, user_id, channel_id) else "schedule.change"

    async def action_of_remove(self, text: str, user_id: str, channel_id: str) -> Action:
        """For the middleware: removing the user's own DM schedule (or one not there at all) touches nobody else."""
        found = _SCHEDULE_ID.fullmatch(text.strip())
        if found is None:
            return "schedule.change"
        try:
            schedule = await self.schedules.store.get(int(found.group(1)))
        except ScheduleError:
            return "schedule.change_own"  # nothing to protect: the handler says it does not exist
        own = schedule.owner == user_id and self.schedules.store.is_personal(schedule)
        return "schedule.change_own" if own else "schedule.change"

    @staticmethod
    async def _timezone(invocation: CommandInvocation) -> str | None:
        """The user's time zone from their Slack profile; None (the configured default) when Slack will not say."""
        try:
            response = await invocation.client.users_info(user=invocation.user_id)
        except SlackApiError as error:
            logger.warning("users.info for %s failed: %s", invocation.user_id, error.response.get("error"))
            return None
        zone = (response.get("user") or {}).get("tz")
        return str(zone) if zone else None


def register_schedule_commands(registry: CommandRegistry, schedules: ScheduleService) -> None:
    commands = ScheduleCommands(schedules)
    registry.register(
        "/schedule",
        "add",
        commands.add,
        usage='"WHEN" #channel|me INSTRUCTION',
        summary="run INSTRUCTION at WHEN (a phrase like `every weekday at 9:00`, or cron) in your time zone and "
        "post the result to the channel (`me`: your DM with the bot)",
        min_args=3,
        action_of_call=commands.action_of_add,
    )
    registry.register("/schedule", "list", commands.list, summary="schedules, next run and last outcome", max_args=0)
    registry.register(
        "/schedule",
        "remove",
        commands.remove,
        usage="ID",
        summary="stop a schedule",
        min_args=1,
        max_args=1,
        action_of_call=commands.action_of_remove,
    )
    registry.register(
        "/schedule",
        "run",
        commands.run,
        usage="ID",
        summary="run a schedule now (editors and admins, or the owner of a DM schedule)",
        min_args=1,
        max_args=1,
        acknowledgement=lambda args: f"Running schedule {args[0]} now; I will tell you here how it went.",
    )
