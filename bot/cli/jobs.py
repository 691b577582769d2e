"""``switchboard worker`` and ``switchboard jobs list|retry``: work the job queue, and see or retry what is on it."""

from __future__ import annotations

import argparse
import asyncio
import json

from bot.cli.agent import run_with_service
from bot.composition.job_work import run_worker
from bot.composition.service import Service
from bot.jobs import JobSummary
from bot.settings import Settings

STATUSES = ("todo", "doing", "stalled", "succeeded", "failed", "cancelled", "aborted")


def add_jobs_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = commands.add_parser("worker", help="work queued jobs (Slack answers, ...) without serving HTTP")
    worker.set_defaults(handler=_worker)

    jobs = commands.add_parser("jobs", help="the job queue: list jobs, retry a failed or stalled one")
    actions = jobs.add_subparsers(dest="jobs_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the newest jobs (queued, running, stalled, failed, ...)")
    listing.add_argument("--status", choices=STATUSES, help="only jobs in this state")
    listing.add_argument("--kind", help="only jobs of this kind, e.g. slack.answer")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_list)
    retry = actions.add_parser("retry", help="queue a failed or stalled job again, to run now")
    retry.add_argument("job_id", type=int, metavar="ID")
    retry.set_defaults(handler=_retry)


def _worker(settings: Settings, args: argparse.Namespace) -> int:
    asyncio.run(run_worker(settings))
    return 0


def _list(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> list[JobSummary]:
        return await service.queue.list_jobs(status=args.status, kind=args.kind, limit=args.limit)

    jobs = run_with_service(settings, work)
    if args.json:
        print(
            json.dumps([job.model_dump(mode="json") | {"status": job.shown_status, "runs": job.runs} for job in jobs])
        )
        return 0
    if not jobs:
        print("no jobs" + (f" {args.status}" if args.status else ""))
        return 0
    print(f"{'ID':>8}  {'KIND':<20} {'STATUS':<10} {'RUNS':>4}  QUEUED")
    for job in jobs:
        queued = job.queued_at.strftime("%Y-%m-%d %H:%M:%S") if job.queued_at else "-"
        print(f"{job.id:>8}  {job.kind:<20} {job.shown_status:<10} {job.runs:>4}  {queued}")
    return 0


def _retry(settings: Settings, args: argparse.Namespace) -> int:
    async def work(service: Service) -> JobSummary:
        return await service.queue.retry(args.job_id)

    job = run_with_service(settings, work)
    print(f"job {job.id} ({job.kind}) is queued again")
    return 0
