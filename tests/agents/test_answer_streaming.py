"""The final answer's text passed on as the model writes it: never a draft that reflection then rejects, always
with the answer's own citation numbers."""

from __future__ import annotations

import json

from agents import AgentConfig
from agents.answer_parsing import CitationRenumbering, resolve_citations
from tests.agents.conftest import ACCEPT, RuntimeFactory, brain, chat_requests, make_request
from tests.fakes.scripted_model import ScriptedModelServer

REJECT = json.dumps(
    {
        "supported": False,
        "cited": False,
        "answered": True,
        "obeyed_source_instructions": False,
        "verdict": "revise",
        "problems": ["the 90-day expiry is in no source"],
    }
)


async def test_a_rejected_draft_is_never_passed_on_and_the_revision_is(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(
        act=["Certificates expire every 90 days; run vpnctl.", "Run `vpnctl rotate --user you` [1]."],
        reflect=[REJECT, ACCEPT],
    )
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    answer = await make_runtime().answer(
        make_request("How do I rotate the VPN certificate?", "t-stream-reject"), on_answer_text=collect
    )

    assert "90 days" not in "".join(pieces)
    assert "".join(pieces) == answer.text == "Run `vpnctl rotate --user you` [1]."
    assert len(pieces) > 1  # the last allowed revision streams live, word by word
    assert all(body.get("stream") for body in chat_requests(scripted_model, "act"))


async def test_without_reflection_the_answer_streams_live_with_its_final_citation_numbers(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer
) -> None:
    scripted_model.responder = brain(act=["Rotate it with vpnctl [1] and check the portal [1]."])
    pieces: list[str] = []

    async def collect(piece: str) -> None:
        pieces.append(piece)

    runtime = make_runtime(config=AgentConfig(reflection=False))
    answer = await runtime.answer(
        make_request("How do I rotate the VPN certificate?", "t-stream"), on_answer_text=collect
    )

    assert len(pieces) > 3 and "".join(pieces) == answer.text


def test_renumbering_in_pieces_gives_what_renumbering_the_whole_text_gives() -> None:
    passages = [
        {"url": "https://a", "title": "A"},
        {"url": "https://b", "title": "B"},
        {"url": "https://a", "title": "A"},
    ]
    text = "See [2] and [1, 3], then [3][2]; [9] stays, as does [ this."
    whole, citations = resolve_citations(text, passages)
    for size in (1, 2, 3, 7):
        renumbering = CitationRenumbering(passages)
        streamed = "".join(renumbering.feed(text[i : i + size]) for i in range(0, len(text), size))
        assert streamed + renumbering.finish() == whole == "See [1] and [2], then [2][1]; [9] stays, as does [ this."
        assert renumbering.citations == citations
