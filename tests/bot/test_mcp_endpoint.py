"""``/mcp`` from the outside: the MCP SDK's own client against the service's ASGI app as ``serve`` wires it, with
bearer tokens made by ``switchboard tokens create``; the token's user is the reader."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client

from bot import Service, Settings, create_app, main, start_channels, sync_configured_source
from tests.fakes.scripted_model import ScriptedModelServer

PUBLIC_DOC = "# VPN setup\n\nTo set up the VPN, install vpnctl and run `vpnctl join`.\n"
SECRET_DOC = "# VPN incident keys\n\nThe VPN incident break-glass keys are kept in vault path ops/vpn-keys.\n"


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    (tmp_path / "handbook" / "security").mkdir(parents=True)
    (tmp_path / "handbook" / "vpn.md").write_text(PUBLIC_DOC, encoding="utf-8")
    (tmp_path / "handbook" / "security" / "vpn-keys.md").write_text(SECRET_DOC, encoding="utf-8")
    return tmp_path / "handbook"


def settings_for(database_url: str, model: ScriptedModelServer, handbook: Path) -> Settings:
    return Settings(
        database_url=database_url,
        llm_provider="none",
        embeddings_provider="openai",
        embeddings_base_url=model.base_url,
        embeddings_model="scripted",
        sync_overdue_on_start=False,
        groups={"security": ["U1"]},
        sources=[
            {
                "type": "folder",
                "name": "handbook",
                "path": str(handbook),
                "base_url": "https://handbook.example.com/",
                "access": [{"pattern": "security/**", "groups": ["security"]}],
            }
        ],
    )


@asynccontextmanager
async def running_service(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with AsyncExitStack() as stack:
        service = await Service.start(settings, migrate=False)
        stack.push_async_callback(service.aclose)
        await sync_configured_source(service, settings.sources[0])
        channels = await start_channels(service, stack)
        transport = httpx.ASGITransport(app=create_app(service, channels.routes))
        yield await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://switchboard.test")
        )


@asynccontextmanager
async def mcp_client(http: httpx.AsyncClient, token: str) -> AsyncIterator[ClientSession]:
    http.headers["Authorization"] = f"Bearer {token}"
    async with streamable_http_client("http://switchboard.test/mcp", http_client=http) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


async def cli(*argv: str) -> int:
    """The real CLI, in a thread: it runs its own event loop, as from a terminal."""
    return await asyncio.to_thread(main, list(argv))


async def create_token(user: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[str, str]:
    assert await cli("tokens", "create", "--user", user, *extra) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    token_id = next(word for word in lines[0].split() if word.startswith("tok_"))
    return token_id, lines[-1]


@pytest.fixture
def cli_environment(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SWITCHBOARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LLM_PROVIDER", "none")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")


def structured(result: types.CallToolResult) -> Any:
    assert not result.isError, result.content
    return result.structuredContent


@pytest.mark.usefixtures("cli_environment")
async def test_search_reads_as_the_token_user_with_their_permissions(
    database_url: str, scripted_model: ScriptedModelServer, handbook: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, reader_token = await create_token("U1", capsys)  # in the security group
    _, outsider_token = await create_token("U2", capsys, "--expires-days", "3")
    async with running_service(settings_for(database_url, scripted_model, handbook)) as http:
        async with mcp_client(http, reader_token) as session:
            listed = {tool.name for tool in (await session.list_tools()).tools}
            assert listed == {"search_knowledge", "ask", "list_sources"}
            found = structured(await session.call_tool("search_knowledge", {"query": "VPN incident keys"}))
            urls = {passage["url"] for passage in found["passages"]}
            assert "https://handbook.example.com/security/vpn-keys.md#vpn-incident-keys" in urls

            sources = structured(await session.call_tool("list_sources", {}))["sources"]
            assert [(s["name"], s["type"], s["last_sync_status"]) for s in sources] == [
                ("handbook", "folder", "succeeded")
            ]

            asked = await session.call_tool("ask", {"question": "How do I set up the VPN?"})
            text = asked.content[0].text if isinstance(asked.content[0], types.TextContent) else ""
            assert "Sources:" in text and "(https://handbook.example.com/vpn.md#vpn-setup)" in text

        async with mcp_client(http, outsider_token) as session:
            found = structured(await session.call_tool("search_knowledge", {"query": "VPN incident keys"}))
            urls = {passage["url"] for passage in found["passages"]}
            assert urls == {"https://handbook.example.com/vpn.md#vpn-setup"}
            assert all("break-glass" not in passage["text"] for passage in found["passages"])


@pytest.mark.usefixtures("cli_environment")
async def test_no_token_an_unknown_or_a_revoked_one_is_refused_with_401(
    database_url: str,
    scripted_model: ScriptedModelServer,
    handbook: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_id, token = await create_token("U1", capsys)
    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": types.LATEST_PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    body = json.dumps(initialize)
    async with running_service(settings_for(database_url, scripted_model, handbook)) as http:
        accepted = await http.post("/mcp", content=body, headers={**headers, "Authorization": f"Bearer {token}"})
        assert accepted.status_code == 200, accepted.text

        missing = await http.post("/mcp", content=body, headers=headers)
        unknown = await http.post("/mcp", content=body, headers={**headers, "Authorization": "Bearer sbmcp_nope"})
        assert (missing.status_code, unknown.status_code) == (401, 401)

        assert await cli("tokens", "revoke", token_id) == 0
        assert "revoked" in capsys.readouterr().out
        with caplog.at_level(logging.INFO):
            revoked = await http.post("/mcp", content=body, headers={**headers, "Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401
        assert "www-authenticate" in revoked.headers
        assert any("MCP request refused" in record.getMessage() for record in caplog.records)
        assert all(token not in record.getMessage() for record in caplog.records)

        refused: list[int] = []
        try:
            async with mcp_client(http, token):
                pass
        except* httpx.HTTPStatusError as group:
            refused += [e.response.status_code for e in group.exceptions if isinstance(e, httpx.HTTPStatusError)]
        assert refused == [401], "the SDK's own client is refused with the revoked token"


@pytest.mark.usefixtures("cli_environment")
async def test_tokens_are_stored_hashed_and_printed_alone_on_the_last_line(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    token_id, token = await create_token("U7", capsys, "--expires-days", "1")
    assert token.startswith("sbmcp_") and " " not in token
    with psycopg.connect(database_url) as connection:
        stored = connection.execute("SELECT user_id, token_hash FROM mcp_tokens WHERE token_id = %s", (token_id,))
        user_id, token_hash = stored.fetchone() or ("", "")
    assert user_id == "U7" and token not in token_hash and len(token_hash) == 64

    assert await cli("tokens", "revoke", "tok_unknown") == 1
    assert "no MCP token has the id 'tok_unknown'" in capsys.readouterr().err
