"""MCP servers as tool sources, against real FastMCP servers: one over stdio (started by the client), one over
streamable HTTP (started by the test): names, clashes, allow-lists, secrets, state, and a server down at start."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from knowledge import ReaderScope
from testing_support.waiting import eventually
from tests.fakes.mcp_processes import HttpMcpServer, http_server_config, stdio_server
from tools import McpToolSource, ToolContext, ToolRegistry
from tools.mcp_tools import model_tool_name

CONTEXT = ToolContext(user_id="U1", workspace_id="default", scope=ReaderScope.single("U1"), approver_present=True)


@pytest.fixture
async def beta(tmp_path: Path) -> AsyncIterator[HttpMcpServer]:
    server = await HttpMcpServer("beta", tmp_path / "tickets.txt").start()
    yield server
    server.stop()


async def test_two_servers_offering_the_same_tool_name_never_collide(tmp_path: Path, beta: HttpMcpServer) -> None:
    registry = ToolRegistry()
    source = McpToolSource(
        [
            stdio_server("alpha", tmp_path / "tickets.txt", read_only=["lookup"], env={"SERVER_SECRET": "s3cret"}),
            http_server_config(
                "beta", beta.port, tools=["lookup", "whoami"], headers={"Authorization": SecretStr("Bearer b-token")}
            ),
        ],
        registry,
    )
    source.start()
    try:
        await source.first_attempts()
        assert source.summary() == {"alpha": "up (5 tools)", "beta": "up (5 tools)"}
        assert {"alpha__lookup", "beta__lookup", "beta__whoami"} <= set(registry.names())
        assert "beta__count" not in registry, "only the allow-listed tools of beta are offered"
        assert registry.get("alpha__lookup").display_name == "alpha.lookup"
        assert registry.source_of("beta__lookup") == "mcp:beta"

        alpha_says = await registry.invoke("alpha__lookup", {"key": "ana"}, CONTEXT)
        beta_says = await registry.invoke("beta__lookup", {"key": "ana"}, CONTEXT)
        assert alpha_says.content == "alpha says ana is on the platform team"
        assert beta_says.content == "beta says ana is on the platform team"

        assert registry.needs_approval("alpha__create_ticket"), "every MCP tool has side effects by default"
        assert not registry.needs_approval("alpha__lookup"), "unless the operator lists it as read-only"
        schema = registry.get("alpha__create_ticket").parameters()
        assert schema["required"] == ["title"] and schema["properties"]["priority"]["default"] == 3

        # Secrets arrive: the stdio child's environment, the HTTP server's Authorization header.
        assert "secret=s3cret" in (await registry.invoke("alpha__whoami", {}, CONTEXT)).content
        assert "authorization=Bearer b-token" in (await registry.invoke("beta__whoami", {}, CONTEXT)).content
    finally:
        await source.aclose()


async def test_one_session_per_server_keeps_a_stateful_server_state(tmp_path: Path) -> None:
    registry = ToolRegistry()
    source = McpToolSource([stdio_server("alpha", tmp_path / "tickets.txt", read_only=["count"])], registry)
    source.start()
    try:
        await source.first_attempts()
        counts = [(await registry.invoke("alpha__count", {}, CONTEXT)).content for _ in range(3)]
        assert counts == ["called 1 times", "called 2 times", "called 3 times"]
    finally:
        await source.aclose()


async def test_a_server_down_at_start_is_retried_and_its_tools_join_when_it_comes_up(tmp_path: Path) -> None:
    late = HttpMcpServer("beta", tmp_path / "tickets.txt")
    registry = ToolRegistry()
    config = http_server_config("beta", late.port, read_only=["lookup"], retry_seconds=0.2, retry_max_seconds=0.5)
    source = McpToolSource([config], registry)
    source.start()
    try:
        await source.first_attempts()
        assert source.summary()["beta"].startswith(("down: ", "connecting: ")), source.summary()
        assert registry.names() == []

        await late.start()
        await eventually(lambda: "beta__lookup" in registry, what="beta's tools registered after it came up")
        assert source.summary()["beta"] == "up (5 tools)"
        result = await registry.invoke("beta__lookup", {"key": "li"}, CONTEXT)
        assert result.content == "beta says li is on the platform team"
    finally:
        await source.aclose()
        late.stop()


async def test_a_call_to_a_server_that_is_down_says_so_and_leaves_a_note(tmp_path: Path) -> None:
    server = await HttpMcpServer("beta", tmp_path / "tickets.txt").start()
    registry = ToolRegistry()
    config = http_server_config("beta", server.port, read_only=["lookup"], retry_seconds=30, ping_seconds=0.2)
    source = McpToolSource([config], registry)
    source.start()
    try:
        await source.first_attempts()
        server.stop()
        await eventually(lambda: source.summary()["beta"].startswith("down"), what="the ping noticed beta is gone")
        result = await registry.invoke("beta__lookup", {"key": "li"}, CONTEXT)
        assert result.is_error and "MCP server beta is not connected" in result.content
        assert result.note is not None and "beta.lookup could not be used" in result.note
    finally:
        await source.aclose()


def test_model_names_keep_to_what_model_apis_accept() -> None:
    assert model_tool_name("alpha", "lookup") == "alpha__lookup"
    assert model_tool_name("alpha", "tickets.create v2") == "alpha__tickets_create_v2"
    long_a, long_b = model_tool_name("alpha", "x" * 80 + "a"), model_tool_name("alpha", "x" * 80 + "b")
    assert len(long_a) == 64 and long_a != long_b
