"""Turn a finished phone call's transcript into an intake summary a person can act on.

The summary comes from the intake-summary prompt run over the transcript, parsed into ``IntakeSummary``. In
retrieval-only mode (no chat model), or when the model fails or answers with something unreadable, a plain summary
is built from the transcript itself and labelled as such, so no call is ever lost.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from agents.errors import ModelError
from agents.model_gateway import ChatMessage, ChatModel
from agents.prompt_assembly import DATA_POLICY, wrap_transcript

logger = logging.getLogger(__name__)

Speaker = Literal["caller", "assistant"]
Urgency = Literal["low", "normal", "high"]

_FENCED_JSON = re.compile(r"\{.*\}", re.DOTALL)
_PLAIN_REASON_CHARS = 200
_PLAIN_DETAILS_CHARS = 2000


class CallTurn(BaseModel):
    """One thing said on the call, by the caller or by the assistant."""

    speaker: Speaker
    text: str


class IntakeDraft(BaseModel):
    """What the intake-summary prompt asks the model to return, as one JSON object."""

    caller_name: str | None = None
    reason: str = Field(min_length=1)
    details: str = ""
    urgency: Urgency = "normal"
    promised: str = ""
    follow_up: bool = False


class IntakeSummary(IntakeDraft):
    """The filed intake: the model's (or the transcript's) account of the call plus what the line itself knows."""

    caller_number: str
    # "model": written by the intake-summary prompt; "transcript": built from the transcript without a model.
    mode: Literal["model", "transcript"]
    notes: list[str] = Field(default_factory=list)
    # The line put the caller through to a person: a fact of the call, never the model's guess.
    handed_over: bool = False


def render_transcript(turns: list[CallTurn]) -> str:
    """The transcript as the model reads it: one ``Caller:`` / ``Assistant:`` line per turn."""
    return "\n".join(f"{'Caller' if turn.speaker == 'caller' else 'Assistant'}: {turn.text}" for turn in turns)


def transcript_summary(
    turns: list[CallTurn], *, caller_number: str, follow_up_requested: bool, note: str | None = None
) -> IntakeSummary:
    """A summary without a model: the caller's first words as the reason and everything they said as details."""
    said = [turn.text.strip() for turn in turns if turn.speaker == "caller" and turn.text.strip()]
    reason = said[0][:_PLAIN_REASON_CHARS] if said else "The caller hung up without asking anything."
    notes = ["Built from the transcript without a model (retrieval-only mode)." if note is None else note]
    return IntakeSummary(
        caller_number=caller_number,
        reason=reason,
        details=" / ".join(said)[:_PLAIN_DETAILS_CHARS],
        urgency="normal",
        promised="A person will call back." if follow_up_requested else "",
        follow_up=follow_up_requested,
        mode="transcript",
        notes=notes,
    )


async def summarize_call(
    model: ChatModel | None,
    prompt_text: str,
    turns: list[CallTurn],
    *,
    caller_number: str,
    follow_up_requested: bool,
) -> IntakeSummary:
    """Summarize a call with the intake-summary prompt; fall back to a transcript summary without a usable model.

    Args:
        model: the chat model, or ``None`` in retrieval-only mode.
        prompt_text: the intake-summary prompt (the system message); it must ask for one JSON object with the
            fields of ``IntakeDraft``.
        turns: the call's transcript, in order.
        caller_number: the number the call came from, kept as given (masking is the channel's job).
        follow_up_requested: the caller asked for a person; the summary's ``follow_up`` is then always true.
    """
    if model is None:
        return transcript_summary(turns, caller_number=caller_number, follow_up_requested=follow_up_requested)
    if not any(turn.speaker == "caller" for turn in turns):
        return transcript_summary(
            turns,
            caller_number=caller_number,
            follow_up_requested=follow_up_requested,
            note="The caller said nothing, so no model summary was made.",
        )
    # The caller's words are untrusted text: wrapped as data under the same policy as documents, which code
    # appends after the editable prompt so an edit cannot drop it.
    messages = [
        ChatMessage(role="system", content=f"{prompt_text}\n\n{DATA_POLICY}"),
        ChatMessage(role="user", content=f"Transcript of the call:\n\n{wrap_transcript(render_transcript(turns))}"),
    ]
    try:
        response = await model.complete(messages, temperature=0.0)
        draft = parse_intake_draft(response.text)
    except ModelError as error:
        logger.warning("intake summary model call failed, filing a transcript summary instead: %s", error)
        return transcript_summary(
            turns,
            caller_number=caller_number,
            follow_up_requested=follow_up_requested,
            note=f"The model could not summarize this call ({type(error).__name__}); built from the transcript.",
        )
    except ValueError as error:
        logger.warning("intake summary model answer was not the expected JSON, filing a transcript summary: %s", error)
        return transcript_summary(
            turns,
            caller_number=caller_number,
            follow_up_requested=follow_up_requested,
            note="The model's summary was unreadable; built from the transcript.",
        )
    return IntakeSummary(
        **draft.model_dump(exclude={"follow_up"}),
        follow_up=draft.follow_up or follow_up_requested,
        caller_number=caller_number,
        mode="model",
    )


def parse_intake_draft(text: str) -> IntakeDraft:
    """Read the model's JSON object (bare or inside a code fence).

    Raises:
        ValueError: no JSON object, or one that does not fit ``IntakeDraft``.
    """
    found = _FENCED_JSON.search(text)
    if found is None:
        raise ValueError("the model's answer holds no JSON object")
    try:
        return IntakeDraft.model_validate(json.loads(found.group(0)))
    except (json.JSONDecodeError, ValidationError) as error:
        raise ValueError(f"the model's JSON does not fit the intake fields: {error}") from error
