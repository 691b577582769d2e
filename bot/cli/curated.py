"""``switchboard curated list|show|add|edit|confirm|retire``: experts' corrections from the terminal (the same store
as Slack's "Correct" button and ``/kb curated``), with each one's hit count and last use."""

from __future__ import annotations

import argparse
import getpass
import json

from agents.curated import CuratedAnswer, CuratedStore
from bot.cli.agent import run_with_service
from bot.composition.service import Service
from bot.settings import Settings


def add_curated_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    curated = commands.add_parser("curated", help="curated answers: experts' corrections the bot reuses")
    actions = curated.add_subparsers(dest="curated_command", required=True, metavar="ACTION")
    author = {"default": None, "help": "who makes the change (default: cli:<your login>)"}

    listing = actions.add_parser("list", help="every curated answer with its hits and last use (flags changed sources)")
    listing.add_argument("--all", action="store_true", help="include retired ones")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=curated_command, curated_action="list")

    show = actions.add_parser("show", help="a curated answer's live version and its history")
    show.add_argument("id", type=int)
    show.set_defaults(handler=curated_command, curated_action="show")

    add = actions.add_parser("add", help="write a curated answer for a question")
    add.add_argument("question")
    add.add_argument("answer")
    add.add_argument("--source", action="append", default=[], help="an indexed document URL or path (repeatable)")
    add.add_argument("--channel", action="append", default=[], help="serve only in this Slack channel id")
    add.add_argument("--author", **author)  # type: ignore[arg-type]
    add.set_defaults(handler=curated_command, curated_action="add")

    edit = actions.add_parser("edit", help="a new version (and a finished review)")
    edit.add_argument("id", type=int)
    edit.add_argument("--answer")
    edit.add_argument("--question")
    edit.add_argument("--source", action="append", default=None, help="replace the sources (repeatable)")
    edit.add_argument("--note", default="")
    edit.add_argument("--author", **author)  # type: ignore[arg-type]
    edit.set_defaults(handler=curated_command, curated_action="edit")

    confirm = actions.add_parser("confirm", help="a flagged answer still holds after its sources changed")
    confirm.add_argument("id", type=int)
    confirm.add_argument("--author", **author)  # type: ignore[arg-type]
    confirm.set_defaults(handler=curated_command, curated_action="confirm")

    retire = actions.add_parser("retire", help="never serve it again")
    retire.add_argument("id", type=int)
    retire.add_argument("--author", **author)  # type: ignore[arg-type]
    retire.set_defaults(handler=curated_command, curated_action="retire")


def curated_line(answer: CuratedAnswer) -> str:
    last = f"{answer.last_used_at:%Y-%m-%d %H:%M}" if answer.last_used_at else "never"
    channels = f" channels={','.join(answer.channels)}" if answer.channels else ""
    return (
        f"#{answer.id}\tv{answer.live.version}\t{answer.status}\t{answer.hit_count} hits\tlast used {last}\t"
        f"{answer.live.question}{channels}"
    )


def curated_command(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> str:
        return await run_curated_action(CuratedStore(service.sessions, service.embedder), args)

    print(run_with_service(settings, work), end="")
    return 0


async def run_curated_action(store: CuratedStore, args: argparse.Namespace) -> str:
    who = getattr(args, "author", None) or f"cli:{getpass.getuser()}"
    action = args.curated_action
    if action == "list":
        flagged = await store.review_changed_sources()
        answers = await store.list_answers(include_retired=args.all)
        if args.json:
            return "".join(json.dumps(a.model_dump(mode="json"), ensure_ascii=False) + "\n" for a in answers)
        lines = [f"#{a.id} needs review: {a.review_reason}" for a in flagged]
        lines += [curated_line(answer) for answer in answers] or ["no curated answers yet"]
        return "\n".join(lines) + "\n"
    if action == "show":
        answer = await store.get(args.id)
        lines = [curated_line(answer), "", answer.live.answer, ""]
        lines += [f"source: {source.url}" for source in answer.live.sources]
        if answer.review_reason:
            lines.append(f"needs review: {answer.review_reason}")
        lines.append("history:")
        lines += [
            f"  v{v.version} {v.created_at:%Y-%m-%d %H:%M} by {v.author}{': ' + v.note if v.note else ''}"
            for v in await store.history(args.id)
        ]
        return "\n".join(lines) + "\n"
    if action == "add":
        answer = await store.add(args.question, args.answer, author=who, sources=args.source, channels=args.channel)
    elif action == "edit":
        answer = await store.edit(
            args.id, author=who, answer=args.answer, question=args.question, sources=args.source, note=args.note
        )
    elif action == "confirm":
        answer = await store.confirm(args.id, author=who)
    else:
        answer = await store.retire(args.id, author=who)
    return curated_line(answer) + "\n"
