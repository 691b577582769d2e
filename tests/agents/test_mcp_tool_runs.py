"""MCP tools inside agent runs, against a real FastMCP server over stdio: a read-only tool called, a side-effect
tool paused for approval and run once approved, and a hanging server that ends the run in time with a note."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from knowledge import ReaderScope
from tests.agents.conftest import RuntimeFactory, brain, chat_requests, make_request
from tests.fakes.mcp_processes import stdio_server
from tests.fakes.scripted_model import ScriptedModelServer, ScriptedReply, ScriptedToolCall
from tools import McpToolSource, ToolContext, ToolRegistry

CONTEXT = ToolContext(user_id="U1", workspace_id="default", scope=ReaderScope.single("U1"))


@asynccontextmanager
async def alpha_tools(tickets: Path, **settings: Any) -> AsyncIterator[ToolRegistry]:
    registry = ToolRegistry.from_entry_points()
    source = McpToolSource([stdio_server("alpha", tickets, **settings)], registry)
    source.start()
    try:
        await source.first_attempts()
        assert "alpha__lookup" in registry, source.summary()
        yield registry
    finally:
        await source.aclose()


def call(name: str, **arguments: Any) -> ScriptedReply:
    return ScriptedReply(tool_calls=[ScriptedToolCall(name=name, arguments=arguments)])


async def test_a_read_only_mcp_tool_is_called_in_a_run_and_its_output_is_data(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted_model.responder = brain(act=[call("alpha__lookup", key="ana"), "Ana is on the platform team."])
    async with alpha_tools(tmp_path / "tickets.txt", read_only=["lookup"]) as registry:
        runtime = make_runtime(tools=registry)
        answer = await runtime.answer(make_request("Which team is Ana on?", "t-mcp-read"))

    assert answer.pending_approval is None
    assert answer.text == "Ana is on the platform team."
    acts = chat_requests(scripted_model, "act")
    offered = {spec["function"]["name"]: spec["function"] for spec in acts[0]["tools"]}
    assert offered["alpha__lookup"]["parameters"]["required"] == ["key"], "the server's schema, as it is"
    assert "MCP server alpha" in offered["alpha__lookup"]["description"]
    tool_message = next(m for m in acts[1]["messages"] if m["role"] == "tool")
    assert tool_message["content"].startswith('<tool_output tool="alpha__lookup">')
    assert "alpha says ana is on the platform team" in tool_message["content"]


async def test_a_side_effect_mcp_tool_waits_for_approval_then_runs(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    tickets = tmp_path / "tickets.txt"
    scripted_model.responder = brain(act=[call("alpha__create_ticket", title="VPN broken"), "Opened ALPHA-1."])
    async with alpha_tools(tickets, read_only=["lookup"]) as registry:
        runtime = make_runtime(tools=registry)
        paused = await runtime.answer(
            make_request("Open a ticket: the VPN is broken", "t-mcp-approve", approver_present=True)
        )

        assert paused.pending_approval is not None
        assert paused.pending_approval.tool_name == "alpha__create_ticket"
        assert "alpha.create_ticket" in paused.pending_approval.description
        assert "VPN broken" in paused.pending_approval.description
        assert not tickets.exists(), "nothing runs before a person approves"

        done = await runtime.resume(paused.pending_approval.approval_id, approved=True, decided_by="U2")

    assert done.text == "Opened ALPHA-1."
    assert tickets.read_text(encoding="utf-8") == "alpha:VPN broken:3\n"


async def test_a_hanging_mcp_server_ends_the_run_in_time_with_a_note(
    make_runtime: RuntimeFactory, scripted_model: ScriptedModelServer, tmp_path: Path
) -> None:
    scripted_model.responder = brain(act=[call("alpha__hang"), "The directory did not answer, so I cannot say."])
    async with alpha_tools(tmp_path / "tickets.txt", read_only=["hang", "lookup"], timeout_seconds=1) as registry:
        runtime = make_runtime(tools=registry)
        started = time.monotonic()
        answer = await runtime.answer(make_request("Ask the directory about Ana", "t-mcp-hang"))
        elapsed = time.monotonic() - started

        assert elapsed < 10, f"the run took {elapsed:.1f} s"
        assert answer.text == "The directory did not answer, so I cannot say."
        assert any("alpha.hang did not answer within 1 s" in note for note in answer.notes), answer.notes
        tool_message = next(m for m in chat_requests(scripted_model, "act")[1]["messages"] if m["role"] == "tool")
        assert "did not answer within 1 s" in tool_message["content"]
        # The session stays usable for the next call.
        assert "alpha says" in (await registry.invoke("alpha__lookup", {"key": "x"}, CONTEXT)).content
