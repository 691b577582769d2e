"""MCP servers' tools in the tool registry, beside the built-ins, named ``server.tool`` for people.

Model APIs refuse a dot in a function name (OpenAI allows ``^[a-zA-Z0-9_-]{1,64}$``), so the model calls
``server__tool``; listings and approvals show ``server.tool``. Everything a server sends (descriptions, results)
is as untrusted as a web page: descriptions are cut and labelled, results are cut and wrapped as data by the
agent like every tool output, and every tool has side effects (approval first) unless the operator lists it as
``read_only`` in the config. The server's own ``readOnlyHint`` is not trusted.
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import logging
import re
from collections.abc import Iterable
from typing import Any

from mcp import types
from pydantic import BaseModel, ConfigDict

from tools.abc import Tool, ToolContext, ToolResult
from tools.errors import ToolUnavailableError
from tools.mcp_config import McpServerConfig
from tools.mcp_connection import McpServerConnection, McpServerStatus
from tools.registry import ToolRegistry

logger = logging.getLogger(__name__)

SEPARATOR = "__"
MAX_NAME = 64
MAX_DESCRIPTION_CHARS = 1_000
# A tool whose input schema is larger than this is left out: the model would read it on every turn.
MAX_SCHEMA_CHARS = 20_000
FIRST_ATTEMPT_SECONDS = 10.0


class McpArguments(BaseModel):
    """Whatever the model sends: the server validates against the schema it published."""

    model_config = ConfigDict(extra="allow")


def model_tool_name(server: str, tool_name: str) -> str:
    """``server__tool`` with characters model APIs refuse replaced; a long name keeps a hash to stay unique."""
    name = server + SEPARATOR + re.sub(r"[^a-zA-Z0-9_-]", "_", tool_name)
    if len(name) > MAX_NAME:
        digest = hashlib.sha256(tool_name.encode()).hexdigest()[:8]
        name = name[: MAX_NAME - 9] + "_" + digest
    return name


class McpTool(Tool[McpArguments]):
    """One tool of an MCP server, called through that server's shared session."""

    arguments = McpArguments

    def __init__(self, connection: McpServerConnection, listed: types.Tool) -> None:
        config = connection.config
        self._connection = connection
        self.mcp_name = listed.name
        self.name = model_tool_name(config.name, listed.name)
        self.side_effects = listed.name not in config.read_only
        self.required_role = config.required_role
        self._schema = copy.deepcopy(listed.inputSchema)
        summary = " ".join((listed.description or listed.title or "").split())[:MAX_DESCRIPTION_CHARS]
        self.description = f"[tool {listed.name} of the MCP server {config.name}] {summary}".strip()

    @property
    def display_name(self) -> str:
        return f"{self._connection.name}.{self.mcp_name}"

    def parameters(self) -> dict[str, Any]:
        return copy.deepcopy(self._schema)

    def summarize_call(self, arguments: dict[str, Any], context: ToolContext) -> str:
        shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        return f"run {self.display_name} (MCP server {self._connection.name}) with {shown}"

    async def run(self, arguments: McpArguments, context: ToolContext) -> ToolResult:
        try:
            result = await self._connection.call_tool(self.mcp_name, arguments.model_dump())
        except ToolUnavailableError as error:
            return ToolResult.error(str(error), note=f"{self.display_name} could not be used: {error}.")
        text = result_text(result)
        limit = self._connection.config.max_result_chars
        if len(text) > limit:
            text = text[:limit] + f"\n[cut at {limit} characters]"
        if result.isError:
            return ToolResult.error(f"{self.display_name} reported an error: {text}")
        return ToolResult(content=text)

    def __repr__(self) -> str:
        return f"McpTool({self.display_name!r})"


def result_text(result: types.CallToolResult) -> str:
    """The text of a tool result; other content is named, not passed on (the model reads text only)."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, types.TextContent):
            parts.append(block.text)
        elif isinstance(block, types.EmbeddedResource) and isinstance(block.resource, types.TextResourceContents):
            parts.append(f"[resource {block.resource.uri}]\n{block.resource.text}")
        elif isinstance(block, types.ResourceLink):
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{block.type} content left out]")
    if not parts and result.structuredContent is not None:
        parts.append(json.dumps(result.structuredContent, ensure_ascii=False, sort_keys=True))
    return "\n".join(parts)


class McpToolSource:
    """Every configured MCP server: their connections, and their tools kept current in one registry."""

    def __init__(self, servers: Iterable[McpServerConfig], registry: ToolRegistry) -> None:
        self._registry = registry
        self._connections = [McpServerConnection(config, self._publish) for config in servers]

    @staticmethod
    def source_name(server: str) -> str:
        return f"mcp:{server}"

    def start(self) -> None:
        """Connect to every server in the background; one that is down is retried and its tools join later."""
        for connection in self._connections:
            connection.start()

    async def first_attempts(self) -> None:
        """Wait until every server was tried once, for at most ``FIRST_ATTEMPT_SECONDS`` (what a one-shot command
        like ``switchboard tools`` needs); a server still starting is then reported as connecting."""
        try:
            async with asyncio.timeout(FIRST_ATTEMPT_SECONDS):
                await asyncio.gather(*(connection.first_attempt() for connection in self._connections))
        except TimeoutError:
            logger.info("some MCP servers are still connecting after %.0f s", FIRST_ATTEMPT_SECONDS)

    def statuses(self) -> list[McpServerStatus]:
        return [connection.status() for connection in self._connections]

    def summary(self) -> dict[str, str]:
        """Server name -> one phrase: ``up (3 tools)``, ``connecting``, ``down: unreachable (ConnectError)``."""
        return {status.name: status.phrase() for status in self.statuses()}

    async def aclose(self) -> None:
        for connection in self._connections:
            await connection.aclose()

    def _publish(self, connection: McpServerConnection, listed: list[types.Tool]) -> None:
        config = connection.config
        offered: list[Tool[Any]] = []
        for item in listed:
            if not config.offers(item.name):
                continue
            if len(json.dumps(item.inputSchema)) > MAX_SCHEMA_CHARS:
                logger.warning("MCP tool %s.%s left out: its input schema is too large", config.name, item.name)
                continue
            offered.append(McpTool(connection, item))
        if config.tools is not None and (missing := set(config.tools) - {item.name for item in listed}):
            logger.warning("MCP server %s does not list the allowed tools %s", config.name, ", ".join(sorted(missing)))
        names = self._registry.replace_source(self.source_name(config.name), offered)
        logger.info("tools from MCP server %s: %s", config.name, ", ".join(names) or "none")
