"""Block Kit rendering: every message and modal the Slack channel shows, built from plain data, within Slack's limits.

Nothing here talks to Slack or the database, so each rendering is tested on its own.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field

from agents import AgentAnswer, PendingApproval, ProgressEvent
from agents.schedules import Schedule, ScheduleListing, ScheduleRun
from bot.markdown_rendering import (
    escape_mrkdwn,
    has_table,
    markdown_for_stream,
    markdown_to_mrkdwn,
    mrkdwn_link,
)
from bot.slack.message_splitting import split_text

# Slack's documented limits.
SECTION_TEXT_LIMIT = 3000
MAX_BLOCKS_PER_MESSAGE = 50
MESSAGE_TEXT_LIMIT = 40_000
# A ``markdown`` block's text, summed over the message's markdown blocks.
MARKDOWN_BLOCK_LIMIT = 12_000
# Keep a margin under the message text limit for the fallback text joined from the sections.
_MESSAGE_TEXT_BUDGET = MESSAGE_TEXT_LIMIT - 1000

FEEDBACK_UP = "feedback_up"
FEEDBACK_DOWN = "feedback_down"
# Slack's native thumbs (``feedback_buttons``) on every answer: one action, the button told by its value. The
# classic ``feedback_up`` / ``feedback_down`` buttons are still handled, for answers posted before.
FEEDBACK_NATIVE = "feedback"
_NATIVE_VALUE_PREFIXES = {"up:": 1, "down:": -1}
APPROVE = "approval_approve"
REJECT = "approval_reject"
FEEDBACK_MODAL = "feedback_comment"
FEEDBACK_COMMENT_BLOCK = "comment"
FEEDBACK_COMMENT_ACTION = "comment"
# An editor turns an answer into an evaluation case: the button on the answer and the form it opens.
EVAL_CASE_ACTION = "eval_case_open"
EVAL_CASE_MODAL = "eval_case"
EVAL_SET_BLOCK = "eval_set"
EVAL_FACTS_BLOCK = "eval_facts"
EVAL_REFERENCE_BLOCK = "eval_reference"
EVAL_SOURCES_BLOCK = "eval_sources"
EVAL_ANSWERABLE_BLOCK = "eval_answerable"
EVAL_INPUT_ACTION = "value"
# An editor corrects an answer: the "Correct" button under it and the form it opens (a curated answer).
CURATE_ACTION = "curated_open"
CURATE_MODAL = "curated_answer"
CURATE_QUESTION_BLOCK = "curated_question"
CURATE_ANSWER_BLOCK = "curated_answer"
CURATE_SOURCES_BLOCK = "curated_sources"
CURATE_SCOPE_BLOCK = "curated_scope"
PROMPT_EDIT_MODAL = "prompt_edit"
PROMPT_TEXT_BLOCK = "prompt_text"
PROMPT_TEXT_ACTION = "prompt_text"
PROMPT_NOTE_BLOCK = "prompt_note"
PROMPT_NOTE_ACTION = "prompt_note"
# Slack caps a plain_text_input at 3000 characters; longer prompts are changed with /prompt set or the CLI.
MODAL_TEXT_LIMIT = 3000
# A schedule run's section keeps room for its sources line within the section limit.
RUN_TEXT_LIMIT = SECTION_TEXT_LIMIT - 100
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$|<[^>]*$")

_STAGE_LABELS = {
    "planning": "Planning",
    "searching": "Searching the knowledge base",
    "using_tool": "Using a tool",
    "reflecting": "Checking the answer",
    "answering": "Writing the answer",
}

Block = dict[str, Any]


class SlackMessage(BaseModel):
    """What ``chat.postMessage`` / ``chat.update`` get: fallback ``text`` (notifications) and the ``blocks``."""

    text: str
    blocks: list[Block] = Field(default_factory=list)


def section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def context(mrkdwn: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": mrkdwn}]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    element: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }
    if style is not None:
        element["style"] = style
    return element


def working_message(progress: ProgressEvent | None = None) -> SlackMessage:
    """The "working on it" reply, changed in place as the agent moves through its stages."""
    line = ":hourglass_flowing_sand: Working on it…"
    if progress is not None:
        label = _STAGE_LABELS.get(progress.stage, progress.stage)
        detail = f": {escape_mrkdwn(progress.detail)}" if progress.detail else ""
        line = f":hourglass_flowing_sand: {label}{detail}…"
    return SlackMessage(text=line, blocks=[context(line)])


def footer_text(answer: AgentAnswer) -> str:
    if answer.verified is not None:
        author = answer.verified.author
        who = f"<@{author}>" if re.fullmatch(r"[UW][A-Z0-9]{2,}", author) else escape_mrkdwn(author)
        return f":white_check_mark: verified by {who} on {answer.verified.verified_at:%Y-%m-%d}"
    if answer.prompt_versions:
        versions = " · ".join(f"{name} v{version}" for name, version in sorted(answer.prompt_versions.items()))
        return f"prompt {versions}"
    return "retrieval-only answer" if answer.mode == "retrieval-only" else "answer"


def native_feedback(trace_id: str) -> Block:
    """Slack's own 👍 / 👎 (a ``context_actions`` block); each button's value is the trace id with its direction."""

    def thumb(emoji: str, label: str, direction: str) -> Block:
        return {
            "text": {"type": "plain_text", "text": emoji, "emoji": True},
            "accessibility_label": label,
            "value": f"{direction}:{trace_id}",
        }

    return {
        "type": "context_actions",
        "block_id": "feedback",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_NATIVE,
                "positive_button": thumb(":thumbsup:", "Helpful", "up"),
                "negative_button": thumb(":thumbsdown:", "Not helpful", "down"),
            }
        ],
    }


def feedback_choice(action: dict[str, Any]) -> tuple[str, int] | None:
    """The trace id and rating (1 or -1) a feedback click means, from either form; None for a value not ours."""
    value = str(action.get("value") or "")
    if action.get("action_id") in (FEEDBACK_UP, FEEDBACK_DOWN):
        return (value, 1 if action["action_id"] == FEEDBACK_UP else -1) if value else None
    for prefix, rating in _NATIVE_VALUE_PREFIXES.items():
        if value.startswith(prefix) and len(value) > len(prefix):
            return value[len(prefix) :], rating
    return None


def answer_stream_end(answer: AgentAnswer, notes: list[str] | None = None) -> list[Block]:
    """What ``chat.stopStream`` adds under a streamed answer's text: notes, sources, footer and native feedback."""
    return [*_answer_extras(answer, notes), *_answer_tail(answer)]


def answer_messages(answer: AgentAnswer, notes: list[str] | None = None) -> list[SlackMessage]:
    """The answer as one or more messages: text, notes, sources as links; the last one carries the quiet footer
    (prompt versions), Slack's native 👍 / 👎 whose values carry the trace id, and the "Correct" button.

    An answer with a table goes in Slack's ``markdown`` block (standard Markdown, escaped like streamed text), which
    draws a real table where mrkdwn has only rows of cells; every other answer is mrkdwn sections, split at safe
    places (``bot.slack.message_splitting``)."""
    body = _answer_body(answer) + _answer_extras(answer, notes)
    return _pack(body, _answer_tail(answer))


def _answer_body(answer: AgentAnswer) -> list[Block]:
    if has_table(answer.text) and len(markdown_for_stream(answer.text)) <= MARKDOWN_BLOCK_LIMIT:
        return [{"type": "markdown", "text": markdown_for_stream(answer.text)}]
    text = markdown_to_mrkdwn(answer.text, own_links=[citation.url for citation in answer.citations])
    return [section(piece) for piece in split_text(text, SECTION_TEXT_LIMIT)] or [section("_(no answer)_")]


def _answer_tail(answer: AgentAnswer) -> list[Block]:
    correct = {
        "type": "actions",
        "block_id": "curate",
        "elements": [button(":pencil2: Correct", CURATE_ACTION, answer.trace_id)],
    }
    return [context(footer_text(answer) + f" · trace `{answer.trace_id}`"), native_feedback(answer.trace_id), correct]


def _answer_extras(answer: AgentAnswer, notes: list[str] | None) -> list[Block]:
    """The sections after the answer's text: its notes and its sources as links."""
    body: list[Block] = []
    for note in [*answer.notes, *(notes or [])]:
        pieces = split_text(escape_mrkdwn(note), SECTION_TEXT_LIMIT)
        body += [section(f":information_source: {piece}") for piece in pieces]
    if answer.citations:
        seen: set[str] = set()
        lines = ["*Sources*"]
        for citation in answer.citations:
            if citation.url not in seen:
                seen.add(citation.url)
                lines.append(f"• {mrkdwn_link(citation.url, citation.title or citation.url)}")
        body += [section(piece) for piece in split_text("\n".join(lines), SECTION_TEXT_LIMIT)]
    return body


def _pack(body: list[Block], tail: list[Block]) -> list[SlackMessage]:
    """Fill messages in order without passing the block count or the message text limit; ``tail`` ends the last."""
    messages: list[list[Block]] = [[]]
    sizes = [0]
    for block in body:
        size = len(_block_text(block))
        if len(messages[-1]) >= MAX_BLOCKS_PER_MESSAGE or sizes[-1] + size > _MESSAGE_TEXT_BUDGET:
            messages.append([])
            sizes.append(0)
        messages[-1].append(block)
        sizes[-1] += size
    if len(messages[-1]) + len(tail) > MAX_BLOCKS_PER_MESSAGE:
        messages.append([])
    messages[-1].extend(tail)
    return [SlackMessage(text=_fallback_text(blocks), blocks=blocks) for blocks in messages]


def _block_text(block: Block) -> str:
    """A section's mrkdwn or a markdown block's Markdown."""
    text = block["text"]
    return str(text if isinstance(text, str) else text["text"])


def _fallback_text(blocks: list[Block]) -> str:
    texts = [_block_text(block) for block in blocks if block["type"] in ("section", "markdown")]
    return "\n\n".join(texts)[:MESSAGE_TEXT_LIMIT] or "Answer"


def error_message(reference: str) -> SlackMessage:
    line = (
        ":warning: Sorry, something went wrong while answering this, and I could not finish. "
        f"Please try again in a moment; if it keeps happening, tell an admin (reference `{reference}`)."
    )
    return SlackMessage(text=line, blocks=[section(line)])


def notice_message(text: str) -> SlackMessage:
    """A short plain reply in the thread (e.g. asking for a question when the mention had none)."""
    return SlackMessage(text=text, blocks=[section(escape_mrkdwn(text))])


def approval_request_message(pending: PendingApproval) -> SlackMessage:
    """Approve / Reject buttons for a side-effect tool call; both buttons carry the approval id."""
    what = escape_mrkdwn(pending.description) if pending.description else f"run `{escape_mrkdwn(pending.tool_name)}`"
    lines = [f":raised_hand: <@{pending.requested_by}>, I need an approval before I continue: {what}"]
    if pending.arguments:
        arguments = escape_mrkdwn(json.dumps(pending.arguments, indent=2, ensure_ascii=False))
        lines.append(f"```\n{arguments[: SECTION_TEXT_LIMIT - 200]}\n```")
    text = "\n".join(lines)
    return SlackMessage(
        text=text,
        blocks=[
            section(text),
            context("Only the person who asked, or an admin, can decide."),
            {
                "type": "actions",
                "block_id": "approval",
                "elements": [
                    button("Approve", APPROVE, pending.approval_id, style="primary"),
                    button("Reject", REJECT, pending.approval_id, style="danger"),
                ],
            },
        ],
    )


def approval_decided_message(tool_name: str, *, approved: bool, decided_by: str) -> SlackMessage:
    verdict = ":white_check_mark: Approved" if approved else ":no_entry_sign: Rejected"
    text = f"{verdict} by <@{decided_by}>: `{escape_mrkdwn(tool_name)}`"
    return SlackMessage(text=text, blocks=[section(text)])


def feedback_modal(trace_id: str, channel_id: str) -> Block:
    """The short form a 👎 opens; the trace id travels in ``private_metadata``."""
    return {
        "type": "modal",
        "callback_id": FEEDBACK_MODAL,
        "private_metadata": json.dumps({"trace_id": trace_id, "channel_id": channel_id}),
        "title": {"type": "plain_text", "text": "What was wrong?"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Skip"},
        "blocks": [
            {
                "type": "input",
                "block_id": FEEDBACK_COMMENT_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What was wrong or missing in the answer?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_COMMENT_ACTION,
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        ],
    }


def prompt_edit_modal(name: str, version: int, text: str, channel_id: str) -> Block:
    """``/prompt edit NAME``: the live text in a multiline input; saving makes a new live version. The name, the
    version it started from and where to confirm travel in ``private_metadata``."""
    metadata = {"name": name, "base_version": version, "channel_id": channel_id}
    return {
        "type": "modal",
        "callback_id": PROMPT_EDIT_MODAL,
        "private_metadata": json.dumps(metadata),
        "title": {"type": "plain_text", "text": f"Edit prompt {name}"[:24]},
        "submit": {"type": "plain_text", "text": "Save as live"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            context(
                f"Editing `{escape_mrkdwn(name)}` v{version} (live). Saving makes a new version and makes it live."
            ),
            {
                "type": "input",
                "block_id": PROMPT_TEXT_BLOCK,
                "label": {"type": "plain_text", "text": "Prompt text"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": PROMPT_TEXT_ACTION,
                    "multiline": True,
                    "initial_value": text,
                    "max_length": MODAL_TEXT_LIMIT,
                },
            },
            {
                "type": "input",
                "block_id": PROMPT_NOTE_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "What changed and why"},
                "element": {"type": "plain_text_input", "action_id": PROMPT_NOTE_ACTION, "max_length": 200},
            },
        ],
    }


def evaluation_case_offer(trace_id: str, text: str) -> list[Block]:
    """What an editor sees (only they: it is ephemeral) after rating an answer: a button that turns it into an
    evaluation case. The answer message itself keeps only the two rating buttons."""
    return [
        section(text),
        {
            "type": "actions",
            "block_id": "evaluation",
            "elements": [button(":test_tube: Make an eval case", EVAL_CASE_ACTION, trace_id)],
        },
    ]


def _text_input(
    block_id: str, label: str, *, initial: str = "", multiline: bool = True, optional: bool = True
) -> Block:
    element: Block = {"type": "plain_text_input", "action_id": EVAL_INPUT_ACTION, "multiline": multiline}
    if initial:
        element["initial_value"] = initial[:MODAL_TEXT_LIMIT]
    return {
        "type": "input",
        "block_id": block_id,
        "optional": optional,
        "label": {"type": "plain_text", "text": label},
        "element": element,
    }


def _radio_input(block_id: str, label: str, options: list[Block]) -> Block:
    """Radio buttons in a form, the first option chosen."""
    return {
        "type": "input",
        "block_id": block_id,
        "label": {"type": "plain_text", "text": label},
        "element": {
            "type": "radio_buttons",
            "action_id": EVAL_INPUT_ACTION,
            "options": options,
            "initial_option": options[0],
        },
    }


def evaluation_case_modal(
    trace_id: str, question: str, *, answer: str, sources: list[str], rating: int | None, channel_id: str
) -> Block:
    """The form that turns an answer into a case: what it should have said, what it should cite, and the set.

    A 👍 answer is offered as the reference answer; a 👎 one starts empty (it is what the answer should not be).
    """
    answerable_options = [
        {"text": {"type": "plain_text", "text": "Yes: the knowledge has the answer"}, "value": "yes"},
        {"text": {"type": "plain_text", "text": "No: the bot should say it does not know"}, "value": "no"},
    ]
    rated = {1: "rated :thumbsup:", -1: "rated :thumbsdown:"}.get(rating or 0, "not rated by you")
    return {
        "type": "modal",
        "callback_id": EVAL_CASE_MODAL,
        "private_metadata": json.dumps({"trace_id": trace_id, "channel_id": channel_id}),
        "title": {"type": "plain_text", "text": "New evaluation case"},
        "submit": {"type": "plain_text", "text": "Save case"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            section(f"*Question* ({rated})\n{escape_mrkdwn(question[:2500])}"),
            _text_input(EVAL_SET_BLOCK, "Evaluation set", initial="slack", multiline=False, optional=False),
            _text_input(EVAL_FACTS_BLOCK, "Facts the answer must state (one per line)"),
            _text_input(
                EVAL_REFERENCE_BLOCK,
                "Reference answer (what it should have said)",
                initial=answer if rating == 1 else "",
            ),
            _text_input(
                EVAL_SOURCES_BLOCK, "Sources it should cite (URLs or paths, one per line)", initial="\n".join(sources)
            ),
            _radio_input(EVAL_ANSWERABLE_BLOCK, "Does the knowledge contain the answer?", answerable_options),
        ],
    }


def curated_answer_modal(trace_id: str, question: str, *, answer: str, sources: list[str], channel_id: str) -> Block:
    """The form "Correct" opens: the right answer to the question (served to later askers of it), its sources, and
    whether it holds in this channel only."""
    scope_options = [
        {"text": {"type": "plain_text", "text": "Every channel"}, "value": "everywhere"},
        {"text": {"type": "plain_text", "text": "This channel only"}, "value": "channel"},
    ]
    return {
        "type": "modal",
        "callback_id": CURATE_MODAL,
        "private_metadata": json.dumps({"trace_id": trace_id, "channel_id": channel_id}),
        "title": {"type": "plain_text", "text": "Correct this answer"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            context("Later questions that closely match are answered with this text, marked as verified by you."),
            _text_input(CURATE_QUESTION_BLOCK, "Question", initial=question, optional=False),
            _text_input(CURATE_ANSWER_BLOCK, "The right answer", initial=answer, optional=False),
            _text_input(
                CURATE_SOURCES_BLOCK, "Sources (indexed URLs or paths, one per line)", initial="\n".join(sources)
            ),
            _radio_input(CURATE_SCOPE_BLOCK, "Where it applies", scope_options),
        ],
    }


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
