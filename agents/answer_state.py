"""The answer graph's state (JSON-native, so checkpoints need no custom types) and its per-run context.

State fields fall in two groups: the conversation (``history``, ``summary``), which carries over from turn to turn
in the thread's checkpoints, and everything else, which ``turn_input`` resets at the start of each question.
The context (who asks, the model, the tools, the prompts) is handed to every run and is never checkpointed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

from agents.answer_streaming import AnswerTextStream
from agents.answers import AgentRequest, ProgressCallback, ProgressEvent, Stage
from agents.approvals import ApprovalStore
from agents.config import AgentConfig
from agents.long_term_memory import MemoryStore
from agents.model_gateway import ChatModel
from agents.prompts import PromptVersion
from agents.tool_effects import ToolEffectLedger
from tools import ToolContext, ToolRegistry


class AnswerState(TypedDict, total=False):
    # The conversation, kept across turns of the thread.
    history: list[dict[str, str]]
    summary: str
    # This turn.
    question: str
    trace_id: str
    route: str
    search_query: str
    plan: list[str]
    memories: list[str]
    # The act loop's own messages (ChatMessage dumps): tool calls, tool results, reviewer feedback.
    messages: list[dict[str, Any]]
    # Every passage retrieved this turn (Passage dumps), numbered from 1 in this order for citations.
    passages: list[dict[str, Any]]
    # How many of ``passages`` were retrieved before the first model call (shown in the question itself).
    context_passages: int
    tool_calls: list[dict[str, Any]]
    decisions: dict[str, dict[str, Any]]
    draft: str
    revisions: int
    reflections: list[dict[str, Any]]
    steps: int
    input_tokens: int
    output_tokens: int
    model: str
    latency_ms: dict[str, float]
    notes: list[str]
    stop_reason: str
    loaded_prompts: dict[str, int]
    prompt_versions: dict[str, int]
    answer: str
    citations: list[dict[str, Any]]


def turn_input(question: str, trace_id: str, loaded_prompts: dict[str, int]) -> AnswerState:
    """The graph input for a new question: resets every per-turn field, keeps the thread's conversation."""
    return AnswerState(
        question=question,
        trace_id=trace_id,
        route="",
        search_query=question,
        plan=[],
        memories=[],
        messages=[],
        passages=[],
        context_passages=0,
        tool_calls=[],
        decisions={},
        draft="",
        revisions=0,
        reflections=[],
        steps=0,
        input_tokens=0,
        output_tokens=0,
        model="",
        latency_ms={},
        notes=[],
        stop_reason="",
        loaded_prompts=loaded_prompts,
        prompt_versions={},
        answer="",
        citations=[],
    )


@dataclass
class AnswerContext:
    """What one run works with; passed as LangGraph's run context (rebuilt, not restored, on resume)."""

    request: AgentRequest
    model: ChatModel
    tools: ToolRegistry
    tool_context: ToolContext
    prompts: dict[str, PromptVersion]
    config: AgentConfig
    approvals: ApprovalStore
    effects: ToolEffectLedger
    memory: MemoryStore | None = None
    on_progress: ProgressCallback | None = None
    # Where the answer's text goes as it is written (a streaming channel); None: the answer arrives whole.
    answer_text: AnswerTextStream | None = None
    # The time budget counts from here: each answer() or resume() call, so a person's approval wait is not counted.
    started_at: float = field(default_factory=time.time)

    @property
    def persona(self) -> PromptVersion:
        return self.prompts[self.request.persona_prompt]

    async def progress(self, stage: Stage, detail: str = "", *, sources: int = 0) -> None:
        if self.on_progress is not None:
            await self.on_progress(ProgressEvent(stage=stage, detail=detail, sources=sources))
