"""A stand-in for the agent runtime, for channel tests (Slack, phone, schedules) that exercise the channel itself.

It implements ``agents.AgentRunner``: each answer is produced by ``reply`` (default: echo the question with one
citation), optionally after a delay, and every request is recorded. Given the approvals table, it records and decides
approvals there as the runtime does (channels read them from it). End-to-end tests use the real runtime instead.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncGenerator, Callable, Sequence

from agents import (
    AgentAnswer,
    AgentRequest,
    AnswerTextCallback,
    ApprovalStore,
    CallTurn,
    Citation,
    PendingApproval,
    ProgressCallback,
    ProgressEvent,
    VoiceEvent,
)


def echo_answer(request: AgentRequest) -> AgentAnswer:
    return AgentAnswer(
        text=f"Answer to: {request.question}",
        citations=[Citation(title="Handbook", url="https://handbook.northwind.example/README.md")],
        trace_id=uuid.uuid4().hex,
        prompt_versions={"answer": 1},
    )


class ScriptedAgentRunner:
    def __init__(
        self,
        reply: Callable[[AgentRequest], AgentAnswer] = echo_answer,
        delay_seconds: float = 0.0,
        approvals: ApprovalStore | None = None,
    ) -> None:
        self.reply = reply
        self.approvals = approvals
        self.delay_seconds = delay_seconds
        self.requests: list[AgentRequest] = []
        # What the phone's fast path was given as the call so far, one list per spoken answer.
        self.earlier: list[list[CallTurn]] = []
        self.resumed: list[tuple[str, bool, str]] = []
        self._pending: dict[str, PendingApproval] = {}

    async def answer(
        self,
        request: AgentRequest,
        on_progress: ProgressCallback | None = None,
        on_answer_text: AnswerTextCallback | None = None,
    ) -> AgentAnswer:
        self.requests.append(request)
        if on_progress is not None:
            await on_progress(ProgressEvent(stage="searching", detail="searching the knowledge base"))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        answer = self.reply(request)
        if on_answer_text is not None and answer.pending_approval is None:
            # Word by word, as a streaming model writes it.
            words = answer.text.split(" ")
            for index, word in enumerate(words):
                await on_answer_text(word if index == 0 else " " + word)
        if answer.pending_approval is not None:
            self._pending[answer.pending_approval.approval_id] = answer.pending_approval
            if self.approvals is not None:
                await self.approvals.record(answer.pending_approval, trace_id=answer.trace_id, request=request)
        return answer

    async def speak(self, request: AgentRequest, earlier: Sequence[CallTurn] = ()) -> AsyncGenerator[VoiceEvent, None]:
        """The same answer as ``answer``, streamed word by word."""
        self.earlier.append(list(earlier))
        answer = await self.answer(request)
        for index, word in enumerate(answer.text.split(" ")):
            yield VoiceEvent(delta=word if index == 0 else " " + word)
        yield VoiceEvent(answer=answer)

    async def resume(self, approval_id: str, *, approved: bool, decided_by: str, again: bool = False) -> AgentAnswer:
        if self.approvals is not None:
            await self.approvals.decide(approval_id, approved=approved, decided_by=decided_by, again=again)
        pending = self._pending.pop(approval_id)
        self.resumed.append((approval_id, approved, decided_by))
        verdict = "done" if approved else "cancelled"
        return AgentAnswer(text=f"{pending.tool_name} {verdict}", trace_id=uuid.uuid4().hex)
