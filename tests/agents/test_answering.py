"""Answering with the graph: plan or direct retrieval, act, reflect, respond, with citations and stored traces.

Retrieval uses the in-test ``FixedRetriever`` (see conftest) until the real index is merged.
"""

from __future__ import annotations

import json

import psycopg

from agents import AgentConfig, AgentRequest, ProgressEvent
from knowledge import AccessList
from tests.agents.conftest import (
    ACCEPT,
    VPN_MAC,
    FixedRetriever,
    RuntimeFactory,
    brain,
    chat_requests,
    make_request,
    passage,
)
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply, ScriptedToolCall


async def test_known_question_is_answered_with_citations_and_a_trace(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(act=["Run `vpnctl rotate --user you` [1]."], reflect=[ACCEPT])
    runtime = make_runtime()
    events: list[ProgressEvent] = []

    async def on_progress(event: ProgressEvent) -> None:
        events.append(event)

    answer = await runtime.answer(make_request("How do I rotate the VPN certificate?", "t-known"), on_progress)

    assert answer.text == "Run `vpnctl rotate --user you` [1]."
    assert [c.title for c in answer.citations] == ["VPN certificate rotation"]
    assert answer.mode == "agent"
    assert set(answer.prompt_versions) == {"answer", "reflection"}
    assert [e.stage for e in events] == ["searching", "answering", "reflecting"]
    # A simple question skips the planner: one drafting call and one critique.
    assert len(chat_requests(scripted_model, "plan")) == 0
    assert len(chat_requests(scripted_model, "act")) == 1
    trace = await runtime.traces.get(answer.trace_id)
    assert trace is not None
    assert trace.route == "direct"
    assert trace.chunk_ids[:1] == [1]
    assert trace.reflections[0]["verdict"] == "accept"
    assert trace.input_tokens > 0 and trace.output_tokens > 0
    assert {"start", "retrieve", "act", "reflect", "respond"} <= set(trace.latency_ms)
    assert trace.prompt_versions == answer.prompt_versions


async def test_a_planned_request_plans_then_uses_tools(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(
        plan=['{"steps": ["search for the VPN rotation runbook", "compare with the macOS page"]}'],
        act=[
            ScriptedReply(tool_calls=[ScriptedToolCall(name="search_knowledge", arguments={"query": "VPN macOS"})]),
            "On macOS use Keychain Access [2]; elsewhere run vpnctl [1].",
        ],
    )
    runtime = make_runtime()

    answer = await runtime.answer(
        make_request("Compare rotating the VPN certificate on Linux versus macOS", "t-planned")
    )

    assert "Keychain Access" in answer.text
    assert {c.title for c in answer.citations} == {"VPN on macOS", "VPN certificate rotation"}
    trace = await runtime.traces.get(answer.trace_id)
    assert trace is not None and trace.route == "planned"
    assert trace.plan == ["search for the VPN rotation runbook", "compare with the macOS page"]
    assert [call["name"] for call in trace.tool_calls] == ["search_knowledge"]
    assert "planner" in answer.prompt_versions
    second_act = chat_requests(scripted_model, "act")[1]
    assert "compare with the macOS page" in second_act["messages"][0]["content"]


async def test_reflection_rejects_an_unsupported_draft_and_accepts_the_revision(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    reject = json.dumps(
        {
            "supported": False,
            "cited": False,
            "answered": True,
            "obeyed_source_instructions": False,
            "verdict": "revise",
            "problems": ["the claim about a 90-day expiry is in no source", "add citations"],
        }
    )
    scripted_model.responder = brain(
        act=["Certificates expire every 90 days; run vpnctl.", "Run `vpnctl rotate --user you` [1]."],
        reflect=[reject, ACCEPT],
    )
    runtime = make_runtime()

    answer = await runtime.answer(make_request("How do I rotate the VPN certificate?", "t-reflect"))

    assert answer.text == "Run `vpnctl rotate --user you` [1]."
    assert answer.notes == []
    revision_request = chat_requests(scripted_model, "act")[1]
    feedback = revision_request["messages"][-1]["content"]
    assert "90-day expiry is in no source" in feedback
    trace = await runtime.traces.get(answer.trace_id)
    assert trace is not None
    assert [r["verdict"] for r in trace.reflections] == ["revise", "accept"]


async def test_not_in_the_knowledge_says_so_without_sources(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(act=["That is not in the knowledge I can see; ask the facilities team."])
    runtime = make_runtime()

    answer = await runtime.answer(make_request("Where is the parking garage key?", "t-missing"))

    assert "not in the knowledge" in answer.text
    assert answer.citations == []
    told = chat_requests(scripted_model, "act")[0]["messages"][-1]["content"]
    assert "No passages in the knowledge matched this question" in told
    assert "say it is not in the knowledge" in told


async def test_the_askers_permissions_and_sources_restrict_what_the_model_sees(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    salaries = passage(5, "VPN stipend salaries", "The VPN stipend is 40 EUR; salary bands are secret.", source="hr")
    wiki = passage(6, "VPN wiki", "The VPN certificate is rotated yearly.", source="wiki")
    retriever = FixedRetriever([(salaries, AccessList.restricted(users=["U_HR"])), VPN_MAC, wiki])
    scripted_model.responder = brain(act=["Run vpnctl [1]."])
    runtime = make_runtime(retriever=retriever)
    asker = make_request("How is the VPN certificate rotated?", "t-perm").asker
    restricted = asker.model_copy(update={"sources": ("handbook",)})

    await runtime.answer(
        AgentRequest(question="How is the VPN certificate rotated?", thread_id="t-perm", asker=restricted)
    )

    told = json.dumps(chat_requests(scripted_model, "act")[0])
    assert "salary bands" not in told and "rotated yearly" not in told
    assert "vpnctl rotate" in told
    assert retriever.queries[-1].scope == asker.scope and retriever.queries[-1].sources == ("handbook",)


async def test_runs_per_prompt_version_and_reflection_switched_off(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(act=["Run vpnctl [1]."])
    runtime = make_runtime(config=AgentConfig(reflection=False))
    before = await runtime.traces.prompt_version_counts("answer")

    answer = await runtime.answer(make_request("How do I rotate the VPN certificate?", "t-stats"))

    assert chat_requests(scripted_model, "reflect") == []
    assert answer.prompt_versions == {"answer": 1}
    after = await runtime.traces.prompt_version_counts("answer")
    assert after[1] == before.get(1, 0) + 1


def _trace_is_stored(database_url: str, trace_id: str) -> bool:
    """Looked up synchronously, so the event loop cannot finish a write in the background meanwhile."""
    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT 1 FROM agent_traces WHERE trace_id = %s", (trace_id,)).fetchone() is not None


async def test_the_trace_is_stored_by_the_time_the_answer_is_returned(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer, database_url: str
) -> None:
    # The answer's trace id goes straight onto its feedback buttons: a crash after posting must not lose the trace.
    retrieval_only = await make_runtime(with_model=False).answer(make_request("How do I rotate the VPN?", "t-tr-1"))
    assert _trace_is_stored(database_url, retrieval_only.trace_id)

    scripted_model.responder = brain(act=["Run `vpnctl rotate --user you` [1]."])
    answered = await make_runtime().answer(make_request("How do I rotate the VPN certificate?", "t-tr-2"))
    assert _trace_is_stored(database_url, answered.trace_id)
