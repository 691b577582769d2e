"""One long-lived MCP client session per configured server, kept up in the background.

A session is opened once and shared by every call, so a stateful server keeps its state between calls. The
transport's context managers (the SDK's anyio task groups) must be entered and left in one task, so one background
task owns the session: it connects, lists the tools, pings while connected, and reconnects with a growing delay
after a failure. A server that is down at start is retried the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Literal

import anyio
import httpx
from mcp import ClientSession, McpError, StdioServerParameters, types
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from tools.errors import ToolTimeoutError, ToolUnavailableError
from tools.mcp_config import McpServerConfig

logger = logging.getLogger(__name__)

ServerState = Literal["connecting", "up", "down", "stopped"]
# Errors that mean the session itself is gone (the process died, the HTTP stream closed), not that one call failed.
CONNECTION_LOST = (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, httpx.TransportError)
CLIENT_INFO = types.Implementation(name="switchboard", version="1")
SSE_READ_SECONDS = 300.0
ToolsListener = Callable[["McpServerConnection", list[types.Tool]], None]


class McpServerStatus(BaseModel):
    """What ``/healthz`` and ``switchboard tools`` say about one server."""

    name: str
    transport: str
    state: ServerState
    tools: int = 0
    error: str | None = None
    # Seconds since the state last changed.
    for_seconds: float = 0.0

    def phrase(self) -> str:
        if self.state == "up":
            return f"up ({self.tools} tools)"
        return f"{self.state}: {self.error}" if self.error else self.state


class McpServerConnection:
    """Keeps a session with one MCP server open and lets tools call through it."""

    def __init__(self, config: McpServerConfig, on_tools: ToolsListener) -> None:
        self.config = config
        self._on_tools = on_tools
        self._session: ClientSession | None = None
        self._state: ServerState = "connecting"
        self._state_since = time.monotonic()
        self._error: str | None = None
        self._tool_count = 0
        self._closing = asyncio.Event()
        self._lost = asyncio.Event()
        self._attempted = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._keep_connected(), name=f"mcp-server-{self.name}")

    async def first_attempt(self) -> None:
        """Wait until the first connection attempt succeeded or failed."""
        await self._attempted.wait()

    def status(self) -> McpServerStatus:
        return McpServerStatus(
            name=self.name,
            transport=self.config.transport,
            state=self._state,
            tools=self._tool_count,
            error=self._error,
            for_seconds=round(time.monotonic() - self._state_since, 1),
        )

    async def call_tool(self, tool_name: str, arguments: dict[str, object]) -> types.CallToolResult:
        """Call a tool through the shared session, within the server's time limit.

        Raises:
            ToolUnavailableError: the server is not connected, or the connection broke during the call.
            ToolTimeoutError: no answer within ``timeout_seconds`` (the session stays open for other calls).
        """
        session = self._session
        label = f"{self.name}.{tool_name}"
        if session is None:
            detail = f" ({self._error})" if self._error else ""
            raise ToolUnavailableError(f"MCP server {self.name} is not connected{detail}; it is being retried")
        try:
            async with asyncio.timeout(self.config.timeout_seconds):
                return await session.call_tool(tool_name, arguments)
        except TimeoutError:
            raise ToolTimeoutError(f"{label} did not answer within {self.config.timeout_seconds:g} s.") from None
        except McpError as error:
            if error.error.code == types.CONNECTION_CLOSED:
                self._lost.set()
                raise ToolUnavailableError(f"MCP server {self.name} closed the connection during the call") from None
            raise
        except CONNECTION_LOST as error:
            self._lost.set()
            raise ToolUnavailableError(
                f"the connection to MCP server {self.name} broke during the call ({type(error).__name__})"
            ) from None

    async def aclose(self) -> None:
        """Close the session (ending a stdio server's process) and stop retrying."""
        self._closing.set()
        if self._task is not None:
            # Cancelling leaves the transport's context, which ends a stdio server's process (stdin closed,
            # then SIGTERM): a server still starting up must not hold up the service's shutdown.
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._set_state("stopped")

    def _set_state(self, state: ServerState, error: str | None = None) -> None:
        if state != self._state:
            self._state_since = time.monotonic()
        self._state = state
        self._error = error

    async def _keep_connected(self) -> None:
        delay = self.config.retry_seconds
        while not self._closing.is_set():
            self._lost.clear()
            try:
                async with self._open_session() as session:
                    tools = await self._list_tools(session)
                    self._session = session
                    self._tool_count = len(tools)
                    self._set_state("up")
                    self._attempted.set()
                    logger.info("MCP server %s connected: %d tools", self.name, len(tools))
                    self._on_tools(self, tools)
                    delay = self.config.retry_seconds
                    await self._watch(session)
            except Exception as error:  # any failure of a server we do not control: report it, retry later
                reason = _describe(error)
                self._set_state("down", reason)
                logger.warning("MCP server %s is down: %s; retrying in %.0f s", self.name, reason, delay)
                logger.debug("MCP server %s failure", self.name, exc_info=True)
            finally:
                self._session = None
                self._attempted.set()
            if self._closing.is_set():
                break
            if self._state == "up":
                self._set_state("down", "the connection closed")
            try:
                async with asyncio.timeout(delay):
                    await self._closing.wait()
            except TimeoutError:
                pass
            delay = min(delay * 2, self.config.retry_max_seconds)
            self._set_state("connecting", self._error)

    async def _watch(self, session: ClientSession) -> None:
        """Return when closing; raise when the session is lost (a failed call or a failed ping says so)."""
        while not self._closing.is_set():
            waiters = [asyncio.ensure_future(self._closing.wait()), asyncio.ensure_future(self._lost.wait())]
            try:
                done, _ = await asyncio.wait(waiters, timeout=self.config.ping_seconds, return_when="FIRST_COMPLETED")
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if self._lost.is_set():
                raise ToolUnavailableError("the connection was lost")
            if not done:
                async with asyncio.timeout(self.config.timeout_seconds):
                    await session.send_ping()

    async def _list_tools(self, session: ClientSession) -> list[types.Tool]:
        found: list[types.Tool] = []
        cursor: str | None = None
        async with asyncio.timeout(self.config.connect_timeout_seconds):
            while True:
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                found += page.tools
                cursor = page.nextCursor
                if not cursor:
                    return found

    @asynccontextmanager
    async def _open_session(self) -> AsyncIterator[ClientSession]:
        config = self.config
        async with AsyncExitStack() as stack:
            if config.command is not None:
                parameters = StdioServerParameters(
                    command=config.command,
                    args=config.args,
                    # Added to the SDK's short safe list (PATH, HOME, ...): the service's own secrets stay out.
                    env={name: value.get_secret_value() for name, value in config.env.items()},
                )
                read, write = await stack.enter_async_context(stdio_client(parameters))
            elif config.url is not None:
                http = httpx.AsyncClient(
                    headers={name: value.get_secret_value() for name, value in config.headers.items()},
                    # The server may hold its event stream open for long: reads wait like the SDK's default client.
                    timeout=httpx.Timeout(config.timeout_seconds, read=max(config.timeout_seconds, SSE_READ_SECONDS)),
                )
                await stack.enter_async_context(http)
                read, write, _ = await stack.enter_async_context(streamable_http_client(config.url, http_client=http))
            else:
                raise ToolUnavailableError(f"MCP server {self.name} has neither a command nor a url")
            session = await stack.enter_async_context(ClientSession(read, write, client_info=CLIENT_INFO))
            async with asyncio.timeout(config.connect_timeout_seconds):
                await session.initialize()
            yield session


def _describe(error: BaseException) -> str:
    """A short reason for the log and /healthz: the innermost error of an exception group, without secrets."""
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    if isinstance(error, TimeoutError):
        return "no answer in time"
    if isinstance(error, httpx.HTTPStatusError):
        return f"HTTP {error.response.status_code}"
    if isinstance(error, httpx.TransportError | OSError):
        return f"unreachable ({type(error).__name__})"
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
