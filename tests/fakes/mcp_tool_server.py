"""A real MCP server built on the SDK's FastMCP, run by tests as a child process over stdio or streamable HTTP.

``python -m tests.fakes.mcp_tool_server stdio --name alpha`` or ``... http --name beta --port 8765``. Its tools:
``lookup`` (reads), ``count`` (state kept in the process: one session per server keeps counting), ``create_ticket``
(a side effect, appended to the file named by ``TICKETS_FILE``), ``whoami`` (echoes ``SERVER_SECRET`` and the
request's ``Authorization`` header, to check secrets arrive) and ``hang`` (never answers).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from mcp.server.fastmcp import Context, FastMCP


def build(name: str, port: int) -> FastMCP:
    server = FastMCP(name=name, port=port, log_level="WARNING")
    calls = {"count": 0}

    @server.tool()
    def lookup(key: str) -> str:
        """Look a key up in the team's directory."""
        return f"{name} says {key} is on the platform team"

    @server.tool()
    def count() -> str:
        """Count how often this tool was called in this server process."""
        calls["count"] += 1
        return f"called {calls['count']} times"

    @server.tool()
    def create_ticket(title: str, priority: int = 3) -> str:
        """Open a ticket in the team's tracker."""
        with Path(os.environ["TICKETS_FILE"]).open("a", encoding="utf-8") as tickets:
            tickets.write(f"{name}:{title}:{priority}\n")
        return f"opened {name.upper()}-1: {title}"

    @server.tool()
    def whoami(ctx: Context) -> str:  # type: ignore[type-arg]
        """Say which credentials reached the server."""
        request = ctx.request_context.request
        header = request.headers.get("authorization") if request is not None else None
        return f"secret={os.environ.get('SERVER_SECRET')} authorization={header}"

    @server.tool()
    async def hang() -> str:
        """Never answers (a server stuck on a dead backend)."""
        await asyncio.Event().wait()
        return "unreachable"

    return server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("transport", choices=["stdio", "http"])
    parser.add_argument("--name", required=True)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = build(args.name, args.port)
    server.run("stdio" if args.transport == "stdio" else "streamable-http")


if __name__ == "__main__":
    sys.exit(main())
