"""Curated answers through the real runtime: matched on paraphrases, served without a model call, never to someone
who may not read their sources, sent to review when a source changes, scoped to channels, mirrored as eval cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents import AgentConfig, AgentRequest, Asker, CuratedAnswerInputError, CuratedConfig
from agents.evaluation import EvaluationSetStore
from knowledge import AccessList, Embedder, HybridRetriever, ReaderScope, SourceDocument, SyncEngine
from knowledge.embeddings import WordLlamaEmbedder
from tests.agents.conftest import RuntimeFactory, brain, chat_requests
from tests.fakes.knowledge_sources import ListSource
from tests.fakes.scripted_model import ScriptedModelServer

VPN_URL = "https://handbook.example.com/it/vpn.md"
BANDS_URL = "https://handbook.example.com/hr/bands.md"


def _documents(vpn_text: str = "Run `vpnctl rotate --user you` to rotate the VPN certificate.") -> list[SourceDocument]:
    return [
        SourceDocument(
            source="handbook",
            external_id="it/vpn.md",
            title="VPN certificate rotation",
            url=VPN_URL,
            content=f"# VPN certificate rotation\n\n{vpn_text}\n",
        ),
        SourceDocument(
            source="handbook",
            external_id="hr/bands.md",
            title="Compensation bands",
            url=BANDS_URL,
            content="# Compensation bands\n\nEngineers in band L3 earn between 90k and 120k.\n",
            access=AccessList.restricted(groups=["hr"]),
        ),
    ]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return WordLlamaEmbedder()


@pytest.fixture
async def indexed(
    sessions: async_sessionmaker[AsyncSession], embedder: Embedder
) -> AsyncIterator[tuple[SyncEngine, ListSource]]:
    source = ListSource("handbook", list(_documents()))
    engine = SyncEngine(sessions, embedder)
    await engine.sync(ListSource("handbook", list(_documents())))
    yield engine, source


def _ask(question: str, *, user: str = "U1", groups: tuple[str, ...] = (), channel: str | None = None) -> AgentRequest:
    asker = Asker(user_id=user, channel="slack", scope=ReaderScope.single(user, groups), conversation_id=channel)
    return AgentRequest(question=question, thread_id=f"t-{question[:20]}-{user}-{channel}", asker=asker)


@pytest.fixture
def runtime_with(
    make_runtime: RuntimeFactory, sessions: async_sessionmaker[AsyncSession], embedder: Embedder
) -> RuntimeFactory:
    def build(**kwargs: object) -> object:
        return make_runtime(retriever=HybridRetriever(sessions, embedder), embedder=embedder, **kwargs)

    return build  # type: ignore[return-value]


async def test_a_correction_answers_a_paraphrase_without_a_model_call_and_not_an_unrelated_question(
    indexed: object, runtime_with: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(act=["The model's own answer."])
    runtime = runtime_with()
    curated = await runtime.curated.add(
        "How do I rotate my VPN certificate?",
        "Run `vpnctl rotate --user you`; it takes a minute.",
        author="U_EDITOR",
        sources=[VPN_URL],
    )

    answer = await runtime.answer(_ask("how can I rotate the VPN certificate?"))
    assert answer.mode == "curated"
    assert answer.text == "Run `vpnctl rotate --user you`; it takes a minute."
    assert [c.url for c in answer.citations] == [VPN_URL]
    assert answer.verified is not None and answer.verified.author == "U_EDITOR"
    assert chat_requests(scripted_model) == []
    trace = await runtime.traces.get(answer.trace_id)
    assert trace is not None and trace.route == "curated"

    unrelated = await runtime.answer(_ask("Where do I return my old laptop?"))
    assert unrelated.mode == "agent" and unrelated.verified is None
    assert chat_requests(scripted_model, "act")

    stored = await runtime.curated.get(curated.id)
    assert stored.hit_count == 1 and stored.last_used_at is not None
    await runtime.curated.retire(curated.id, author="U_EDITOR")


async def test_a_correction_citing_a_restricted_source_is_served_only_to_those_who_may_read_it(
    indexed: object, runtime_with: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain()
    runtime = runtime_with()
    curated = await runtime.curated.add(
        "What do L3 engineers earn?", "Between 90k and 120k.", author="U_EDITOR", sources=[BANDS_URL]
    )

    outsider = await runtime.answer(_ask("what do L3 engineers earn?", user="U_OUT"))
    assert outsider.mode == "agent" and "90k" not in outsider.text
    insider = await runtime.answer(_ask("what do L3 engineers earn?", user="U_HR", groups=("hr",)))
    assert insider.mode == "curated" and insider.text == "Between 90k and 120k."
    await runtime.curated.retire(curated.id, author="U_EDITOR")


async def test_a_correction_whose_source_changed_is_flagged_and_not_served_until_reviewed(
    indexed: tuple[SyncEngine, ListSource], runtime_with: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain()
    engine, _ = indexed
    runtime = runtime_with()
    curated = await runtime.curated.add(
        "How do I rotate my VPN certificate?", "Run vpnctl rotate.", author="U_EDITOR", sources=[VPN_URL]
    )
    await engine.sync(ListSource("handbook", _documents("Certificates now rotate from the self-service portal.")))

    answer = await runtime.answer(_ask("How do I rotate my VPN certificate?"))
    assert answer.mode == "agent"
    flagged = await runtime.curated.get(curated.id)
    assert flagged.status == "needs_review" and VPN_URL in flagged.review_reason

    confirmed = await runtime.curated.edit(curated.id, author="U_EDITOR", answer="Use the self-service portal.")
    assert confirmed.status == "active" and confirmed.live.version == 2
    again = await runtime.answer(_ask("How do I rotate my VPN certificate?", user="U2"))
    assert again.mode == "curated" and again.text == "Use the self-service portal."
    await runtime.curated.retire(curated.id, author="U_EDITOR")
    await engine.sync(ListSource("handbook", _documents()))


async def test_a_channel_scoped_correction_is_served_only_in_its_channels(
    indexed: object, runtime_with: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain()
    runtime = runtime_with()
    curated = await runtime.curated.add(
        "How do I rotate my VPN certificate?", "Ask #it-help.", author="U_EDITOR", channels=["C_IT"]
    )
    elsewhere = await runtime.answer(_ask("How do I rotate my VPN certificate?", channel="C_RANDOM"))
    assert elsewhere.mode == "agent"
    inside = await runtime.answer(_ask("How do I rotate my VPN certificate?", channel="C_IT"))
    assert inside.mode == "curated"
    await runtime.curated.retire(curated.id, author="U_EDITOR")


async def test_close_corrections_below_the_threshold_are_given_to_the_agent_as_context(
    indexed: object, runtime_with: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain()
    config = AgentConfig(curated=CuratedConfig(threshold=0.99, context_threshold=0.3))
    runtime = runtime_with(config=config)
    curated = await runtime.curated.add(
        "How do I rotate my VPN certificate?", "Run vpnctl rotate (curated).", author="U_EDITOR"
    )
    answer = await runtime.answer(_ask("how can I rotate the VPN certificate?"))
    assert answer.mode == "agent"
    act = chat_requests(scripted_model, "act")[0]
    assert "Run vpnctl rotate (curated)." in act["messages"][-1]["content"]
    await runtime.curated.retire(curated.id, author="U_EDITOR")


async def test_corrections_are_reference_cases_and_bad_sources_are_refused(
    indexed: object, runtime_with: RuntimeFactory, sessions: async_sessionmaker[AsyncSession]
) -> None:
    runtime = runtime_with()
    curated = await runtime.curated.add(
        "Who approves expenses?", "Your manager.", author="U_EDITOR", sources=["it/vpn.md"]
    )
    cases = {case.key: case for case in await EvaluationSetStore(sessions).cases("curated")}
    assert cases[curated.case_key].reference_answer == "Your manager."
    assert cases[curated.case_key].expected_sources == [VPN_URL]

    await runtime.curated.retire(curated.id, author="U_EDITOR")
    assert curated.case_key not in {case.key for case in await EvaluationSetStore(sessions).cases("curated")}
    with pytest.raises(CuratedAnswerInputError, match="not in the knowledge index"):
        await runtime.curated.add("Q?", "A.", author="U_EDITOR", sources=["https://nowhere.example/x"])


async def test_the_phone_fast_path_speaks_a_correction_without_a_model_call(
    indexed: object, runtime_with: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain()
    runtime = runtime_with()
    curated = await runtime.curated.add("How do I rotate my VPN certificate?", "Run vpnctl rotate.", author="U_ED")
    asker = Asker(user_id="caller", channel="phone", scope=ReaderScope.single("caller"), long_term_memory=False)
    request = AgentRequest(question="how can I rotate the VPN certificate?", thread_id="call-1", asker=asker)
    events = [event async for event in runtime.speak(request)]
    assert events[-1].answer is not None and events[-1].answer.mode == "curated"
    assert "".join(e.delta for e in events if e.delta) == "Run vpnctl rotate."
    assert chat_requests(scripted_model) == []
    await runtime.curated.retire(curated.id, author="U_ED")
