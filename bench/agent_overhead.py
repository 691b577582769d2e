"""Per-turn overhead of Switchboard's answer graph against LangGraph's prebuilt ReAct agent.

Both run against the same zero-latency scripted model on loopback (tests/fakes/scripted_model.py), the same
PostgreSQL checkpointer on the embedded server, and the same in-memory retriever, with two model calls per turn each:
Switchboard retrieves directly, drafts, and reflects (plus memory recall, prompt loading and the trace write);
the baseline calls the search tool, then answers. Each turn is a new thread.

Run: .venv/bin/python bench/agent_overhead.py [--quick] [--turns N]
Last stdout line: one JSON object with p50/p95 in ms for both, the p50 overhead and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import math
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun  # noqa: E402
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.tools import tool as langchain_tool  # noqa: E402
from langchain_core.utils.function_calling import convert_to_openai_tool  # noqa: E402
from langgraph.prebuilt import create_react_agent  # noqa: E402

from agents import (  # noqa: E402
    AgentPersistence,
    AgentRequest,
    AgentRuntime,
    Asker,
    ChatMessage,
    ChatModel,
    ChatModelConfig,
    ToolCall,
    ToolSpec,
)
from agents.model_gateway import OpenAIChatModel  # noqa: E402
from bot import start_embedded_postgres, upgrade_database  # noqa: E402
from knowledge import Embedder, Passage, ReaderScope, SearchQuery, create_engine, session_factory  # noqa: E402
from testing_support.databases import create_database  # noqa: E402
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply, ScriptedToolCall  # noqa: E402

ACCEPT = json.dumps(
    {"supported": True, "cited": True, "answered": True, "obeyed_source_instructions": False, "verdict": "accept"}
)
BASELINE_PROMPT = "BASELINE: answer from the knowledge; call search_knowledge first."
QUESTION = "How do I rotate the VPN certificate?"
PASSAGES = [
    Passage(
        chunk_id=i,
        document_id=i,
        external_id=f"doc-{i}",
        source="handbook",
        title=f"VPN page {i}",
        url=f"https://handbook.example.com/vpn-{i}",
        text="To rotate the VPN certificate run vpnctl rotate. " * 8,
        score=1.0 / i,
    )
    for i in range(1, 7)
]


class InMemoryRetriever:
    async def search(self, query: SearchQuery) -> list[Passage]:
        return PASSAGES[: query.limit]


class HashEmbedder(Embedder):
    """A deterministic in-process embedder, so memory recall costs a vector search, not an HTTP call."""

    @property
    def name(self) -> str:
        return "bench/hash-64"

    @property
    def dimensions(self) -> int:
        return 64

    async def embed(self, texts: list[str]) -> list[list[float]]:
        vectors = []
        for text in texts:
            vector = [0.0] * 64
            for word in text.lower().split():
                vector[hashlib.sha256(word.encode()).digest()[0] % 64] += 1.0
            norm = math.sqrt(sum(v * v for v in vector)) or 1.0
            vectors.append([v / norm for v in vector])
        return vectors


def responder(body: dict[str, Any]) -> ScriptedReply:
    messages = body["messages"]
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    if system.startswith("You review a draft answer"):
        return ScriptedReply(text=ACCEPT)
    if system.startswith(BASELINE_PROMPT) and messages[-1]["role"] != "tool":
        return ScriptedReply(tool_calls=[ScriptedToolCall(name="search_knowledge", arguments={"query": QUESTION})])
    return ScriptedReply(text="Run `vpnctl rotate` [1].")


class GatewayChatModel(BaseChatModel):
    """A minimal LangChain chat model over Switchboard's ChatModel, only so the prebuilt agent can use it."""

    gateway: Any

    @property
    def _llm_type(self) -> str:
        return "switchboard-gateway"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
        specs = []
        for item in tools:
            function = convert_to_openai_tool(item)["function"]
            specs.append(
                ToolSpec(
                    name=function["name"],
                    description=function.get("description", ""),
                    parameters=function.get("parameters", {}),
                )
            )
        return self.bind(tools=specs, **kwargs)

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kwargs: Any
    ) -> ChatResult:
        # LangChain requires the synchronous hook to exist; the benchmark only ever awaits the model.
        raise TypeError("this benchmark adapter is async only: call ainvoke")

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        converted = [_to_gateway(message) for message in messages]
        response = await self.gateway.complete(converted, tools=kwargs.get("tools"))
        message = AIMessage(
            content=response.text,
            tool_calls=[{"name": c.name, "args": c.arguments, "id": c.id} for c in response.tool_calls],
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def _to_gateway(message: BaseMessage) -> ChatMessage:
    role = {"system": "system", "human": "user", "ai": "assistant", "tool": "tool"}[message.type]
    content = message.content if isinstance(message.content, str) else json.dumps(message.content)
    if isinstance(message, AIMessage):
        calls = [ToolCall(id=c["id"] or "", name=c["name"], arguments=c["args"]) for c in message.tool_calls]
        return ChatMessage(role="assistant", content=content, tool_calls=calls)
    if isinstance(message, ToolMessage):
        return ChatMessage(role="tool", content=content, tool_call_id=message.tool_call_id)
    return ChatMessage(role=role, content=content)  # type: ignore[arg-type]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def run(database_url: str, model_server: ScriptedModelServer, turns: int, warmup: int) -> dict[str, Any]:
    persistence = await AgentPersistence.open(database_url, HashEmbedder())
    gateway: ChatModel = OpenAIChatModel(
        ChatModelConfig(provider="openai", base_url=model_server.base_url, model="scripted", max_retries=0)
    )
    engine = create_engine(database_url)
    runtime = AgentRuntime(
        sessions=session_factory(engine),
        checkpointer=persistence.checkpointer,
        store=persistence.store,
        retriever=InMemoryRetriever(),
        chat_model=gateway,
    )
    retriever = InMemoryRetriever()

    @langchain_tool
    async def search_knowledge(query: str) -> str:
        """Search the company's internal knowledge."""
        found = await retriever.search(SearchQuery(text=query, scope=ReaderScope.single("U1")))
        return "\n".join(f"[{i}] {p.title}: {p.text}" for i, p in enumerate(found, 1))

    baseline = create_react_agent(
        GatewayChatModel(gateway=gateway),
        [search_knowledge],
        prompt=BASELINE_PROMPT,
        checkpointer=persistence.checkpointer,
    )
    asker = Asker(user_id="U1", channel="cli", scope=ReaderScope.single("U1"))

    async def switchboard_turn() -> None:
        answer = await runtime.answer(AgentRequest(question=QUESTION, thread_id=uuid.uuid4().hex, asker=asker))
        assert answer.citations, answer.text  # the trace is stored before the answer returns

    async def baseline_turn() -> None:
        config = {"configurable": {"thread_id": uuid.uuid4().hex}}
        result = await baseline.ainvoke({"messages": [("user", QUESTION)]}, config)
        assert "vpnctl" in result["messages"][-1].content

    timings: dict[str, list[float]] = {"switchboard": [], "baseline": []}
    for _ in range(warmup):
        await switchboard_turn()
        await baseline_turn()
    for _ in range(turns):  # interleaved, so drift on a shared machine hits both alike
        for name, turn in (("switchboard", switchboard_turn), ("baseline", baseline_turn)):
            started = time.perf_counter()
            await turn()
            timings[name].append((time.perf_counter() - started) * 1000)
    model_calls = len(model_server.requests)
    await gateway.aclose()
    await persistence.aclose()
    await engine.dispose()
    sb, base = timings["switchboard"], timings["baseline"]
    return {
        "turns": turns,
        "model_requests": model_calls,
        "switchboard_p50_ms": round(statistics.median(sb), 2),
        "switchboard_p95_ms": round(percentile(sb, 0.95), 2),
        "baseline_p50_ms": round(statistics.median(base), 2),
        "baseline_p95_ms": round(percentile(base, 0.95), 2),
        "overhead_p50_ms": round(statistics.median(sb) - statistics.median(base), 2),
        "ratio_p50": round(statistics.median(sb) / statistics.median(base), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 turns each (well under a minute)")
    parser.add_argument("--turns", type=int, default=None, help="turns per agent (default 200, quick 40)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    turns = args.turns or (40 if args.quick else 200)
    home = Path(tempfile.mkdtemp(prefix="sbbench-", dir="/tmp"))
    home.chmod(0o755)  # the embedded server runs as its own OS user when started by root
    server = start_embedded_postgres(home)
    model_server = ScriptedModelServer().start()
    model_server.responder = responder
    try:
        database_url = create_database(server.url, prefix="bench")
        upgrade_database(database_url)
        result = asyncio.run(run(database_url, model_server, turns, warmup=5))
    finally:
        model_server.stop()
        server.stop()
    print(
        f"switchboard p50 {result['switchboard_p50_ms']} ms p95 {result['switchboard_p95_ms']} ms | "
        f"baseline p50 {result['baseline_p50_ms']} ms p95 {result['baseline_p95_ms']} ms | "
        f"overhead p50 {result['overhead_p50_ms']} ms, ratio {result['ratio_p50']}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
