"""Who works the job queue: ``switchboard worker`` processes, the ones ``serve`` starts and supervises, or (with
``jobs_in_process``) ``serve``'s own event loop.

By default ``serve`` acknowledges Slack in its own process and answers in a separate worker process it starts and
restarts: an answer's retrieval, checkpoints and traces never run on the event loop that has to acknowledge within
3 seconds (measured in bench/slack_ack.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp

from bot.composition.background_tasks import cancel_background, start_background
from bot.composition.service import Service
from bot.jobs import JobHandler, JobKind, JobWorker
from bot.settings import Settings
from bot.slack.answering import AnswerFlow
from bot.slack.web_client import create_slack_client

logger = logging.getLogger(__name__)

# A worker process that exits is started again after this long (doubling while it keeps dying, up to a minute).
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 60.0


@asynccontextmanager
async def job_handlers(service: Service) -> AsyncIterator[Mapping[JobKind, JobHandler]]:
    """How this process runs each kind of job, built from the service (Slack answers only when Slack is set up)."""
    handlers: dict[JobKind, JobHandler] = {}
    async with AsyncExitStack() as stack:
        client = create_slack_client(service.settings)
        if client is not None:
            # One HTTP session for every Web API call (slack_sdk would otherwise open one per call).
            client.session = aiohttp.ClientSession()
            stack.push_async_callback(client.session.close)
            flow = AnswerFlow.from_settings(
                service.settings,
                service.sessions,
                service.runner,
                client,
                count_event=service.metrics.count_slack_event,
            )
            stack.push_async_callback(flow.aclose)
            handlers[JobKind.SLACK_ANSWER] = JobHandler(run=flow.answer_job, give_up=flow.give_up)
        yield handlers


def job_worker(service: Service, handlers: Mapping[JobKind, JobHandler], *, signals: bool = False) -> JobWorker:
    settings = service.settings
    return JobWorker(
        service.queue,
        handlers,
        concurrency=settings.job_concurrency,
        max_attempts=settings.job_max_attempts,
        grace_seconds=settings.shutdown_grace_seconds,
        install_signal_handlers=signals,
    )


async def run_worker(settings: Settings) -> None:
    """``switchboard worker``: work jobs until SIGTERM/SIGINT, then finish running ones within the grace period."""
    async with AsyncExitStack() as stack:
        service = await Service.start(settings)
        stack.push_async_callback(service.aclose)
        async with job_handlers(service) as handlers:
            await job_worker(service, handlers, signals=True).run()


async def start_job_work(service: Service, stack: AsyncExitStack) -> None:
    """What ``serve`` does about jobs: supervise worker processes, work them in process, or neither."""
    settings = service.settings
    if not settings.slack_enabled:
        # Answers to Slack questions are the only jobs so far: without Slack there is nothing to work.
        logger.info("jobs: Slack is disabled, so no job worker is started")
        return
    if settings.jobs_in_process:
        handlers = await stack.enter_async_context(job_handlers(service))
        worker = start_background(
            job_worker(service, handlers).run(), name="job-worker", failure="the in-process job worker stopped"
        )
        stack.push_async_callback(cancel_background, worker)
        logger.info("jobs: worked in this process")
        return
    if settings.job_workers == 0:
        logger.info("jobs: no worker processes started here (JOB_WORKERS=0); run `switchboard worker` beside it")
        return
    supervisor = WorkerProcesses(settings.job_workers, grace_seconds=settings.shutdown_grace_seconds)
    supervisor.start()
    stack.push_async_callback(supervisor.stop)


class WorkerProcesses:
    """``count`` ``switchboard worker`` processes with this process's environment; each restarted if it exits."""

    def __init__(self, count: int, *, grace_seconds: float) -> None:
        self.count = count
        self.grace_seconds = grace_seconds
        self._processes: dict[int, asyncio.subprocess.Process] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes.values() if process.returncode is None]

    def start(self) -> None:
        for slot in range(self.count):
            self._tasks.append(asyncio.get_running_loop().create_task(self._keep_running(slot)))
        logger.info("jobs: %d worker process(es) started", self.count)

    async def _keep_running(self, slot: int) -> None:
        delay = RESTART_DELAY_SECONDS
        while not self._stopping:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "worker", env=dict(os.environ), start_new_session=True
            )
            self._processes[slot] = process
            code = await process.wait()
            if self._stopping:
                return
            logger.error("job worker process %d exited with %s; starting it again in %.0f s", process.pid, code, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RESTART_DELAY_SECONDS)

    async def stop(self) -> None:
        """SIGTERM every worker (they finish running jobs within the grace period), then wait; SIGKILL stragglers."""
        self._stopping = True
        running = [process for process in self._processes.values() if process.returncode is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        if running:
            _, late = await asyncio.wait(
                [asyncio.ensure_future(process.wait()) for process in running], timeout=self.grace_seconds + 10
            )
            for process in running:
                if process.returncode is None:
                    logger.error("job worker process %d did not stop in time; killing it", process.pid)
                    with contextlib.suppress(ProcessLookupError):
                        process.kill()
            for waiter in late:
                await waiter
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
