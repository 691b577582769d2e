"""``switchboard tools`` (every tool, its source and flags, and each MCP server's state) and ``switchboard tokens``
(MCP bearer tokens: create one for a person, revoke one)."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.agent import run_with_service
from bot.composition.service import Service
from bot.mcp_server.tokens import McpTokenStore
from bot.settings import Settings
from tools import Tool


def add_tools_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = commands.add_parser("tools", help="list every tool the agent may use, its source and flags")
    listing.set_defaults(handler=tools_command)

    tokens = commands.add_parser("tokens", help="bearer tokens for MCP clients of /mcp")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True, metavar="TOKENS_COMMAND")
    create = token_commands.add_parser("create", help="issue a token for a user; printed once, on the last line")
    create.add_argument("--user", required=True, metavar="ID", help="the Slack user id the token reads as")
    create.add_argument("--expires-days", type=_days, default=None, metavar="N", help="valid for N days (N >= 1)")
    create.set_defaults(handler=tokens_create_command)
    revoke = token_commands.add_parser("revoke", help="refuse a token from now on")
    revoke.add_argument("token_id", metavar="TOKEN_ID", help="the id `tokens create` printed (tok_...)")
    revoke.set_defaults(handler=tokens_revoke_command)


def _days(value: str) -> int:
    days = int(value)
    if days < 1:
        raise argparse.ArgumentTypeError("a token must be valid for at least 1 day")
    return days


def tools_command(settings: Settings, args: argparse.Namespace) -> int:
    async def listing(service: Service) -> list[str]:
        registry = service.runner.tools
        if service.mcp_tools is not None:
            await service.mcp_tools.first_attempts()
        rows = [
            (item.display_name, registry.source_of(item.name), _flags(item))
            for item in (registry.get(name) for name in registry.names())
        ]
        rows.sort()
        width = max(len(row[0]) for row in rows) + 2
        source_width = max(len(row[1]) for row in rows) + 2
        lines = [f"{'TOOL':<{width}}{'SOURCE':<{source_width}}FLAGS"]
        lines += [f"{name:<{width}}{source:<{source_width}}{flags}" for name, source, flags in rows]
        if service.mcp_tools is not None and (statuses := service.mcp_tools.statuses()):
            lines.append("")
            lines.append("MCP servers:")
            lines += [f"  {status.name} ({status.transport}): {status.phrase()}" for status in statuses]
        return lines

    print("\n".join(run_with_service(settings, listing)))
    return 0


def _flags(item: Tool[Any]) -> str:
    flags = ["side effects (approval first)" if item.side_effects else "read-only"]
    if item.required_role is not None:
        flags.append(f"role: {item.required_role}")
    if item.display_name != item.name:
        flags.append(f"model calls it {item.name}")
    return ", ".join(flags)


def tokens_create_command(settings: Settings, args: argparse.Namespace) -> int:
    days = args.expires_days if args.expires_days is not None else settings.mcp_token_days

    async def create(service: Service) -> list[str]:
        issued = await McpTokenStore(service.sessions).create(args.user, valid_days=days)
        return [
            f"MCP token {issued.token_id} for {issued.user_id}, valid until {issued.expires_at:%Y-%m-%d %H:%M} UTC.",
            "It is shown only now; give it to the person, who sends it as 'Authorization: Bearer TOKEN' to /mcp.",
            f"Revoke it with: switchboard tokens revoke {issued.token_id}",
            issued.token,
        ]

    print("\n".join(run_with_service(settings, create)))
    return 0


def tokens_revoke_command(settings: Settings, args: argparse.Namespace) -> int:
    async def revoke(service: Service) -> str:
        holder = await McpTokenStore(service.sessions).revoke(args.token_id)
        return f"MCP token {holder.token_id} of {holder.user_id} is revoked; /mcp refuses it from now on."

    print(run_with_service(settings, revoke))
    return 0
