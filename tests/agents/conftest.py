"""Fixtures for the agent runtime: LangGraph persistence on the test database, the scripted model as chat model
and embedder, and a small in-test retriever over fixed passages.

The in-test ``FixedRetriever`` stands in for the real HybridRetriever (branch ``index``) until it is merged; it
implements the same ``knowledge.Retriever`` protocol, including the reader-scope and source filters.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentConfig, AgentPersistence, AgentRequest, AgentRuntime, Asker, ChatModelConfig
from agents.model_gateway import OpenAIChatModel
from knowledge import AccessList, EmbeddingsConfig, Passage, ReaderScope, SearchQuery
from knowledge.embeddings import OpenAIEmbedder
from tests.fakes.scripted_model import Responder, ScriptedModelServer, ScriptedReply
from tools import ToolsConfig

ACCEPT = json.dumps(
    {
        "supported": True,
        "cited": True,
        "answered": True,
        "obeyed_source_instructions": False,
        "verdict": "accept",
        "problems": [],
    }
)


def passage(chunk_id: int, title: str, text: str, *, source: str = "handbook", url: str | None = None) -> Passage:
    return Passage(
        chunk_id=chunk_id,
        document_id=chunk_id,
        external_id=f"doc-{chunk_id}",
        source=source,
        title=title,
        url=url or f"https://handbook.example.com/{title.lower().replace(' ', '-')}",
        heading_path=[title],
        text=text,
        score=0.0,
    )


VPN_MAC = passage(1, "VPN certificate rotation", "To rotate the VPN certificate run `vpnctl rotate --user you`.")
VPN_MACOS = passage(2, "VPN on macOS", "On macOS the VPN certificate is rotated from the Keychain Access app.")
HANDBOOK = [VPN_MAC, VPN_MACOS]


class FixedRetriever:
    """Word-overlap search over fixed passages, honouring the scope's access rule and the source filter."""

    def __init__(self, documents: Iterable[Passage | tuple[Passage, AccessList]] = HANDBOOK) -> None:
        self.documents = [d if isinstance(d, tuple) else (d, AccessList()) for d in documents]
        self.queries: list[SearchQuery] = []

    async def search(self, query: SearchQuery) -> list[Passage]:
        self.queries.append(query)
        words = _words(query.text)
        scored = []
        for found, access in self.documents:
            if not query.scope.may_read(access):
                continue
            if query.sources is not None and found.source not in query.sources:
                continue
            overlap = len(words & _words(found.title + " " + found.text))
            if overlap:
                scored.append(found.model_copy(update={"score": float(overlap)}))
        scored.sort(key=lambda p: -p.score)
        return scored[: query.limit]


STOPWORDS = {"the", "a", "i", "do", "how", "is", "to", "on", "what", "and", "for", "my", "of", "am", "which"}


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS}


def role_of(body: dict[str, Any]) -> str:
    """Which step of the graph a chat request comes from, told by its system prompt."""
    system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
    if system.startswith("You plan how to answer"):
        return "plan"
    if system.startswith("You review a draft answer"):
        return "reflect"
    if system.startswith("Summarise the earlier part"):
        return "summary"
    return "act"


def brain(
    *,
    act: Iterable[ScriptedReply | str] = (),
    reflect: Iterable[ScriptedReply | str] = (),
    plan: Iterable[ScriptedReply | str] = (),
    act_default: ScriptedReply | str = "I could not find that in the knowledge.",
) -> Responder:
    """A responder answering each graph step from its own queue, with harmless defaults once a queue is empty."""
    queues: dict[str, deque[ScriptedReply | str]] = {
        "act": deque(act),
        "reflect": deque(reflect),
        "plan": deque(plan),
        "summary": deque(),
    }
    defaults: dict[str, ScriptedReply | str] = {
        "act": act_default,
        "reflect": ACCEPT,
        "plan": '{"steps": ["search the knowledge", "answer"]}',
        "summary": "- earlier the user asked about the VPN",
    }

    def respond(body: dict[str, Any]) -> ScriptedReply:
        role = role_of(body)
        item = queues[role].popleft() if queues[role] else defaults[role]
        return ScriptedReply(text=item) if isinstance(item, str) else item

    return respond


def chat_requests(server: ScriptedModelServer, role: str | None = None) -> list[dict[str, Any]]:
    requests = [r for r in server.requests if "messages" in r]
    return [r for r in requests if role is None or role_of(r) == role]


def offered_tools(body: dict[str, Any]) -> list[str]:
    """The names of the tools a chat request offered the model."""
    return [spec["function"]["name"] for spec in body.get("tools") or []]


def make_request(
    question: str, thread_id: str, *, user: str = "U1", roles: Iterable[str] = (), approver_present: bool = False
) -> AgentRequest:
    asker = Asker(user_id=user, channel="cli", scope=ReaderScope.single(user), roles=frozenset(roles))  # type: ignore[arg-type]
    return AgentRequest(question=question, thread_id=thread_id, asker=asker, approver_present=approver_present)


@pytest.fixture(scope="module")
async def persistence(database_url: str, scripted_model_server: ScriptedModelServer) -> AsyncIterator[AgentPersistence]:
    embedder = OpenAIEmbedder(
        EmbeddingsConfig(provider="openai", base_url=scripted_model_server.base_url, model="scripted"), dimensions=16
    )
    opened = await AgentPersistence.open(database_url, embedder)
    yield opened
    await opened.aclose()
    await embedder.aclose()


RuntimeFactory = Callable[..., AgentRuntime]


@pytest.fixture
async def make_runtime(
    sessions: async_sessionmaker[AsyncSession], persistence: AgentPersistence, scripted_model: ScriptedModelServer
) -> AsyncIterator[RuntimeFactory]:
    """Build runtimes on the shared persistence; each call is a fresh instance, as after a restart."""
    models: list[OpenAIChatModel] = []

    def build(
        *,
        retriever: Any = None,
        config: AgentConfig | None = None,
        tools_config: ToolsConfig | None = None,
        with_model: bool = True,
        **kwargs: Any,
    ) -> AgentRuntime:
        model = None
        if with_model:
            model = OpenAIChatModel(
                ChatModelConfig(provider="openai", base_url=scripted_model.base_url, model="scripted", max_retries=0)
            )
            models.append(model)
        runtime = AgentRuntime(
            sessions=sessions,
            checkpointer=persistence.checkpointer,
            store=persistence.store,
            retriever=retriever if retriever is not None else FixedRetriever(),
            chat_model=model,
            config=config,
            tools_config=tools_config,
            **kwargs,
        )
        return runtime

    yield build
    for model in models:
        await model.aclose()
