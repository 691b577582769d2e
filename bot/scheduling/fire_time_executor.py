"""An APScheduler executor that hands each coroutine job the occurrence it is running for.

APScheduler 3 calls job functions without their scheduled run time, but exactly-once needs it: the claim row is
keyed on (job, fire time), and every replica must compute the same key for the same occurrence.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from datetime import datetime
from typing import Any

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.base import BaseExecutor

logger = logging.getLogger(__name__)


class FireTimeExecutor(BaseExecutor):  # type: ignore[misc]
    """Runs ``await job.func(*args, fire_time=<latest due occurrence>)`` as a task on the scheduler's loop.

    Jobs declare a ``fire_time`` keyword (APScheduler checks the signature when the job is added); this executor
    fills it in.

    With coalescing APScheduler passes every missed run time at once; the latest stands for all of them.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, scheduler: Any, alias: str) -> None:
        super().start(scheduler, alias)
        self._loop = asyncio.get_running_loop()

    def shutdown(self, wait: bool = True) -> None:
        self.cancel_running()
        self._tasks.clear()

    def cancel_running(self) -> list[asyncio.Task[Any]]:
        """Cancel the occurrences in flight and return them, so the caller can let them record how they ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        return tasks

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        fire_time = run_times[-1]
        task = self._loop.create_task(job.func(*job.args, **{**job.kwargs, "fire_time": fire_time}))
        self._tasks.add(task)

        def finished(done: asyncio.Task[Any]) -> None:
            self._tasks.discard(done)
            if done.cancelled():
                self._run_job_success(job.id, [])
                return
            error = done.exception()
            if error is not None:
                self._run_job_error(job.id, error, error.__traceback__ or sys.exc_info()[2])
                return
            event = JobExecutionEvent(EVENT_JOB_EXECUTED, job.id, job._jobstore_alias, fire_time, retval=done.result())
            self._run_job_success(job.id, [event])

        task.add_done_callback(finished)
