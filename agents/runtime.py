"""The agent runtime the channels call: ``AgentRuntime`` implements ``AgentRunner``.

It loads the live prompts, runs the answer graph in the request's thread, pauses and resumes side-effect tools,
continues a run that a crash interrupted, falls back to retrieval-only answers without a model, and stores a trace
of every run.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore
from langgraph.types import Command
from opentelemetry.trace import TracerProvider
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.answer_graph import build_answer_graph
from agents.answer_parsing import resolve_citations, unique_sources
from agents.answer_state import AnswerContext, AnswerState, turn_input
from agents.answer_streaming import AnswerTextStream
from agents.answers import (
    AgentAnswer,
    AgentRequest,
    AnswerTextCallback,
    Attachment,
    Citation,
    PendingApproval,
    ProgressCallback,
    ProgressEvent,
    VerifiedBy,
)
from agents.approvals import ApprovalStore
from agents.config import AgentConfig
from agents.curated import CuratedMatcher, CuratedStore, ScoredCandidate
from agents.errors import ApprovalNotFoundError, ModelError, ModelNotConfiguredError
from agents.intake import CallTurn
from agents.long_term_memory import MemoryStore
from agents.model_gateway import ChatModel
from agents.passage_reading_order import in_reading_order
from agents.prompt_assembly import wrap_memories
from agents.prompts import PromptStore, PromptVersion
from agents.question_routing import choose_route
from agents.telemetry import export_run, run_tracer
from agents.thread_leases import ThreadLeases
from agents.tool_effects import ToolEffectLedger
from agents.trace_privacy import TraceRedactor
from agents.traces import TraceRecord, TraceStatus, TraceStore
from agents.voice_answers import VoiceEvent, voice_messages
from knowledge import Embedder, Retriever, SearchQuery
from tools import ToolContext, ToolRegistry, ToolsConfig

logger = logging.getLogger(__name__)

# Every prompt a run may use, loaded once when it starts (the persona is added per request).
RUN_PROMPTS = ("answer", "planner", "reflection", "memory", "summary")
NO_MODEL_LABEL = "Retrieval-only answer (no chat model is configured)"
MODEL_FAILED_LABEL = "Retrieval-only answer (the chat model failed)"
NO_INDEX = "Retrieval-only mode, and no knowledge index is configured, so there is nothing to search."
NOTHING_FOUND = "nothing in the knowledge matches this question."
EXCERPT_CHARS = 400
# How long a thread's lease outlives a replica that died mid-run (the holder renews it while it runs).
THREAD_LEASE_SECONDS = 15.0


class AgentRuntime:
    """Answers questions in threads with tools, memory, reflection, approvals and traces."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        checkpointer: BaseCheckpointSaver[Any],
        store: BaseStore | None,
        retriever: Retriever | None,
        chat_model: ChatModel | None,
        tools: ToolRegistry | None = None,
        tools_config: ToolsConfig | None = None,
        config: AgentConfig | None = None,
        tracer_provider: TracerProvider | None = None,
        on_run: Callable[[TraceRecord, str], None] | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """Build the runtime.

        Args:
            sessions: the service's database sessions (prompts, traces, approvals).
            checkpointer: LangGraph checkpointer, one thread per conversation (``AgentPersistence.checkpointer``).
            store: LangGraph store with a vector index for long-term memories; None disables them.
            retriever: the knowledge index searched as the asker; None when no index is configured.
            chat_model: None runs in retrieval-only mode.
            tools: the tool registry; by default every tool the installed packages declare.
            tracer_provider: where OpenTelemetry spans of runs go; by default the process-wide provider (a no-op
                unless an OpenTelemetry SDK is configured).
            on_run: told of each stored trace with the run's persona prompt name (the service's metrics).
            embedder: the knowledge index's embedder, for the semantic half of matching questions to curated
                answers; None matches them lexically only.
        """
        self.config = config or AgentConfig()
        self.prompts = PromptStore(sessions, live_cache_seconds=self.config.prompt_cache_seconds)
        self.traces = TraceStore(sessions, redact=TraceRedactor(self.config.trace_privacy).record)
        self.approvals = ApprovalStore(sessions)
        self.effects = ToolEffectLedger(sessions)
        self.curated = CuratedStore(sessions, embedder)
        self.curated_matcher = CuratedMatcher(sessions, self.curated, embedder, self.config.curated)
        self.memory = (
            MemoryStore(store, recall_limit=self.config.memory_recall_limit, min_score=self.config.memory_min_score)
            if store is not None
            else None
        )
        self.tools = tools or ToolRegistry.from_entry_points(enabled=self.config.enabled_tools)
        self._tools_config = tools_config or ToolsConfig()
        self._retriever = retriever
        self._model = chat_model
        self._graph = build_answer_graph(checkpointer, store)
        self._tracer = run_tracer(tracer_provider)
        self._on_run = on_run
        # One run at a time per thread (e.g. two quick messages must not interleave checkpoints): a lock in this
        # process, then a renewed lease in the database for the other replicas.
        self._thread_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._leases = ThreadLeases(sessions, lease_seconds=THREAD_LEASE_SECONDS)

    def _thread_lock(self, thread_id: str) -> asyncio.Lock:
        lock = self._thread_locks.get(thread_id)
        if lock is None:
            lock = asyncio.Lock()
            self._thread_locks[thread_id] = lock
        return lock

    @property
    def mode(self) -> str:
        return "agent" if self._model is not None else "retrieval-only"

    async def answer(
        self,
        request: AgentRequest,
        on_progress: ProgressCallback | None = None,
        on_answer_text: AnswerTextCallback | None = None,
    ) -> AgentAnswer:
        """Answer in the request's thread. Asking the same question again after a crash continues that run.

        With ``on_answer_text`` the answer's text is also passed on as it is written (see ``answer_streaming``).
        """
        started = time.perf_counter()
        if request.use_curated:
            match = await self.curated_matcher.match(request.question, request.asker)
            if match.served is not None:
                return await self._curated_answer(request, match.served, started)
            if match.context:
                request = request.model_copy(
                    update={"attachments": [*request.attachments, *(_as_context(c) for c in match.context)]}
                )
        if self._model is None:
            return await self._retrieval_only(request, on_progress, str(uuid.uuid4().hex), NO_MODEL_LABEL, started)
        async with self._thread_lock(request.thread_id), self._leases.hold(request.thread_id):
            return await self._answer_in_thread(request, on_progress, started, on_answer_text)

    async def _answer_in_thread(
        self,
        request: AgentRequest,
        on_progress: ProgressCallback | None,
        started: float,
        on_answer_text: AnswerTextCallback | None = None,
    ) -> AgentAnswer:
        config = _thread(request.thread_id)
        snapshot = await self._graph.aget_state(config)
        values: dict[str, Any] = snapshot.values or {}
        graph_input: AnswerState | None
        if snapshot.next and not snapshot.interrupts and values.get("question") == request.question:
            logger.info("continuing the interrupted run %s from its last checkpoint", values.get("trace_id"))
            trace_id = str(values["trace_id"])
            prompts = await self._load_prompts(request, pinned=values.get("loaded_prompts"))
            graph_input = None
        else:
            if snapshot.interrupts:
                superseded = await self.approvals.supersede(request.thread_id)
                logger.info("a new question replaced a run waiting for approval (%d superseded)", superseded)
            trace_id = uuid.uuid4().hex
            prompts = await self._load_prompts(request, pinned=request.prompt_overrides)
            graph_input = turn_input(request.question, trace_id, {n: p.version for n, p in prompts.items()})
        return await self._run(graph_input, request, trace_id, prompts, on_progress, started, on_answer_text)

    async def speak(self, request: AgentRequest, earlier: Sequence[CallTurn] = ()) -> AsyncGenerator[VoiceEvent, None]:
        """Answer for a phone caller: one search, one streamed model call, no planning, tools or reflection.

        Yields text deltas as the model writes them, then the whole answer (citations resolved, trace stored). The
        call's own transcript (``earlier``) is the conversation, so no graph checkpoint is read or written. Raises
        ``ModelError`` when the model fails; a caller who hangs up or interrupts just stops the iteration.
        """
        started = time.perf_counter()
        trace_id = uuid.uuid4().hex
        if self._model is None or choose_route(request.question) == "planned":
            # Asking to remember, act or compare needs the tool loop: the full run, said once it is done.
            answer = await self.answer(request)
            yield VoiceEvent(delta=answer.text)
            yield VoiceEvent(answer=answer)
            return
        if request.use_curated:
            match = await self.curated_matcher.match(request.question, request.asker)
            if match.served is not None:
                answer = await self._curated_answer(request, match.served, started)
                yield VoiceEvent(delta=answer.text)
                yield VoiceEvent(answer=answer)
                return
        prompts = await self.prompts.live_prompts([request.persona_prompt], overrides=request.prompt_overrides)
        persona = prompts[request.persona_prompt]
        passages: list[dict[str, Any]] = []
        if self._retriever is not None:
            asker = request.asker
            query = SearchQuery(
                text=request.question, scope=asker.scope, limit=self.config.retrieval_limit, sources=asker.sources
            )
            passages = [p.model_dump(mode="json") for p in await self._retriever.search(query)]
        memories: list[str] = []
        if self.memory is not None and request.asker.long_term_memory and self.config.memory_recall_limit > 0:
            asker = request.asker
            recalled = await self.memory.recall(
                workspace_id=asker.workspace_id, user_id=asker.user_id, query=request.question
            )
            memories = [memory.text for memory in recalled]
        searched = time.perf_counter()
        persona_text = persona.text
        if memories:
            memory_prompt = await self.prompts.live_prompts(["memory"], overrides=request.prompt_overrides)
            persona_text += f"\n\n{memory_prompt['memory'].text}\n{wrap_memories(memories)}"
        messages = voice_messages(persona_text, request.question, earlier, passages)
        pieces: list[str] = []
        values: dict[str, Any] = {"passages": passages, "route": "voice", "model": self._model.model}
        first_token: float | None = None
        async for event in self._model.stream(messages):
            if event.delta:
                first_token = first_token or time.perf_counter()
                pieces.append(event.delta)
                yield VoiceEvent(delta=event.delta)
            if event.response is not None:
                values["model"] = event.response.model or self._model.model
                values["input_tokens"] = event.response.usage.input_tokens
                values["output_tokens"] = event.response.usage.output_tokens
        done = time.perf_counter()
        values["latency_ms"] = {
            "retrieve": round((searched - started) * 1000, 3),
            "first_token": round(((first_token or done) - searched) * 1000, 3),
            "speak": round((done - searched) * 1000, 3),
        }
        text, citations = resolve_citations("".join(pieces).strip(), passages)
        answer = AgentAnswer(
            text=text,
            citations=[Citation.model_validate(citation) for citation in citations],
            trace_id=trace_id,
            prompt_versions={persona.name: persona.version},
        )
        await self._save_trace(request, trace_id, values, answer, "done", started)
        yield VoiceEvent(answer=answer)

    async def resume(
        self,
        approval_id: str,
        *,
        approved: bool,
        decided_by: str,
        on_progress: ProgressCallback | None = None,
        again: bool = False,
    ) -> AgentAnswer:
        """Continue the run waiting for ``approval_id`` from its checkpoint (works in a new process).

        ``again``: this resume was started before, by a worker that died; it continues from the run's last
        checkpoint with the decision recorded then (an approved side-effect call is still made only once).

        Raises:
            ApprovalNotFoundError: no run is waiting for this id (unknown, already decided, or superseded).
        """
        started = time.perf_counter()
        found = await self.approvals.find(approval_id)
        if found is None or (found.status != "pending" and not again):
            await self.approvals.pending(approval_id)  # raises, saying why
        thread_id = found.thread_id if found is not None else ""
        async with self._thread_lock(thread_id), self._leases.hold(thread_id):
            return await self._resume_in_thread(
                approval_id, thread_id, approved, decided_by, on_progress, started, again
            )

    async def _resume_in_thread(
        self,
        approval_id: str,
        thread_id: str,
        approved: bool,
        decided_by: str,
        on_progress: ProgressCallback | None,
        started: float,
        again: bool,
    ) -> AgentAnswer:
        config = _thread(thread_id)
        snapshot = await self._graph.aget_state(config)
        waiting = [
            i for i in snapshot.interrupts if isinstance(i.value, dict) and i.value.get("approval_id") == approval_id
        ]
        # A retried resume whose first attempt got past the approval: carry on from the last checkpoint.
        continuing = again and not waiting and bool(snapshot.next) and not snapshot.interrupts
        if not waiting and not continuing:
            await self.approvals.supersede(thread_id)
            raise ApprovalNotFoundError(
                f"the run that asked for approval {approval_id} is no longer waiting (a newer question replaced it)"
            )
        if self._model is None:
            raise ModelNotConfiguredError("cannot resume a paused run: no chat model is configured (LLM_PROVIDER=none)")
        decided = await self.approvals.decide(approval_id, approved=approved, decided_by=decided_by, again=again)
        prompts = await self._load_prompts(decided.request, pinned=snapshot.values.get("loaded_prompts"))
        logger.info("approval %s %s by %s", approval_id, "granted" if approved else "declined", decided_by)
        resume: Command[Any] | None = (
            None if continuing else Command(resume={"approved": approved, "decided_by": decided_by})
        )
        # Somebody decided, so the run has an approver, whatever the stored request says (requests stored before
        # the field existed say no).
        request = decided.request.model_copy(update={"approver_present": True})
        return await self._run(resume, request, decided.trace_id, prompts, on_progress, started)

    async def _load_prompts(self, request: AgentRequest, pinned: dict[str, int] | None) -> dict[str, PromptVersion]:
        names = [*RUN_PROMPTS, request.persona_prompt]
        return await self.prompts.live_prompts(names, overrides=pinned or {})

    def _context(
        self,
        request: AgentRequest,
        prompts: dict[str, PromptVersion],
        on_progress: ProgressCallback | None,
        on_answer_text: AnswerTextCallback | None = None,
    ) -> AnswerContext:
        if self._model is None:
            raise ModelNotConfiguredError("the answer graph needs a chat model; without one answers are retrieval-only")
        asker = request.asker
        memory = self.memory if asker.long_term_memory else None
        tool_context = ToolContext(
            user_id=asker.user_id,
            workspace_id=asker.workspace_id,
            scope=asker.scope,
            settings=self._tools_config,
            roles=frozenset(asker.roles),
            sources=asker.sources,
            retriever=self._retriever,
            memory=memory,
            asker_message=request.question,
            approver_present=request.approver_present,
        )
        return AnswerContext(
            request=request,
            model=self._model,
            tools=self.tools,
            tool_context=tool_context,
            prompts=prompts,
            config=self.config,
            approvals=self.approvals,
            effects=self.effects,
            memory=memory,
            on_progress=on_progress,
            answer_text=AnswerTextStream(on_answer_text) if on_answer_text is not None else None,
        )

    async def _run(
        self,
        graph_input: AnswerState | Command[Any] | None,
        request: AgentRequest,
        trace_id: str,
        prompts: dict[str, PromptVersion],
        on_progress: ProgressCallback | None,
        started: float,
        on_answer_text: AnswerTextCallback | None = None,
    ) -> AgentAnswer:
        context = self._context(request, prompts, on_progress, on_answer_text)
        config = _thread(request.thread_id)
        try:
            result: dict[str, Any] = await self._graph.ainvoke(graph_input, config, context=context)
        except ModelError as error:
            # The user still gets the passages; the thread keeps its checkpoint, so asking again continues the run.
            logger.warning("model failed during run %s: %s", trace_id, error)
            return await self._retrieval_only(
                request, on_progress, trace_id, MODEL_FAILED_LABEL, started, error=str(error)
            )
        interrupts = result.get("__interrupt__") or []
        if interrupts:
            pending = PendingApproval.model_validate(interrupts[0].value)
            answer = AgentAnswer(
                text=f"Before I go on I need a person to approve this action: {pending.description}.",
                trace_id=trace_id,
                prompt_versions=dict(result.get("prompt_versions") or {}),
                pending_approval=pending,
            )
            await self._save_trace(request, trace_id, result, answer, "waiting", started)
            return answer
        answer = AgentAnswer(
            text=result["answer"],
            citations=[Citation.model_validate(citation) for citation in result["citations"]],
            trace_id=trace_id,
            prompt_versions=dict(result["prompt_versions"]),
            notes=list(result["notes"]),
        )
        await self._save_trace(request, trace_id, result, answer, "done", started)
        return answer

    async def _curated_answer(self, request: AgentRequest, match: ScoredCandidate, started: float) -> AgentAnswer:
        """An expert's curated answer, as written, with its sources: no model call, no retrieval."""
        curated = match.answer
        trace_id = uuid.uuid4().hex
        answer = AgentAnswer(
            text=curated.live.answer,
            citations=[Citation(title=s.title, url=s.url, source=s.source) for s in curated.live.sources],
            trace_id=trace_id,
            mode="curated",
            verified=VerifiedBy(
                curated_id=curated.id,
                version=curated.live.version,
                author=curated.live.author,
                verified_at=curated.live.created_at,
                score=round(match.score, 4),
            ),
        )
        await self.curated.record_hit(curated.id)
        logger.info("answered from curated answer #%d v%d (score %.3f)", curated.id, curated.live.version, match.score)
        values = {"route": "curated", "latency_ms": {"curated_match": round((time.perf_counter() - started) * 1000, 3)}}
        await self._save_trace(request, trace_id, values, answer, "done", started)
        return answer

    async def _retrieval_only(
        self,
        request: AgentRequest,
        on_progress: ProgressCallback | None,
        trace_id: str,
        label: str,
        started: float,
        *,
        error: str | None = None,
    ) -> AgentAnswer:
        """The best passages with their sources, labelled as such: no model, or the model failed."""
        if on_progress is not None:
            await on_progress(ProgressEvent(stage="searching", detail=request.question))
        passages: list[dict[str, Any]] = []
        if self._retriever is None:
            text = NO_INDEX
        else:
            asker = request.asker
            query = SearchQuery(
                text=request.question, scope=asker.scope, limit=self.config.retrieval_limit, sources=asker.sources
            )
            passages = [p.model_dump(mode="json") for p in await self._retriever.search(query)]
            text = _passage_listing(label, passages) if passages else f"{label}: {NOTHING_FOUND}"
        notes = [] if error is None else ["The chat model could not answer just now, so this lists passages instead."]
        answer = AgentAnswer(
            text=text,
            citations=[Citation.model_validate(c) for c in unique_sources(passages)],
            trace_id=trace_id,
            mode="retrieval-only",
            notes=notes,
        )
        values = {"passages": passages, "route": "retrieval-only"}
        await self._save_trace(request, trace_id, values, answer, "failed" if error else "done", started, error=error)
        return answer

    async def _save_trace(
        self,
        request: AgentRequest,
        trace_id: str,
        values: dict[str, Any],
        answer: AgentAnswer,
        status: TraceStatus,
        started: float,
        *,
        error: str | None = None,
    ) -> None:
        asker = request.asker
        record = TraceRecord(
            trace_id=trace_id,
            thread_id=request.thread_id,
            user_id=asker.user_id,
            channel=asker.channel,
            workspace_id=asker.workspace_id,
            question=request.question,
            answer=answer.text,
            mode=answer.mode,
            status=status,
            route=str(values.get("route") or ""),
            model=str(values.get("model") or ""),
            plan=list(values.get("plan") or []),
            tool_calls=list(values.get("tool_calls") or []),
            chunk_ids=[int(p["chunk_id"]) for p in values.get("passages") or []],
            prompt_versions=answer.prompt_versions,
            reflections=list(values.get("reflections") or []),
            latency_ms=dict(values.get("latency_ms") or {}),
            notes=answer.notes,
            input_tokens=int(values.get("input_tokens") or 0),
            output_tokens=int(values.get("output_tokens") or 0),
            total_ms=round((time.perf_counter() - started) * 1000, 3),
            error=error,
        )
        # Stored before the answer is returned (and so before any channel shows its trace id on a button).
        await self.traces.save(record)
        if self._on_run is not None:
            self._on_run(record, request.persona_prompt)
        provider = self._model.provider if self._model is not None else "none"
        export_run(self._tracer, record, provider_name=provider, ended_at=time.time())


def _as_context(match: ScoredCandidate) -> Attachment:
    """A close curated answer handed to the agent as data for this question (not instructions)."""
    live = match.answer.live
    sources = "".join(f"\nsource: {source.url}" for source in live.sources)
    return Attachment(name=f"verified answer to a similar question: {live.question}"[:200], text=live.answer + sources)


def _thread(thread_id: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id}}


def _passage_listing(label: str, passages: list[dict[str, Any]]) -> str:
    """The passages as a reader would want them: each section in document order, copies named once."""
    lines = [f"{label}: the most relevant passages in the knowledge, not a written answer:"]
    for number, passage in enumerate(in_reading_order(passages), 1):
        heading = " > ".join(passage.get("heading_path") or [])
        title = f"{passage['title']} > {heading}" if heading else passage["title"]
        excerpt = " ".join(passage["text"].split())
        budget = EXCERPT_CHARS * passage["merged"]
        if len(excerpt) > budget:
            excerpt = excerpt[:budget].rsplit(" ", 1)[0] + " ..."
        lines.append(f"\n[{number}] {title}\n{excerpt}\n{passage['url']}")
        if passage.get("also_in"):
            lines.append("also in: " + ", ".join(f"{copy['title']} ({copy['url']})" for copy in passage["also_in"]))
    return "\n".join(lines)
