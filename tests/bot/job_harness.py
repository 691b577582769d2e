"""A job worker on the test's own event loop (what ``JOBS_IN_PROCESS`` does in ``serve``), and waiting for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from bot.jobs import JobHandler, JobKind, JobQueue, JobWorker
from testing_support.waiting import eventually


@asynccontextmanager
async def working_jobs(
    queue: JobQueue, handlers: Mapping[JobKind, JobHandler], *, max_attempts: int = 3
) -> AsyncIterator[JobWorker]:
    """Run a worker with ``handlers`` on the queue's database until the block ends, then stop it as SIGTERM would
    (running jobs get a second, then go back in the queue). Each worker has a queue connection of its own, as a
    worker process would."""
    own_queue = JobQueue(queue.database_url)
    await own_queue.open()
    worker = JobWorker(own_queue, handlers, grace_seconds=1, max_attempts=max_attempts)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield worker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await own_queue.aclose()


async def settle(queue: JobQueue, *, within_seconds: float = 30.0) -> None:
    """Wait until no job is queued or running (a failed one counts as settled)."""

    async def idle() -> bool:
        counts = await queue.counts()
        return not any(count.status in ("todo", "doing") for count in counts)

    await eventually(idle, what="the job queue to be empty", within_seconds=within_seconds)
