"""Running jobs: a procrastinate worker with the service's handlers, plus the sweep that retries the jobs of dead
workers.

A worker writes a heartbeat every ``HEARTBEAT_SECONDS``. One whose heartbeat is older than
``STALLED_AFTER_SECONDS`` is dead (SIGKILL, a lost machine): any live worker's sweep puts its running jobs back in
the queue, so a replica's death costs the user seconds. A job that keeps dying, or keeps failing, stops after
``max_attempts`` and its kind's ``give_up`` tells the user, rather than the work vanishing. Stopping a worker
(SIGTERM, or cancelling ``run``) takes no new jobs, lets running ones finish within the grace period, and puts
the rest back in the queue for other workers: a deploy fails nothing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from procrastinate import JobContext, RetryDecision
from procrastinate import exceptions as procrastinate_errors
from procrastinate import jobs as procrastinate_jobs
from procrastinate.retry import BaseRetryStrategy
from procrastinate.worker import Worker
from pydantic import BaseModel

from bot.jobs.kinds import JOB_ARGUMENTS, JobKind
from bot.jobs.queue import STALLED_AFTER_SECONDS, JobQueue

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 2.0
SWEEP_SECONDS = 2.0
# A job put back in the queue is not announced (only new ones are), so workers also look for work this often.
POLL_SECONDS = 1.0
# Jobs cut off by a shutdown are retried however many attempts they used; this only stops an endless loop.
MAX_SHUTDOWN_RETRIES = 10
# How long past the grace period a stopping worker may take to put its jobs back and unregister.
STOP_MARGIN_SECONDS = 10.0


@dataclass(frozen=True)
class JobAttempt:
    """Which run of a job this is: a handler resumes rather than restarts when ``number`` > 1."""

    job_id: int
    number: int
    last: bool


@dataclass(frozen=True)
class JobHandler:
    """How a worker runs one kind of job, and what it tells the user when the job is given up."""

    run: Callable[[Any, JobAttempt], Awaitable[None]]
    give_up: Callable[[Any], Awaitable[None]]


class _AttemptPolicy(BaseRetryStrategy):
    """Retry a failure with back-off until ``max_attempts``; retry a shutdown's cut-off at once."""

    def __init__(self, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def get_retry_decision(self, *, exception: BaseException, job: procrastinate_jobs.Job) -> RetryDecision | None:
        if isinstance(exception, procrastinate_errors.JobAborted | asyncio.CancelledError):
            return RetryDecision(retry_in={"seconds": 0}) if job.attempts < MAX_SHUTDOWN_RETRIES else None
        if job.attempts + 1 >= self.max_attempts:
            return None
        return RetryDecision(retry_in={"seconds": 2 ** (job.attempts + 1)})


class JobWorker:
    """One worker: runs the jobs of the kinds in ``handlers`` until ``run`` is cancelled (or SIGTERM)."""

    def __init__(
        self,
        queue: JobQueue,
        handlers: Mapping[JobKind, JobHandler],
        *,
        concurrency: int = 16,
        max_attempts: int = 3,
        grace_seconds: float = 10.0,
        install_signal_handlers: bool = False,
        name: str | None = None,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.grace_seconds = grace_seconds
        self.install_signal_handlers = install_signal_handlers
        self.name = name or f"switchboard-worker@{socket.gethostname()}"
        self._policy = _AttemptPolicy(max_attempts)
        for kind, handler in self.handlers.items():
            self._register(kind, handler)

    def _register(self, kind: JobKind, handler: JobHandler) -> None:
        arguments_model: type[BaseModel] = JOB_ARGUMENTS[kind]
        max_attempts = self.max_attempts

        async def run(context: JobContext, /, **task_kwargs: Any) -> None:
            job = context.job
            arguments = arguments_model.model_validate(task_kwargs)
            attempt = JobAttempt(
                job_id=int(job.id or 0), number=job.attempts + 1, last=job.attempts + 1 >= max_attempts
            )
            try:
                await handler.run(arguments, attempt)
            except (asyncio.CancelledError, procrastinate_errors.JobAborted):
                raise  # a shutdown: retried by another worker, nothing to tell anyone
            except Exception:
                if attempt.last:
                    logger.exception("%s job %s failed on its last attempt; giving up", kind, attempt.job_id)
                    await handler.give_up(arguments)
                raise

        self.queue.app.task(name=kind.value, pass_context=True, retry=self._policy, queue=kind.value)(run)

    async def run(self) -> None:
        """Work jobs until cancelled; cancelling is a graceful stop (see the module's docstring)."""
        if not self.handlers:
            logger.warning("job worker %s has no kinds of job to run; it takes none", self.name)
            await asyncio.Event().wait()  # until cancelled, like a worker with nothing queued
        worker = Worker(
            self.queue.app,
            queues=[kind.value for kind in self.handlers],
            name=self.name,
            concurrency=self.concurrency,
            wait=True,
            fetch_job_polling_interval=POLL_SECONDS,
            shutdown_graceful_timeout=self.grace_seconds,
            install_signal_handlers=self.install_signal_handlers,
            update_heartbeat_interval=HEARTBEAT_SECONDS,
            stalled_worker_timeout=STALLED_AFTER_SECONDS,
        )
        loop = asyncio.get_running_loop()
        sweep = loop.create_task(self._sweep_forever(), name="stalled-job-sweep")
        working = loop.create_task(worker.run(), name="job-worker")  # type: ignore[no-untyped-call]
        logger.info("job worker %s started: %s", self.name, ", ".join(self.handlers) or "no kinds")
        try:
            await asyncio.shield(working)
        except asyncio.CancelledError:
            await self._stop(worker, working)
            raise
        finally:
            sweep.cancel()
            await asyncio.gather(sweep, return_exceptions=True)
            logger.info("job worker %s stopped", self.name)

    async def _stop(self, worker: Worker, working: asyncio.Task[None]) -> None:
        """Ask the worker to stop until it does (a request made before it started would be forgotten by it)."""
        deadline = asyncio.get_running_loop().time() + self.grace_seconds + STOP_MARGIN_SECONDS
        while not working.done() and asyncio.get_running_loop().time() < deadline:
            worker.stop()  # type: ignore[no-untyped-call]
            await asyncio.wait({working}, timeout=0.2)
        if not working.done():
            logger.error("job worker %s did not stop in time; cancelling its jobs", self.name)
            working.cancel()
        await asyncio.gather(working, return_exceptions=True)

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep_stalled()
            except Exception:
                logger.exception("retrying the jobs of stalled workers failed; trying again shortly")
            await asyncio.sleep(SWEEP_SECONDS)

    async def sweep_stalled(self) -> int:
        """Put the running jobs of dead workers back in the queue (or give them up); returns how many were taken."""
        manager = self.queue.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=STALLED_AFTER_SECONDS)
        taken = 0
        for job in stalled:
            kind = _kind(job.task_name)
            try:
                if job.attempts + 1 >= self.max_attempts:
                    await manager.finish_job(job, status=procrastinate_jobs.Status.FAILED, delete_job=False)
                else:
                    await manager.retry_job(job, retry_at=datetime.now(UTC))
            except procrastinate_errors.ConnectorException as error:
                # Another worker's sweep took it first (it is no longer running): nothing to do.
                logger.debug("stalled job %s was taken by another sweep: %s", job.id, error)
                continue
            taken += 1
            if job.attempts + 1 >= self.max_attempts:
                logger.error(
                    "%s job %s died with its worker %d times; giving up", job.task_name, job.id, job.attempts + 1
                )
                handler = self.handlers.get(kind) if kind is not None else None
                if handler is not None and kind is not None:
                    await handler.give_up(JOB_ARGUMENTS[kind].model_validate(job.task_kwargs))
            else:
                logger.warning("%s job %s lost its worker; queued again", job.task_name, job.id)
        return taken


def _kind(task_name: str) -> JobKind | None:
    try:
        return JobKind(task_name)
    except ValueError:
        return None
