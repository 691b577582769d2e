"""``switchboard eval import|export|sets|run|diff``: evaluation sets of cases, and runs that gate prompt versions.

``switchboard eval --questions FILE`` (retrieval only) stays in ``bot.cli.knowledge``; these are its subcommands.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from agents.evaluation import (
    EvaluationRunStore,
    EvaluationSetStore,
    case_lines,
    comparison_json,
    comparison_table,
    parse_case_lines,
)
from bot.cli.agent import run_with_service
from bot.cli.prompts import version_number
from bot.composition.service import Service
from bot.errors import BotError
from bot.settings import Settings

EXIT_OK = 0
EXIT_WORSE = 1


def add_evaluation_commands(evaluate: argparse.ArgumentParser) -> None:
    """Register the answer-level subcommands under the ``eval`` parser."""
    actions = evaluate.add_subparsers(dest="eval_command", required=False, metavar="ACTION")

    importing = actions.add_parser("import", help="add or update an evaluation set's cases from JSON lines")
    importing.add_argument("--set", required=True, dest="set_name", metavar="NAME")
    importing.add_argument("file", type=Path, metavar="FILE", help="JSON lines; `-` reads standard input")
    importing.add_argument("--author", default=None, help="who adds the cases (default: cli:<your login>)")
    importing.set_defaults(handler=_import)

    exporting = actions.add_parser("export", help="print an evaluation set's current cases as JSON lines")
    exporting.add_argument("--set", required=True, dest="set_name", metavar="NAME")
    exporting.add_argument("file", nargs="?", type=Path, metavar="FILE", help="write here instead of stdout")
    exporting.set_defaults(handler=_export)

    listing = actions.add_parser("sets", help="every evaluation set with its number of cases")
    listing.set_defaults(handler=_sets)

    run = actions.add_parser("run", help="answer a set with a prompt version and with the live one, and compare")
    run.add_argument("--set", required=True, dest="set_name", metavar="NAME")
    run.add_argument("--prompt", required=True, metavar="NAME")
    run.add_argument("--version", required=True, type=version_number, metavar="N")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    run.set_defaults(handler=_run)

    diff = actions.add_parser("diff", help="per-case differences between two stored runs")
    diff.add_argument("before", type=int, metavar="RUN_ID")
    diff.add_argument("after", type=int, metavar="RUN_ID")
    diff.add_argument("--json", action="store_true")
    diff.set_defaults(handler=_diff)


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise BotError(f"cannot read {path}: {error.strerror}") from None


def _import(settings: Settings, args: argparse.Namespace) -> int:
    cases = parse_case_lines(_read(args.file), origin=str(args.file))
    author = args.author or f"cli:{getpass.getuser()}"

    async def work(service: Service) -> str:
        summary = await EvaluationSetStore(service.sessions).import_cases(args.set_name, cases, author=author)
        return (
            f"{args.set_name}: {summary.added} added, {summary.changed} changed (new versions), "
            f"{summary.unchanged} unchanged"
        )

    print(run_with_service(settings, work))
    return EXIT_OK


def _export(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> str:
        return case_lines(await EvaluationSetStore(service.sessions).cases(args.set_name))

    text = run_with_service(settings, work)
    if args.file is None:
        print(text, end="")
    else:
        args.file.write_text(text, encoding="utf-8")
        print(f"wrote {text.count(chr(10))} cases to {args.file}", file=sys.stderr)
    return EXIT_OK


def _sets(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> str:
        found = await EvaluationSetStore(service.sessions).sets()
        return "".join(f"{s.name:<24} {s.cases} cases, created {s.created_at:%Y-%m-%d}\n" for s in found)

    print(run_with_service(settings, work) or "no evaluation sets yet; add one with `switchboard eval import`", end="")
    return EXIT_OK


def _run(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> Any:
        return await service.evaluation_runner().compare(args.set_name, args.prompt, args.version)

    comparison = run_with_service(settings, work)
    if args.json:
        print(json.dumps(comparison_json(comparison), ensure_ascii=False))
    else:
        print(comparison_table(comparison))
    return EXIT_OK if comparison.passed else EXIT_WORSE


def _diff(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> Any:
        return await EvaluationRunStore(service.sessions).differences(args.before, args.after)

    differences = run_with_service(settings, work)
    if args.json:
        print(json.dumps([d.model_dump() for d in differences], ensure_ascii=False))
        return EXIT_OK
    if not differences:
        print(f"runs #{args.before} and #{args.after} graded every case the same")
    for d in differences:
        before = "n/a" if d.before is None else ("pass" if d.before else "FAIL")
        after = "n/a" if d.after is None else ("pass" if d.after else "FAIL")
        print(f"{d.grader}: {before} -> {after} [{d.key}] {d.question}\n    {d.detail}")
    return EXIT_OK
