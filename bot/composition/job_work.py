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
from pydantic import BaseModel
from slack_sdk.web.async_client import AsyncWebClient

from bot.composition.background_tasks import cancel_background, start_background
from bot.composition.knowledge_sync import source_config, sync_configured_permissions, sync_configured_source
from bot.composition.service import Service
from bot.composition.startup_heap import freeze_startup_heap
from bot.composition.trace_retention import prune_traces
from bot.jobs import (
    JobAttempt,
    JobHandler,
    JobKind,
    JobWorker,
    PermissionSyncJob,
    ScheduleRunJob,
    SourceSyncJob,
    TraceRetentionJob,
)
from bot.phone import PhoneConfig
from bot.phone.calls import CallStore
from bot.phone.intake import IntakeFiler
from bot.phone.intake_jobs import IntakeJobs
from bot.scheduling import schedule_executor
from bot.settings import Settings
from bot.slack.answering import AnswerFlow
from bot.slack.web_client import create_slack_client

logger = logging.getLogger(__name__)

# A worker process that exits is started again after this long (doubling while it keeps dying, up to a minute).
RESTART_DELAY_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 60.0
# Worker processes run this much nicer than serve: on a machine with few cores the kernel then gives the acknowledging
# process the CPU first when a burst of events arrives while answers are running (bench/slack_ack.py). They stay in
# serve's session (their own process group, so a terminal's Ctrl-C reaches serve alone): Linux schedules each session
# as one group, and a worker in a session of its own would weigh as much as serve whatever its niceness.
WORKER_NICENESS = 10


@asynccontextmanager
async def job_handlers(service: Service) -> AsyncIterator[Mapping[JobKind, JobHandler]]:
    """How this process runs each kind of job, built from the service (Slack answers and approval resumes only when
    Slack is set up)."""
    settings = service.settings
    handlers: dict[JobKind, JobHandler] = {}
    async with AsyncExitStack() as stack:
        client = create_slack_client(settings)
        if client is not None:
            # One HTTP session for every Web API call (slack_sdk would otherwise open one per call).
            client.session = aiohttp.ClientSession()
            stack.push_async_callback(client.session.close)
            flow = AnswerFlow.from_settings(
                settings,
                service.sessions,
                service.runner,
                client,
                count_event=service.metrics.count_slack_event,
            )
            stack.push_async_callback(flow.aclose)
            handlers[JobKind.SLACK_ANSWER] = JobHandler(run=flow.answer_job, give_up=flow.give_up)
            handlers[JobKind.APPROVAL_RESUME] = JobHandler(run=flow.resume_job, give_up=flow.give_up_resume)
        handlers.update(_schedule_handlers(service, client))
        handlers.update(_knowledge_handlers(service))
        calls = CallStore(service.sessions)
        intakes = IntakeJobs(
            service.queue,
            calls,
            IntakeFiler(
                calls,
                service.chat_model,
                client,
                PhoneConfig.from_settings(settings).intake_channel,
                service.runner.prompts,
            ),
        )
        handlers.update(intakes.handlers())
        yield handlers


def _schedule_handlers(service: Service, client: AsyncWebClient | None) -> dict[JobKind, JobHandler]:
    executor = schedule_executor(service, service.runner, client)
    max_attempts = service.settings.job_max_attempts

    async def run(job: ScheduleRunJob, attempt: JobAttempt) -> None:
        await executor.run(job.schedule_id, job.fire_time, job.trigger, requested_by=job.requested_by)

    async def give_up(job: ScheduleRunJob) -> None:
        await executor.give_up(job.schedule_id, job.fire_time, max_attempts)

    return {JobKind.SCHEDULE_RUN: JobHandler(run=run, give_up=give_up)}


def _knowledge_handlers(service: Service) -> dict[JobKind, JobHandler]:
    async def sync(job: SourceSyncJob, attempt: JobAttempt) -> None:
        config = source_config(service, job.source)
        if config is None:
            logger.warning("source %r is no longer in the config file; its queued sync is skipped", job.source)
            return
        await sync_configured_source(service, config, full=job.full)

    async def repermission(job: PermissionSyncJob, attempt: JobAttempt) -> None:
        config = source_config(service, job.source)
        if config is None:
            logger.warning("source %r is no longer in the config file; its permission sync is skipped", job.source)
            return
        await sync_configured_permissions(service, config)

    async def prune(job: TraceRetentionJob, attempt: JobAttempt) -> None:
        await prune_traces(service)

    async def logged(job: BaseModel) -> None:
        logger.error("%r failed on its last attempt and was given up; the next occurrence runs as usual", job)

    return {
        JobKind.SOURCE_SYNC: JobHandler(run=sync, give_up=logged),
        JobKind.PERMISSION_SYNC: JobHandler(run=repermission, give_up=logged),
        JobKind.TRACE_RETENTION: JobHandler(run=prune, give_up=logged),
    }


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
        # serve's workers run niced (WorkerProcesses); so do their PostgreSQL backends, on a server on this machine.
        service = await Service.start(settings, backend_niceness=os.getpriority(os.PRIO_PROCESS, 0))
        stack.push_async_callback(service.aclose)
        async with job_handlers(service) as handlers:
            # Before the first job: the first answer after a (re)start would otherwise wait for the model to load.
            await service.embedder.warm_up()
            freeze_startup_heap()
            await job_worker(service, handlers, signals=True).run()


async def start_job_work(service: Service, stack: AsyncExitStack) -> None:
    """What ``serve`` does about jobs: supervise worker processes, work them in process, or neither."""
    settings = service.settings
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
                sys.executable, "-m", "bot", "worker", env=dict(os.environ), process_group=0
            )
            self._processes[slot] = process
            _lower_priority(process.pid)
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


def _lower_priority(pid: int) -> None:
    """Make a just-started worker ``WORKER_NICENESS`` nicer than this process (lowering a priority needs no
    privilege). It is still starting Python, with no threads yet, so every thread it starts later inherits it."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19))
    except OSError as error:  # already gone, or a sandbox without setpriority: it then simply runs at our priority
        logger.warning("could not lower the priority of job worker process %d: %s", pid, error)
