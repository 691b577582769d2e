"""What the channels (Slack, phone, schedules, CLI) hand the agent and get back.

These models are the agent runtime's public boundary: channels build an ``AgentRequest``, call an
``AgentRunner``, and render the ``AgentAnswer``; they never reach into graphs, prompts or memory directly.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from knowledge import ReaderScope
from tools import Role

if TYPE_CHECKING:
    from agents.intake import CallTurn
    from agents.voice_answers import VoiceEvent

Channel = Literal["slack", "phone", "cli", "schedule", "mcp"]
Stage = Literal["planning", "searching", "using_tool", "reflecting", "answering"]


class Asker(BaseModel):
    """Who is asking and from where; travels in the run's context, never in globals."""

    model_config = ConfigDict(frozen=True)

    user_id: str
    channel: Channel
    workspace_id: str = "default"
    display_name: str | None = None
    # Everyone who will see the answer: retrieval only uses documents every one of them may read.
    scope: ReaderScope
    roles: frozenset[Role] = frozenset()
    # Restrict retrieval to these knowledge sources (per-channel settings); None means all.
    sources: tuple[str, ...] | None = None
    # The conversation asked in (a Slack channel id), for answers scoped to channels; None outside one.
    conversation_id: str | None = None
    # Whether the asker's identity is trusted enough to recall and save their long-term memories; False for
    # anyone identified only by something spoofable (a phone caller's caller ID).
    long_term_memory: bool = True


class Attachment(BaseModel):
    """Text extracted from a file the asker attached, used as context for this question only."""

    name: str
    text: str


class AgentRequest(BaseModel):
    question: str = Field(min_length=1)
    # One conversation = one thread: Slack ``team:channel:thread_ts``, a phone ``CallSid``, a CLI session id.
    thread_id: str
    asker: Asker
    # Prompt name -> version to use instead of the live one (``/prompt test NAME vN``).
    prompt_overrides: dict[str, int] = Field(default_factory=dict)
    # Named prompt to use as the system persona instead of ``answer`` (the phone line uses ``phone_persona``).
    persona_prompt: str = "answer"
    attachments: list[Attachment] = Field(default_factory=list)
    # Whether a person can approve side-effect tool calls where this answer goes (a Slack thread, an interactive
    # terminal). Set by each surface; without one (phone, schedules, /prompt test, piped CLI) side-effect tools are
    # not offered to the model at all, so no run dead-ends on an approval nobody can give.
    approver_present: bool = False
    # Whether a matching curated answer may answer instead of the agent (off where the model itself is measured:
    # evaluation runs, ``/prompt test``).
    use_curated: bool = True


class Citation(BaseModel):
    title: str
    url: str
    source: str | None = None
    heading_path: list[str] = Field(default_factory=list)


class PendingApproval(BaseModel):
    """A side-effect tool call waiting for a person's yes or no; the run resumes from its checkpoint."""

    approval_id: str
    thread_id: str
    tool_name: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    description: str = ""
    requested_by: str


class VerifiedBy(BaseModel):
    """Marks an answer served from an expert's curated answer (no model call): who wrote it and when."""

    curated_id: int
    version: int
    author: str
    verified_at: datetime
    score: float


class AgentAnswer(BaseModel):
    text: str
    citations: list[Citation] = Field(default_factory=list)
    trace_id: str
    # Prompt name -> version used; empty in retrieval-only mode.
    prompt_versions: dict[str, int] = Field(default_factory=dict)
    mode: Literal["agent", "retrieval-only", "curated"] = "agent"
    # Set when the answer is a curated one (``mode == "curated"``).
    verified: VerifiedBy | None = None
    pending_approval: PendingApproval | None = None
    # Plain notes for the user, e.g. that a budget ran out and this is the best answer so far.
    notes: list[str] = Field(default_factory=list)


class ProgressEvent(BaseModel):
    """What the agent is doing now, for a "working on it" message that changes as the run goes."""

    stage: Stage
    detail: str = ""
    # How many passages the agent is reading at this stage (answering, reflecting); 0 when none or not known.
    sources: int = 0


ProgressCallback = Callable[[ProgressEvent], Awaitable[None]]
# Told the final answer's text in pieces as the model writes it (never a draft that reflection may still reject).
AnswerTextCallback = Callable[[str], Awaitable[None]]


class AgentRunner(Protocol):
    """The agent runtime as the channels see it."""

    async def answer(
        self,
        request: AgentRequest,
        on_progress: ProgressCallback | None = None,
        on_answer_text: AnswerTextCallback | None = None,
    ) -> AgentAnswer:
        """Answer a question in its thread (remembering earlier turns), with citations and a stored trace.

        ``on_answer_text`` gets the answer's text as it is written; the pieces joined are a prefix of (usually
        all of) ``AgentAnswer.text``, with citations numbered as in the answer."""
        ...

    async def resume(self, approval_id: str, *, approved: bool, decided_by: str, again: bool = False) -> AgentAnswer:
        """Continue a run paused for approval, from its checkpoint (also after a restart); ``again`` when a worker
        that was resuming it died (the decision it recorded then is kept)."""
        ...

    def speak(self, request: AgentRequest, earlier: Sequence[CallTurn] = ()) -> AsyncGenerator[VoiceEvent, None]:
        """Answer a phone caller on the fast path (one search, one streamed model call), text deltas first."""
        ...
