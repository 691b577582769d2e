"""``switchboard traces list|show|daily|prune``: what the agent did in recent runs, and what it cost."""

from __future__ import annotations

import argparse
import json
from typing import Any

from sqlalchemy import select

from agents.trace_listing import TraceFilter, daily_totals, find_traces
from bot.cli.agent import run_with_service
from bot.cli.prompts import version_number
from bot.composition.service import Service
from bot.composition.trace_retention import prune_traces
from bot.errors import BotError
from bot.settings import Settings
from bot.slack.tables import SlackFeedback


def add_traces_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    traces = commands.add_parser("traces", help="recent agent runs: list, show one in full, daily totals")
    actions = traces.add_subparsers(dest="traces_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the newest runs, filtered")
    listing.add_argument("--user", help="asked by this user id")
    listing.add_argument("--channel", choices=["slack", "phone", "cli", "schedule"])
    listing.add_argument("--prompt", help="used this prompt (with --version: that version of it)")
    listing.add_argument("--version", type=version_number)
    listing.add_argument("--rating", choices=["up", "down"], help="rated 👍 or 👎 by someone in Slack")
    listing.add_argument("--limit", type=int, default=20)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)

    show = actions.add_parser("show", help="one run in full: plan, tools, passages, versions, cost, rating")
    show.add_argument("trace_id", metavar="TRACE_ID")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=_show)

    daily = actions.add_parser("daily", help="runs, tokens and latency per day and prompt version")
    daily.add_argument("--prompt", default="answer")
    daily.add_argument("--days", type=int, default=7)
    daily.set_defaults(handler=_daily)

    prune = actions.add_parser("prune", help="delete traces past the retention period now")
    prune.set_defaults(handler=_prune)


async def _ratings(service: Service, trace_ids: list[str] | None = None, rating: int | None = None) -> list[Any]:
    query = select(SlackFeedback)
    if trace_ids is not None:
        query = query.where(SlackFeedback.trace_id.in_(trace_ids))
    if rating is not None:
        query = query.where(SlackFeedback.rating == rating)
    async with service.sessions() as session:
        return list(await session.scalars(query))


def _list(settings: Settings, args: argparse.Namespace) -> int:
    if args.version is not None and args.prompt is None:
        raise BotError("--version needs --prompt NAME (the prompt whose version to filter on)")

    async def work(service: Service) -> list[dict[str, Any]]:
        rated = None
        if args.rating is not None:
            rated = {r.trace_id for r in await _ratings(service, rating=1 if args.rating == "up" else -1)}
        wanted = TraceFilter(
            user_id=args.user,
            channel=args.channel,
            prompt_name=args.prompt,
            prompt_version=args.version,
            trace_ids=rated,
            limit=args.limit,
        )
        found = await find_traces(service.sessions, wanted)
        ratings = await _ratings(service, [t.trace_id for t in found])
        scores: dict[str, list[int]] = {}
        for row in ratings:
            scores.setdefault(row.trace_id, []).append(row.rating)
        return [
            {
                "trace_id": t.trace_id,
                "created_at": t.created_at.isoformat() if t.created_at else None,
                "user_id": t.user_id,
                "channel": t.channel,
                "status": t.status,
                "prompt_versions": t.prompt_versions,
                "tokens": t.input_tokens + t.output_tokens,
                "total_ms": t.total_ms,
                "up": scores.get(t.trace_id, []).count(1),
                "down": scores.get(t.trace_id, []).count(-1),
                "question": t.question,
            }
            for t in found
        ]

    rows = run_with_service(settings, work)
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    for row in rows:
        versions = ",".join(f"{n}v{v}" for n, v in sorted(row["prompt_versions"].items()) if n == "answer") or "-"
        print(
            f"{row['trace_id']}  {(row['created_at'] or '')[:16]}  {row['user_id']:<12} {row['channel']:<8} "
            f"{versions:<9} {row['tokens']:>6} tok {row['total_ms']:>8.0f} ms  +{row['up']}/-{row['down']}  "
            f"{row['question'][:60]}"
        )
    if not rows:
        print("no traces match")
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> dict[str, Any]:
        trace = await service.runner.traces.get(args.trace_id)
        if trace is None:
            raise BotError(f"no trace {args.trace_id!r} (it may have passed the retention period)")
        shown: dict[str, Any] = trace.model_dump(mode="json")
        shown["ratings"] = [
            {"user_id": r.user_id, "rating": r.rating, "comment": r.comment}
            for r in await _ratings(service, [trace.trace_id])
        ]
        return shown

    shown = run_with_service(settings, work)
    if args.json:
        print(json.dumps(shown, ensure_ascii=False))
        return 0
    for key in ("trace_id", "created_at", "user_id", "channel", "status", "route", "model", "mode", "error"):
        print(f"{key:<16} {shown[key]}")
    print(f"{'prompt versions':<16} " + ", ".join(f"{n} v{v}" for n, v in sorted(shown["prompt_versions"].items())))
    print(f"{'tokens':<16} {shown['input_tokens']} in, {shown['output_tokens']} out")
    print(
        f"{'latency':<16} {shown['total_ms']:.0f} ms: "
        + ", ".join(f"{n} {ms:.0f}" for n, ms in shown["latency_ms"].items())
    )
    print(f"\nquestion: {shown['question']}\n\nplan:")
    print("\n".join(f"  - {step}" for step in shown["plan"]) or "  (none)")
    print("tool calls:")
    for call in shown["tool_calls"]:
        print(f"  - {json.dumps(call, ensure_ascii=False)[:400]}")
    print(f"retrieved passages (chunk ids): {shown['chunk_ids']}")
    print("reflection:")
    for verdict in shown["reflections"]:
        print(f"  - {json.dumps(verdict, ensure_ascii=False)[:400]}")
    print(f"\nanswer:\n{shown['answer']}\n")
    for note in shown["notes"]:
        print(f"note: {note}")
    for rating in shown["ratings"]:
        mark = "+1" if rating["rating"] > 0 else "-1"
        print(f"rating {mark} by {rating['user_id']}" + (f": {rating['comment']}" if rating["comment"] else ""))
    return 0


def _daily(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> list[Any]:
        return await daily_totals(service.sessions, args.prompt, days=args.days)

    totals = run_with_service(settings, work)
    print(f"{'day':<10} {'version':>7} {'runs':>5} {'tokens in':>10} {'tokens out':>10} {'mean ms':>9} {'max ms':>9}")
    for t in totals:
        print(
            f"{t.day.isoformat():<10} {'v' + str(t.prompt_version):>7} {t.runs:>5} {t.input_tokens:>10} "
            f"{t.output_tokens:>10} {t.mean_ms:>9.0f} {t.max_ms:>9.0f}"
        )
    return 0


def _prune(settings: Settings, args: argparse.Namespace) -> int:
    days = settings.agent.trace_privacy.retention_days
    deleted = run_with_service(settings, prune_traces)
    print(f"deleted {deleted} traces older than {days} days" if days else "retention is off (retention_days unset)")
    return 0
