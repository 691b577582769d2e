"""A job worker on the test's own event loop (what ``JOBS_IN_PROCESS`` does in ``serve``), and waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from bot.jobs import JobHandler, JobKind, JobQueue, JobWorker
from testing_support.waiting import eventually


@asynccontextmanager
async def working_jobs(queue: JobQueue, handlers: Mapping[JobKind, JobHandler]) -> AsyncIterator[JobWorker]:
    """Run a worker with ``handlers`` until the block ends; jobs queued before the end are left as they are."""
    worker = JobWorker(queue, handlers, grace_seconds=1)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def settle(queue: JobQueue, *, within_seconds: float = 30.0) -> None:
    """Wait until no job is queued or running (a failed one counts as settled)."""

    async def idle() -> bool:
        counts = await queue.counts()
        return not any(count.status in ("todo", "doing") for count in counts)

    await eventually(idle, what="the job queue to be empty", within_seconds=within_seconds)
