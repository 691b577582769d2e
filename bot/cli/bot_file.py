"""``switchboard export`` and ``switchboard apply FILE``: the bot as one reviewable TOML file (see ``bot.bot_file``)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.bot_file import BotFileApplication, export_bot, render_bot_file
from bot.cli.agent import run_with_service
from bot.composition.service import Service
from bot.settings import Settings


def add_bot_file_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser("export", help="write the whole bot as one TOML file (secrets excluded)")
    export.add_argument("--output", "-o", type=Path, help="write here instead of standard output")
    export.add_argument("--with-eval-sets", action="store_true", help="include the evaluation sets")
    export.add_argument("--with-curated", action="store_true", help="include the curated answers")
    export.set_defaults(handler=export_command)

    apply = commands.add_parser("apply", help="show what a bot file would change, then apply it on confirmation")
    apply.add_argument("file", type=Path, metavar="FILE")
    apply.add_argument("--yes", action="store_true", help="apply without asking (for CI)")
    apply.set_defaults(handler=apply_command)


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> str:
        document = await export_bot(
            service.sessions,
            settings,
            embedder=service.embedder,
            with_eval_sets=args.with_eval_sets,
            with_curated=args.with_curated,
        )
        return render_bot_file(document)

    text = run_with_service(settings, work)
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text, end="")
    return 0


def apply_command(settings: Settings, args: argparse.Namespace) -> int:
    text = args.file.read_text(encoding="utf-8")

    async def work(service: Service) -> int:
        application = BotFileApplication(
            service.engine, service.sessions, settings, text, embedder=service.embedder, origin=str(args.file)
        )
        diff = await application.diff()
        if not diff:
            print(f"nothing to change: the bot is already as {args.file} says")
            return 0
        print(diff, end="")
        if not args.yes:
            if not sys.stdin.isatty():
                print("not applied: confirm on a terminal, or pass --yes", file=sys.stderr)
                return 1
            reply = await asyncio.to_thread(input, "Apply these changes? [y/N] ")
            if reply.strip().lower() not in ("y", "yes"):
                print("not applied", file=sys.stderr)
                return 1
        for line in await application.apply():
            print(f"applied: {line}")
        print("restart running services for config-file changes (sources, channels, tools) to take effect")
        return 0

    return run_with_service(settings, work)
