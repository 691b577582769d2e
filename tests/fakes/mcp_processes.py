"""Configs and processes for the FastMCP test server (``tests.fakes.mcp_tool_server``): over stdio the client
starts it; over streamable HTTP the test starts it (or starts it late, to play a server that was down)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from testing_support.waiting import eventually
from tests.fakes.http_server import free_port
from tools import McpServerConfig

ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULE = "tests.fakes.mcp_tool_server"


def stdio_server(name: str, tickets: Path, **settings: Any) -> McpServerConfig:
    env = {"TICKETS_FILE": SecretStr(str(tickets)), "PYTHONPATH": SecretStr(str(ROOT)), **settings.pop("env", {})}
    return McpServerConfig(
        name=name,
        transport="stdio",
        command=sys.executable,
        args=["-m", SERVER_MODULE, "stdio", "--name", name],
        env=env,
        **settings,
    )


def http_server_config(name: str, port: int, **settings: Any) -> McpServerConfig:
    return McpServerConfig(name=name, transport="streamable_http", url=f"http://127.0.0.1:{port}/mcp", **settings)


class HttpMcpServer:
    """The test server as a child process serving streamable HTTP on a loopback port."""

    def __init__(self, name: str, tickets: Path, port: int | None = None) -> None:
        self.name = name
        self.port = port or free_port()
        self._tickets = tickets
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self) -> HttpMcpServer:
        environment = {**os.environ, "TICKETS_FILE": str(self._tickets), "PYTHONPATH": str(ROOT)}
        self._process = subprocess.Popen(  # noqa: ASYNC220 - started once, awaited below by polling its port
            [sys.executable, "-m", SERVER_MODULE, "http", "--name", self.name, "--port", str(self.port)],
            env=environment,
            stdout=subprocess.DEVNULL,
        )
        await eventually(self._listening, what=f"MCP test server {self.name} listening on {self.port}")
        return self

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        await writer.wait_closed()
        return True

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


def port_is_closed(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0
