"""Text for ``/schedule`` replies and for the messages a run posts, so the Slack command router stays a thin adapter.

Slack mrkdwn through ``bot.markdown_rendering``: user-supplied and model text is escaped (``&``, ``<``, ``>``); the
channels and users the bot names itself render as mentions, and the only live links are the bot's own.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from agents import AgentAnswer, ScheduleInputError
from agents.schedules import Schedule, ScheduleListing, ScheduleRun, accepted_forms_text
from bot.markdown_rendering import escape_mrkdwn, markdown_to_mrkdwn, mrkdwn_link

SCHEDULE_USAGE = (
    "Usage:\n"
    '  `/schedule add "WHEN" #channel INSTRUCTION` (WHEN is a phrase or a cron expression)\n'
    "  `/schedule list`  `/schedule remove ID`  `/schedule run ID`\n"
    f"WHEN may be:\n{accepted_forms_text()}"
)

_PARTIAL_ENTITY = re.compile(r"&[a-z]*$|<[^>]*$")
# A section's text is capped at 3000 characters; keep room for the sources line.
RUN_TEXT_LIMIT = 2900
_CHANNEL_MENTION = re.compile(r"<#([CDG][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,}")
_SMART_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


class AddCommand(BaseModel):
    """The parts of ``/schedule add "WHEN" #channel INSTRUCTION``."""

    when: str
    channel: str
    instruction: str


def parse_add_command(text: str) -> AddCommand:
    """Split the text after ``/schedule add``: ``"WHEN" #channel INSTRUCTION``.

    WHEN is quoted (straight or curly quotes), or unquoted when it is one word ("hourly") or a 5-field cron
    expression. The channel is a Slack mention (``<#C123|ops>``, what Slack sends when the command escapes channels)
    or a bare id; a plain ``#ops`` cannot be resolved to an id here and gets an error saying so.

    Raises:
        ScheduleInputError: the text does not have the three parts; the message shows the usage.
    """
    text = text.translate(_SMART_QUOTES).strip()
    if text[:1] in ('"', "'"):
        closing = text.find(text[0], 1)
        if closing < 0:
            raise ScheduleInputError("WHEN has an opening quote but no closing one.\n" + SCHEDULE_USAGE)
        return parse_add_arguments([text[1:closing], *text[closing + 1 :].split()])
    return parse_add_arguments(text.split())


def parse_add_arguments(args: list[str]) -> AddCommand:
    """The same from already split arguments (a command router that splits with ``shlex``)."""
    for when_length in (1, 5):
        if len(args) > when_length and _channel_id(args[when_length]) is not None:
            channel = _channel_id(args[when_length])
            instruction = " ".join(args[when_length + 1 :]).strip()
            if not instruction:
                raise ScheduleInputError("the instruction is missing: say what the agent should do.\n" + SCHEDULE_USAGE)
            return AddCommand(when=" ".join(args[:when_length]), channel=str(channel), instruction=instruction)
    raise ScheduleInputError(
        "expected WHEN, then the channel picked with #channel (so Slack sends its id), then the instruction.\n"
        + SCHEDULE_USAGE
    )


def _channel_id(token: str) -> str | None:
    mention = _CHANNEL_MENTION.fullmatch(token)
    if mention is not None:
        return mention.group(1)
    return token if _CHANNEL_ID.fullmatch(token) else None


def channel_mention(channel: str) -> str:
    return f"<@{channel}>" if channel[:1] in ("U", "W") else f"<#{channel}>"


def format_time(moment: datetime | None, timezone: str) -> str:
    """A moment in the owner's zone: ``Mon 24 Nov 09:00 CET``."""
    if moment is None:
        return "—"
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%a %d %b %H:%M %Z")


def format_last_run(run: ScheduleRun | None, timezone: str) -> str:
    if run is None:
        return "never run"
    outcome = {
        "succeeded": "✅ succeeded",
        "failed": "❌ failed",
        "running": "⏳ running",
        "interrupted": "⏹ interrupted",
    }[run.status]
    text = f"{outcome} {format_time(run.started_at, timezone)}"
    if run.message_link:
        text += f" (<{run.message_link}|message>)"
    if run.status == "failed" and run.error:
        text += f": {escape_mrkdwn(_shorten(run.error, 120))}"
    return text


def format_schedule_line(listing: ScheduleListing) -> str:
    """One ``/schedule list`` row: id, when, channel, next run in the owner's zone, last outcome."""
    schedule = listing.schedule
    state = "" if schedule.enabled else " _(disabled)_"
    origin = " _(config file)_" if schedule.origin == "config" else ""
    return (
        f"*#{schedule.id}* `{escape_mrkdwn(schedule.when)}` in {channel_mention(schedule.channel)}{state}{origin}\n"
        f"    {escape_mrkdwn(_shorten(schedule.instruction, 140))}\n"
        f"    next: {format_time(listing.next_run, schedule.timezone)} · last: "
        f"{format_last_run(listing.last_run, schedule.timezone)} · owner <@{schedule.owner}>"
    )


def format_schedule_list(listings: list[ScheduleListing]) -> str:
    if not listings:
        return 'No schedules yet. Add one with `/schedule add "every weekday at 9" #channel INSTRUCTION`.'
    return "\n".join(format_schedule_line(listing) for listing in listings)


def format_schedule_added(listing: ScheduleListing) -> str:
    schedule = listing.schedule
    return (
        f"Scheduled *#{schedule.id}*: `{escape_mrkdwn(schedule.when)}` ({schedule.cron}, {schedule.timezone}) in "
        f"{channel_mention(schedule.channel)}. Next run: {format_time(listing.next_run, schedule.timezone)}."
    )


def format_schedule_removed(schedule: Schedule) -> str:
    return (
        f"Removed schedule *#{schedule.id}* (`{escape_mrkdwn(schedule.when)}` in {channel_mention(schedule.channel)})."
    )


def format_run_result(schedule: Schedule, run: ScheduleRun | None) -> str:
    if run is None:
        return f"Schedule *#{schedule.id}* did not run (it was removed or disabled)."
    if run.status == "succeeded":
        where = f"<{run.message_link}|posted>" if run.message_link else "posted"
        return f"Schedule *#{schedule.id}* ran and {where} its result in {channel_mention(schedule.channel)}."
    return f"Schedule *#{schedule.id}* failed: {escape_mrkdwn(run.error or 'unknown reason')}"


def render_run_message(schedule: Schedule, answer: AgentAnswer) -> tuple[str, list[dict[str, object]]]:
    """The channel message of a run: the answer (escaped mrkdwn), its sources as links, and who scheduled it."""
    urls = list(dict.fromkeys(citation.url for citation in answer.citations))
    titles = {citation.url: citation.title or citation.url for citation in answer.citations}
    sources = "Sources: " + ", ".join(mrkdwn_link(url, titles[url]) for url in urls) if urls else ""
    body = markdown_to_mrkdwn(answer.text, own_links=urls)
    body = (
        _shorten_mrkdwn(body, RUN_TEXT_LIMIT - len(sources) - 2) if sources else _shorten_mrkdwn(body, RUN_TEXT_LIMIT)
    )
    text = f"{body}\n\n{sources}" if sources else body
    blocks: list[dict[str, object]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    origin = f"Scheduled run of #{schedule.id} (`{escape_mrkdwn(schedule.when)}`) for <@{schedule.owner}>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": origin}]})
    return text, blocks


def render_failure_report(schedule: Schedule, run: ScheduleRun, reason: str) -> str:
    """The DM its owner gets when a run fails."""
    return (
        f"Your schedule *#{schedule.id}* (`{escape_mrkdwn(schedule.when)}` in "
        f"{channel_mention(schedule.channel)}) failed at {format_time(run.started_at, schedule.timezone)}: "
        f"{escape_mrkdwn(reason)}\n"
        f"`/schedule run {schedule.id}` tries again now; `/schedule remove {schedule.id}` stops it."
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _shorten_mrkdwn(text: str, limit: int) -> str:
    """Like ``_shorten``, without ending in half an escape (``&am``), half a link or an unclosed code block."""
    if len(text) <= limit:
        return text
    cut = _PARTIAL_ENTITY.sub("", text[: max(limit - 5, 1)])
    return cut + "…" + ("\n```" if cut.count("```") % 2 else "")
