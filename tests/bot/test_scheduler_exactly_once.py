"""Two scheduler replicas on one database: every occurrence runs once, through leader death and restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.schedules import RunTrigger, Schedule, ScheduleStore
from bot.jobs import JobAttempt, JobHandler, JobKind, JobQueue, OccurrenceJob, SourceSyncJob
from bot.scheduling import ClusterScheduler, ScheduledRunExecutor, schedule_job_key
from bot.slack.schedule_destinations import SlackScheduleDestinations
from testing_support.agent_runner import ScriptedAgentRunner
from tests.bot.job_harness import settle, working_jobs
from tests.bot.scheduling_harness import (
    MovableClock,
    Replicas,
    become_leader,
    runs_per_fire_time,
    schedule_run_handler,
)
from tests.fakes.slack_api import FakeSlackApi

QUARTER = timedelta(minutes=15)


@pytest.fixture(scope="module")
def fake_slack() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi().start()
    yield api
    api.stop()


@pytest.fixture
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture
def store(sessions: async_sessionmaker[AsyncSession]) -> ScheduleStore:
    return ScheduleStore(sessions, SlackScheduleDestinations())


@pytest.fixture
async def queue(database_url: str) -> AsyncIterator[JobQueue]:
    job_queue = JobQueue(database_url)
    await job_queue.open()
    yield job_queue
    await job_queue.aclose()


@pytest.fixture
async def replicas(
    database_url: str, queue: JobQueue, store: ScheduleStore, fake_slack: FakeSlackApi, clock: MovableClock
) -> AsyncIterator[Replicas]:
    """Scheduler replicas sharing one queue, and a worker running the occurrences they queue."""
    fake_slack.reset()
    executor = ScheduledRunExecutor(
        store, ScriptedAgentRunner(), AsyncWebClient(token="xoxb-test-token", base_url=fake_slack.api_url)
    )
    harness = Replicas(database_url, queue, store, clock)
    async with working_jobs(queue, schedule_run_handler(executor)):
        yield harness
        await harness.settle()
    await harness.stop_all()


async def every_quarter_hour(store: ScheduleStore) -> Schedule:
    return await store.add(
        when="every 15 minutes", channel="C0OPS", instruction="Status of the fleet", owner="UED", roles={"editor"}
    )


def occurrences_after(schedule: Schedule, count: int) -> list[datetime]:
    first = schedule.next_run(schedule.created_at + timedelta(seconds=1))
    assert first is not None
    return [first + QUARTER * index for index in range(count)]


async def test_each_occurrence_runs_once_across_two_replicas_and_a_leader_death(
    replicas: Replicas, store: ScheduleStore, clock: MovableClock
) -> None:
    schedule = await every_quarter_hour(store)
    key = schedule_job_key(schedule.id)
    a, b = replicas.replica("replica-a"), replicas.replica("replica-b")
    await a.refresh()
    await b.refresh()
    assert await a.check_leadership()
    assert not await b.check_leadership()

    fire_times = occurrences_after(schedule, 8)
    for index, fire_time in enumerate(fire_times):
        if index == 3:
            # replica-a dies between two occurrences; replica-b takes over. replica-a has not noticed yet and
            # keeps firing: the queue keeps occurrences 3 and 4 from being queued (and run) twice.
            clock.now = fire_times[2] + timedelta(minutes=1)
            await replicas.kill_lock_connection("replica-a")
            await become_leader(b)
        if index == 5:
            assert not await a.check_leadership()  # replica-a finally notices it lost the lock
        clock.now = fire_time + timedelta(seconds=1)
        first, second = (a, b) if index % 2 else (b, a)
        outcomes = await asyncio.gather(first.fire(key, fire_time), second.fire(key, fire_time))
        assert outcomes.count("queued") == 1, (index, outcomes)

    await replicas.settle()
    assert await runs_per_fire_time(store, schedule.id) == {fire_time: 1 for fire_time in fire_times}
    assert (a.state, b.state) == ("stopped", "stopped")  # never started their timers in this test


async def test_a_restart_runs_a_missed_occurrence_once(
    replicas: Replicas, store: ScheduleStore, clock: MovableClock
) -> None:
    schedule = await every_quarter_hour(store)
    key = schedule_job_key(schedule.id)
    t0, _, _, t3, t4 = occurrences_after(schedule, 5)

    before = replicas.replica("before-restart")
    await before.refresh()
    assert await before.check_leadership()
    clock.now = t0 + timedelta(seconds=1)
    assert await before.fire(key, t0) == "queued"
    await replicas.settle()
    await before.stop()  # the service goes down and misses the next three occurrences

    clock.now = t3 + timedelta(minutes=10)
    back = [replicas.replica("after-restart-1"), replicas.replica("after-restart-2")]
    for replica in back:
        await replica.refresh()
    leaders = await asyncio.gather(*(replica.check_leadership() for replica in back))
    assert sorted(leaders) == [False, True]

    await replicas.settle()
    runs = await store.history(schedule.id)
    assert [(run.fire_time, run.trigger) for run in reversed(runs)] == [(t0, "scheduled"), (t3, "catch-up")]

    # Another restart before the next occurrence: nothing is missed, nothing runs again.
    for replica in back:
        await replica.stop()
    again = replicas.replica("second-restart")
    await again.refresh()
    assert await again.check_leadership()
    await replicas.settle()
    assert await runs_per_fire_time(store, schedule.id) == {t0: 1, t3: 1}

    clock.now = t4 + timedelta(seconds=1)
    assert await again.fire(key, t4) == "queued"
    await replicas.settle()
    assert await runs_per_fire_time(store, schedule.id) == {t0: 1, t3: 1, t4: 1}


async def test_an_occurrence_later_than_the_grace_window_is_skipped(
    replicas: Replicas, store: ScheduleStore, clock: MovableClock
) -> None:
    schedule = await every_quarter_hour(store)
    [fire_time] = occurrences_after(schedule, 1)
    replica = replicas.replica("grace", misfire_grace_seconds=600)
    await replica.refresh()
    assert await replica.check_leadership()
    clock.now = fire_time + timedelta(minutes=11)
    assert await replica.fire(schedule_job_key(schedule.id), fire_time) == "missed"
    assert await store.history(schedule.id) == []


async def test_a_removed_schedule_stops_firing_on_every_replica(
    replicas: Replicas, store: ScheduleStore, clock: MovableClock
) -> None:
    schedule = await every_quarter_hour(store)
    key = schedule_job_key(schedule.id)
    a, b = replicas.replica("remove-a"), replicas.replica("remove-b")
    for replica in (a, b):
        await replica.refresh()
    assert await a.check_leadership()
    await store.remove(schedule.id, by="UED", roles={"editor"})
    for replica in (a, b):
        await replica.refresh()
    [fire_time] = occurrences_after(schedule, 1)
    clock.now = fire_time
    assert await a.fire(key, fire_time) == "unknown-job"
    assert await store.history(schedule.id) == []


async def test_a_leader_running_late_never_queues_an_occurrence_a_newer_one_replaced(
    replicas: Replicas, store: ScheduleStore, clock: MovableClock
) -> None:
    schedule = await every_quarter_hour(store)
    key = schedule_job_key(schedule.id)
    t0, t1 = occurrences_after(schedule, 2)
    late, current = replicas.replica("late-leader"), replicas.replica("current-leader")
    for replica in (late, current):
        await replica.refresh()
    assert await late.check_leadership()
    # The leader hangs (its lock connection dies) and has not noticed; the new leader queues two occurrences.
    await replicas.kill_lock_connection("late-leader")
    await become_leader(current)
    clock.now = t1 + timedelta(seconds=1)
    assert await current.fire(key, t0) == "queued"
    assert await current.fire(key, t1) == "queued"
    # The old leader wakes up a quarter of an hour behind and fires the first occurrence again.
    assert await late.fire(key, t0) == "queued-elsewhere"
    await replicas.settle()
    assert await runs_per_fire_time(store, schedule.id) == {t0: 1, t1: 1}


async def test_system_jobs_are_queued_once_per_occurrence_by_running_schedulers(
    database_url: str, queue: JobQueue
) -> None:
    ran: list[SourceSyncJob] = []
    enough = asyncio.Event()

    async def resync(job: SourceSyncJob, attempt: JobAttempt) -> None:
        ran.append(job)
        if len(ran) >= 3:
            enough.set()

    async def never(job: SourceSyncJob) -> None:
        raise AssertionError(f"{job} was given up")

    def sync_job(timestamp: int, trigger: RunTrigger) -> OccurrenceJob:
        return SourceSyncJob(timestamp=timestamp, trigger=trigger, source="handbook")

    # The real clock drives these: APScheduler times the job on both replicas every second.
    schedulers = [
        ClusterScheduler(
            database_url=database_url, queue=queue, instance_name=f"timer-{index}", leader_poll_seconds=0.2
        )
        for index in range(2)
    ]
    for scheduler in schedulers:
        scheduler.add_system_job("sync:handbook", JobKind.SOURCE_SYNC, sync_job, interval_seconds=1)
    async with working_jobs(queue, {JobKind.SOURCE_SYNC: JobHandler(run=resync, give_up=never)}):
        for scheduler in schedulers:
            await scheduler.start()
        await asyncio.wait_for(enough.wait(), timeout=30)
        for scheduler in schedulers:
            await scheduler.stop()
        await settle(queue)

    fire_times = [job.fire_time for job in ran]
    assert len(fire_times) == len(set(fire_times)), ran
    assert all(job.source == "handbook" for job in ran)
    assert all(fire_time.microsecond == 0 for fire_time in fire_times)  # whole seconds: replicas agree on keys
