"""The Slack message an intake is posted as (Block Kit), rendered in one place and tested on its own.

Every field comes from the caller or the model that summarised the call, so all of it is escaped mrkdwn.
"""

from __future__ import annotations

import re
from typing import Any

from agents import IntakeSummary
from bot.markdown_rendering import escape_mrkdwn
from bot.phone.caller_numbers import mask_number

_URGENCY_LABEL = {"low": "low", "normal": "normal", "high": ":rotating_light: high"}
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")
_FIELD_CHARS = 1900  # Block Kit caps a text object at 3000 characters; leave room for the label


def _clip(text: str) -> str:
    """Escaped, then cut to fit a field without leaving half an escape (``&am``) at the end."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= _FIELD_CHARS:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: _FIELD_CHARS - 1]) + "…"


def _headline(summary: IntakeSummary) -> str:
    if summary.handed_over:
        return "transferred to a person"
    return "call back requested" if summary.follow_up else ""


def intake_fallback_text(summary: IntakeSummary) -> str:
    """The notification text (and what screen readers get) for an intake message."""
    headline = _headline(summary)
    follow = f" ({headline})" if headline else ""
    return f"Phone intake from {mask_number(summary.caller_number)}: {escape_mrkdwn(summary.reason)}{follow}"


def intake_blocks(summary: IntakeSummary, call_sid: str) -> list[dict[str, Any]]:
    """Who called, why, how urgent, what was promised, and how to read the transcript (it never leaves the database)."""
    headline = _headline(summary)
    title = f"Phone intake: {headline}" if headline else "Phone intake"
    fields = [
        {"type": "mrkdwn", "text": f"*Caller*\n{_clip(summary.caller_name or 'not given')}"},
        {"type": "mrkdwn", "text": f"*Number*\n{escape_mrkdwn(mask_number(summary.caller_number))}"},
        {"type": "mrkdwn", "text": f"*Urgency*\n{_URGENCY_LABEL[summary.urgency]}"},
        {"type": "mrkdwn", "text": f"*Follow-up*\n{'yes' if summary.follow_up else 'no'}"},
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title}},
        {"type": "section", "fields": fields},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*Reason*\n{_clip(summary.reason)}"}},
    ]
    if summary.handed_over:
        handed = "*Handed over*\nThe caller was put through to a person; what was said before is below."
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": handed}})
    if summary.details:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"*Details*\n{_clip(summary.details)}"}})
    if summary.promised:
        promised = f"*Promised to the caller*\n{_clip(summary.promised)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": promised}})
    sid = escape_mrkdwn(call_sid)
    context = [f"Call `{sid}`", f"transcript: `switchboard phone transcript {sid}`"]
    if summary.mode == "transcript":
        context.append("summary built from the transcript, without a model")
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return blocks
