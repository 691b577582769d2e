"""``switchboard ask`` and ``switchboard chat``: thin terminal front ends to the agent runtime."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from agents import AgentAnswer, AgentRequest, AgentRuntime, Asker, ProgressEvent
from bot.composition.service import Service
from bot.errors import BotError
from bot.settings import Settings
from bot.slack.identity import IdentityResolver
from bot.slack.web_client import create_slack_client

T = TypeVar("T")
CHAT_HELP = """Commands:
  /memories    list what Switchboard remembers about you, numbered
  /forget N    delete memory number N (as /memories numbers them)
  /new         start a new conversation (forget this thread's context)
  /help        show this help
  /quit        leave (also Ctrl-D)"""


def add_agent_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ask = commands.add_parser("ask", help="answer one question from the knowledge, with sources")
    ask.add_argument("question", help="the question, in quotes")
    ask.add_argument("--user", default=None, help="answer as this user id (their permissions and memories)")
    ask.add_argument("--json", action="store_true", help="print one JSON object (logs go to stderr)")
    ask.set_defaults(handler=ask_command)

    chat = commands.add_parser("chat", help="hold a conversation in the terminal (type /help inside)")
    chat.add_argument("--user", default=None, help="chat as this user id (their permissions and memories)")
    chat.set_defaults(handler=chat_command)


def run_with_service(settings: Settings, work: Callable[[Service], Awaitable[T]]) -> T:
    async def run() -> T:
        service = await Service.start(settings)
        try:
            return await work(service)
        finally:
            await service.aclose()

    return asyncio.run(run())


def runner_of(service: Service) -> AgentRuntime:
    if service.agent_runner is None:
        raise BotError("the agent runtime did not start; see the log above")
    return service.agent_runner


async def cli_asker(service: Service, user: str | None) -> Asker:
    """The CLI user: ``--user`` (or ``cli``), read as Slack would read them (config groups, their email when Slack
    is configured, the groups synced from sources), with the roles the settings give that id."""
    resolver = IdentityResolver(service.settings, create_slack_client(service.settings), service.sessions)
    return await resolver.person(user or "cli", "cli")


def answer_json(answer: AgentAnswer) -> dict[str, Any]:
    """The ``ask --json`` shape (CONTRACT.md): answer, sources, trace_id, prompt_versions, plus mode and notes."""
    return {
        "answer": answer.text,
        "sources": [{"title": c.title, "url": c.url} for c in answer.citations],
        "trace_id": answer.trace_id,
        "prompt_versions": answer.prompt_versions,
        "mode": answer.mode,
        "notes": answer.notes,
        "verified": None if answer.verified is None else answer.verified.model_dump(mode="json"),
        "pending_approval": None if answer.pending_approval is None else answer.pending_approval.model_dump(),
    }


def render_answer(answer: AgentAnswer) -> str:
    lines = [answer.text]
    if answer.citations:
        lines += ["", "Sources:"] + [f"  [{i}] {c.title} - {c.url}" for i, c in enumerate(answer.citations, 1)]
    lines += [f"Note: {note}" for note in answer.notes]
    if answer.verified is not None:
        lines.append(f"Verified by {answer.verified.author} on {answer.verified.verified_at:%Y-%m-%d}")
    return "\n".join(lines)


async def print_progress(event: ProgressEvent) -> None:
    print(f"  ... {event.stage}{': ' + event.detail if event.detail else ''}", file=sys.stderr)


async def settle_approvals(runner: AgentRuntime, answer: AgentAnswer, user_id: str) -> AgentAnswer:
    """Ask on the terminal for each side-effect action the run wants, and resume it with the decision."""
    while answer.pending_approval is not None:
        pending = answer.pending_approval
        print(f"\nSwitchboard wants to {pending.description}", file=sys.stderr)
        reply = await asyncio.to_thread(input, "Approve? [y/N] ")
        approved = reply.strip().lower() in ("y", "yes")
        answer = await runner.resume(
            pending.approval_id, approved=approved, decided_by=f"cli:{user_id}", on_progress=print_progress
        )
    return answer


def ask_command(settings: Settings, args: argparse.Namespace) -> int:
    on_terminal = not args.json and sys.stdin.isatty()

    async def work(service: Service) -> AgentAnswer:
        asker = await cli_asker(service, args.user)
        request = AgentRequest(
            question=args.question, thread_id=f"cli:{uuid.uuid4().hex}", asker=asker, approver_present=on_terminal
        )
        runner = runner_of(service)
        answer = await runner.answer(request, None if args.json else print_progress)
        if on_terminal:
            answer = await settle_approvals(runner, answer, asker.user_id)
        return answer

    answer = run_with_service(settings, work)
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False))
    else:
        print(render_answer(answer))
        if answer.pending_approval is not None:
            print("(this action needs approval on a terminal; it was left undecided)", file=sys.stderr)
    return 0


def chat_command(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> int:
        asker = await cli_asker(service, args.user)
        runner = runner_of(service)
        thread_id = f"cli:{uuid.uuid4().hex}"
        print(f"Switchboard chat ({runner.mode} mode) as {asker.user_id}. Type /help for commands.", file=sys.stderr)
        while True:
            try:
                line = (await asyncio.to_thread(input, "you> ")).strip()
            except EOFError:
                return 0
            if not line:
                continue
            if line.startswith("/"):
                if line in ("/quit", "/exit"):
                    return 0
                if line == "/new":
                    thread_id = f"cli:{uuid.uuid4().hex}"
                    print("(new conversation)")
                    continue
                print(await chat_command_reply(runner, asker, line))
                continue
            request = AgentRequest(question=line, thread_id=thread_id, asker=asker, approver_present=True)
            answer = await runner.answer(request, print_progress)
            answer = await settle_approvals(runner, answer, asker.user_id)
            print(f"switchboard> {render_answer(answer)}\n")

    return run_with_service(settings, work)


async def chat_command_reply(runner: AgentRuntime, asker: Asker, line: str) -> str:
    """The reply to a ``/command`` typed in chat."""
    command, _, argument = line.partition(" ")
    if command == "/help":
        return CHAT_HELP
    if command not in ("/memories", "/forget"):
        return f"unknown command {command}; type /help"
    if runner.memory is None:
        return "long-term memory is not available"
    memories = await runner.memory.list_memories(workspace_id=asker.workspace_id, user_id=asker.user_id)
    if command == "/memories":
        if not memories:
            return "I remember nothing about you yet."
        return "\n".join(f"  {i}. {m.text}  ({m.created_at:%Y-%m-%d})" for i, m in enumerate(memories, 1))
    if not argument.strip().isdigit() or not 1 <= int(argument) <= len(memories):
        return f"usage: /forget N, where N is a number from /memories (1 to {len(memories)})"
    chosen = memories[int(argument) - 1]
    forgotten = await runner.memory.forget(
        workspace_id=asker.workspace_id, user_id=asker.user_id, memory_id=chosen.memory_id
    )
    return f"Forgotten: {forgotten.text}"
