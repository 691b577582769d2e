"""``switchboard prompts list|show|set|history|diff|rollback``: thin handlers over ``PromptStore``."""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from agents import PromptStore, PromptValidationError
from agents.evaluation import GatedChange, PromptGate, comparison_table
from bot.cli.agent import run_with_service
from bot.composition.service import Service
from bot.settings import Settings


def version_number(text: str) -> int:
    """Accept ``3`` or ``v3``."""
    digits = text.lower().removeprefix("v")
    if not digits.isdigit() or int(digits) < 1:
        raise argparse.ArgumentTypeError(f"expected a version like v3 or 3, got {text!r}")
    return int(digits)


def add_prompts_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    prompts = commands.add_parser("prompts", help="list, show and change the versioned prompts")
    actions = prompts.add_subparsers(dest="prompts_command", required=True, metavar="ACTION")
    author = {"default": None, "help": "who makes the change (default: cli:<your login>)"}

    listing = actions.add_parser("list", help="every prompt with its live version")
    listing.set_defaults(handler=prompts_command, prompt_action="list")

    show = actions.add_parser("show", help="print a prompt's live text, or a given version")
    show.add_argument("name")
    show.add_argument("version", nargs="?", type=version_number, help="e.g. v2 (default: the live version)")
    show.set_defaults(handler=prompts_command, prompt_action="show")

    change = actions.add_parser(
        "set",
        help="store new text as the next version and make it live (a gated prompt: only if it passes its "
        "evaluation set; exit 1 otherwise)",
    )
    change.add_argument("name")
    source = change.add_mutually_exclusive_group()
    source.add_argument("--text", help="the new text (default: read standard input)")
    source.add_argument("--file", type=Path, help="read the new text from this file")
    change.add_argument("--note", default="", help="why it changed")
    change.add_argument("--author", **author)  # type: ignore[arg-type]
    change.set_defaults(handler=prompts_command, prompt_action="set")

    history = actions.add_parser("history", help="every version, newest first")
    history.add_argument("name")
    history.set_defaults(handler=prompts_command, prompt_action="history")

    diff = actions.add_parser("diff", help="unified diff between two versions (default: against the live one)")
    diff.add_argument("name")
    diff.add_argument("from_version", type=version_number)
    diff.add_argument("to_version", nargs="?", type=version_number)
    diff.set_defaults(handler=prompts_command, prompt_action="diff")

    rollback = actions.add_parser("rollback", help="make an old version's text live again (as a new version)")
    rollback.add_argument("name")
    rollback.add_argument("version", type=version_number)
    rollback.add_argument("--author", **author)  # type: ignore[arg-type]
    rollback.set_defaults(handler=prompts_command, prompt_action="rollback")


def prompts_command(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> tuple[str, int]:
        store = PromptStore(service.sessions)
        if args.prompt_action == "set":
            gate = PromptGate(store, service.evaluation_runner())
            if gate.set_for(args.name) is not None:
                return await _gated_set(gate, args)
        return await run_prompt_action(store, args), 0

    printed, code = run_with_service(settings, work)
    print(printed, end="")
    return code


async def _gated_set(gate: PromptGate, args: argparse.Namespace) -> tuple[str, int]:
    """The same gate as ``/prompt set``: a candidate version, live only if not worse on the prompt's set."""
    text = args.text if args.text is not None else _read_text(args.file)
    who = args.author or f"cli:{getpass.getuser()}"
    change: GatedChange = await gate.change(args.name, text, who, note=args.note or "set from the CLI (gated)")
    table = comparison_table(change.comparison)
    if not change.promoted:
        return (
            f"{args.name} v{change.candidate.version} was stored but not made live: on evaluation set "
            f"{change.set_name} it is worse than the live v{change.before.version} ({change.dropped})\n{table}\n",
            1,
        )
    return f"{args.name} v{change.live.version} is live; it passed evaluation set {change.set_name}\n{table}\n", 0


async def run_prompt_action(store: PromptStore, args: argparse.Namespace) -> str:
    action = args.prompt_action
    if action == "list":
        rows = await store.list_prompts()
        return "".join(
            f"{p.name:<16} v{p.live_version:<4} {p.versions} versions, last changed {p.updated_at:%Y-%m-%d %H:%M} "
            f"by {p.updated_by}\n"
            for p in rows
        )
    if action == "show":
        prompt = await store.get(args.name, args.version)
        state = "live" if prompt.live else "not live"
        when = f"{prompt.created_at:%Y-%m-%d %H:%M}"
        return f"# {prompt.name} v{prompt.version} ({state}; {prompt.author}, {when})\n{prompt.text}\n"
    if action == "history":
        return "".join(
            f"v{v.version:<4} {'live' if v.live else '    '} {v.created_at:%Y-%m-%d %H:%M} {v.author}"
            + (f" - {v.note}" if v.note else "")
            + "\n"
            for v in await store.history(args.name)
        )
    if action == "diff":
        return await store.diff(args.name, args.from_version, args.to_version) or "(no differences)\n"
    who = args.author or f"cli:{getpass.getuser()}"
    if action == "rollback":
        rolled = await store.rollback(args.name, args.version, author=who)
        return f"{rolled.name} v{rolled.version} is live (the text of v{args.version})\n"
    text = args.text if args.text is not None else _read_text(args.file)
    stored = await store.set(args.name, text, author=who, note=args.note)
    return f"{stored.name} v{stored.version} is live\n"


def _read_text(path: Path | None) -> str:
    if path is None:
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise PromptValidationError(f"cannot read {path}: {error.strerror}") from None
