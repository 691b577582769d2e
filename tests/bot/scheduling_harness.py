"""Pieces the scheduler tests share: a clock tests move by hand, replicas to build, and a way to kill one."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from agents.schedules import ScheduleStore
from bot.jobs import JobAttempt, JobHandler, JobKind, JobQueue, ScheduleRunJob
from bot.scheduling import ClusterScheduler, ScheduledRunExecutor, scheduler_application_name
from tests.bot.job_harness import settle


class MovableClock:
    """The time the schedulers judge lateness by; tests set ``now`` to each simulated fire time."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class Replicas:
    """Builds scheduler instances as separate ``serve`` processes would have them, and stops them all at the end.

    They share one job queue, as replicas share the database; ``settle`` waits for a worker to run what they queued.
    """

    def __init__(self, database_url: str, queue: JobQueue, store: ScheduleStore, clock: Callable[[], datetime]) -> None:
        self.database_url = database_url
        self.queue = queue
        self._store = store
        self._clock = clock
        self.started: list[ClusterScheduler] = []

    def replica(self, name: str, *, clock: Callable[[], datetime] | None = None, **options: float) -> ClusterScheduler:
        options.setdefault("leader_poll_seconds", 3600.0)
        options.setdefault("refresh_seconds", 3600.0)
        scheduler = ClusterScheduler(
            database_url=self.database_url,
            queue=self.queue,
            store=self._store,
            instance_name=name,
            clock=clock or self._clock,
            **options,
        )
        self.started.append(scheduler)
        return scheduler

    async def settle(self) -> None:
        await settle(self.queue)

    async def stop_all(self) -> None:
        for scheduler in self.started:
            await scheduler.stop()

    async def kill_lock_connection(self, name: str) -> None:
        """What a crashed process looks like to PostgreSQL: its lock connection ends and the lock is released."""
        async with await psycopg.AsyncConnection.connect(self.database_url, autocommit=True) as connection:
            await connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                (scheduler_application_name(name),),
            )


async def become_leader(scheduler: ClusterScheduler, attempts: int = 200) -> None:
    """Poll for leadership the way the periodic check does (PostgreSQL frees a killed session's lock promptly)."""
    for _ in range(attempts):
        if await scheduler.check_leadership():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{scheduler.instance_name} never became the leader")


async def runs_per_fire_time(store: ScheduleStore, schedule_id: int) -> Counter[datetime]:
    return Counter(run.fire_time for run in await store.history(schedule_id, limit=1000))


def schedule_run_handler(executor: ScheduledRunExecutor) -> dict[JobKind, JobHandler]:
    """What a worker runs a ``schedule.run`` job with (as ``bot.composition.job_work`` builds it)."""

    async def run(job: ScheduleRunJob, attempt: JobAttempt) -> None:
        await executor.run(job.schedule_id, job.fire_time, job.trigger, requested_by=job.requested_by)

    async def give_up(job: ScheduleRunJob) -> None:
        await executor.give_up(job.schedule_id, job.fire_time, 3)

    return {JobKind.SCHEDULE_RUN: JobHandler(run=run, give_up=give_up)}
