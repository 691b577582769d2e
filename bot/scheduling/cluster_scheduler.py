"""The scheduler inside ``switchboard serve``: APScheduler 3 for timing, the job queue for running and exactly-once.

Each replica runs its own ``AsyncIOScheduler`` with an in-memory job store loaded from the ``schedules`` table
(never a shared APScheduler job store: APScheduler 3 does not support that, see its FAQ and issue #231) and
reloaded when the table changes. Every replica times every job, but only the replica holding the advisory-lock
leadership (``leader.py``) queues its occurrences, and the queue takes each (job, fire time) once
(``JobQueue.defer_occurrence``), which covers a dying leader that has not yet noticed a follower took over. Workers
run the queued occurrences: a replica that dies while running one costs a retry, not the occurrence.

On becoming leader (at start, or on taking over) each job's latest occurrence missed since its last queued one,
within the misfire grace window, is queued once: a service that was down catches up once, not once per missed firing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from agents.schedules import RunTrigger, Schedule, ScheduleStore, parse_when
from bot.errors import SchedulerError
from bot.jobs import JobKind, JobQueue, OccurrenceJob, ScheduleRunJob
from bot.scheduling.fire_time_executor import FireTimeExecutor
from bot.scheduling.leader import AdvisoryLockLeader

logger = logging.getLogger(__name__)

SchedulerState = Literal["stopped", "follower", "leader"]
FireOutcome = Literal["queued", "not-leader", "queued-elsewhere", "missed", "unknown-job"]
# The job that runs one occurrence, from its fire time (whole seconds) and why it runs.
OccurrenceArguments = Callable[[int, RunTrigger], OccurrenceJob]

# Interval jobs count from a fixed origin so every replica computes the same fire times (the queue's key).
INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_CATCH_UP_STEPS = 100_000
_SCHEDULE_PREFIX = "schedule:"
_SYSTEM_PREFIX = "system:"


# How long ``stop`` waits for occurrences being queued.
STOP_GRACE_SECONDS = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def schedule_job_key(schedule_id: int) -> str:
    """The job key of a schedule: what ``fire`` takes, and what its occurrences are queued under."""
    return f"{_SCHEDULE_PREFIX}{schedule_id}"


def system_job_key(name: str) -> str:
    """The job key of a system job registered with ``add_system_job``."""
    return f"{_SYSTEM_PREFIX}{name}"


def _job_kind(job_key: str) -> str:
    """``schedule`` or ``system`` (``other`` for a key no job was registered under): a bounded metrics label."""
    if job_key.startswith(_SCHEDULE_PREFIX):
        return "schedule"
    return "system" if job_key.startswith(_SYSTEM_PREFIX) else "other"


def default_instance_name() -> str:
    return f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"


@dataclass
class _Job:
    key: str
    trigger: Any
    kind: JobKind
    arguments: OccurrenceArguments
    # Occurrences before this never count as missed (a schedule's creation); None: only after a queued one.
    since: datetime | None
    fingerprint: str
    # The queue's ``lock`` (one running at a time) and ``queueing_lock`` (one waiting at a time), if any.
    lock: str | None = None
    queueing_lock: str | None = None


class ClusterScheduler:
    """Fires schedules and system jobs exactly once across every replica sharing the database."""

    def __init__(
        self,
        *,
        database_url: str,
        queue: JobQueue,
        store: ScheduleStore | None = None,
        run_schedules: bool = True,
        instance_name: str | None = None,
        leader_poll_seconds: float = 1.0,
        refresh_seconds: float = 5.0,
        misfire_grace_seconds: float = 3600.0,
        clock: Callable[[], datetime] = _utcnow,
        on_fire: Callable[[str, str], None] | None = None,
    ) -> None:
        """Build the scheduler (not started: ``start`` it inside the running event loop).

        Args:
            queue: where occurrences are queued (workers run them).
            store, run_schedules: where schedules come from, and whether to queue their occurrences (False when
                no agent runtime could run them); without them only system jobs are queued.
            leader_poll_seconds: how often a follower tries to take the lock (and a leader checks it still holds it).
            refresh_seconds: how often the schedules table's fingerprint is polled for changes.
            misfire_grace_seconds: how late an occurrence may still run (after downtime or a busy loop).
            clock: the time ``fire`` and catch-up judge lateness by; tests pass a fixed one.
            on_fire: told of each occurrence's job kind (``schedule`` or ``system``) and outcome (``fire``'s, or
                ``failed`` when it could not be queued): the service's metrics.
        """
        self.instance_name = instance_name or default_instance_name()
        self._store = store
        self._run_schedules = run_schedules
        self._queue = queue
        self._leader = AdvisoryLockLeader(database_url, self.instance_name)
        self._leader_poll_seconds = leader_poll_seconds
        self._refresh_seconds = refresh_seconds
        self._grace = timedelta(seconds=misfire_grace_seconds)
        self._clock = clock
        self._on_fire = on_fire
        self._jobs: dict[str, _Job] = {}
        self._schedules_version: tuple[int, datetime | None] | None = None
        self._started = False
        self._leadership_lock = asyncio.Lock()
        self._occurrences = FireTimeExecutor()
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            jobstores={"default": MemoryJobStore()},
            executors={"default": AsyncIOExecutor(), "occurrences": self._occurrences},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": int(misfire_grace_seconds)},
        )

    @property
    def state(self) -> SchedulerState:
        """What ``/healthz`` reports: ``leader`` fires jobs, ``follower`` stands by, ``stopped`` does neither."""
        if not self._started:
            return "stopped"
        return "leader" if self._leader.is_leader else "follower"

    async def start(self) -> None:
        """Load the schedules and start timing; the first leadership check (and catch-up) runs at once, in the
        background, so ``serve`` does not wait for caught-up runs before it listens."""
        if self._started:
            return
        await self.refresh()
        self._scheduler.add_job(
            self.check_leadership,
            IntervalTrigger(seconds=self._leader_poll_seconds),
            id="leadership",
            next_run_time=datetime.now(UTC),
        )
        if self._store is not None:
            self._scheduler.add_job(self.refresh, IntervalTrigger(seconds=self._refresh_seconds), id="refresh")
        self._scheduler.start()
        self._started = True
        logger.info("scheduler %s started with %d jobs", self.instance_name, len(self._jobs))

    async def stop(self) -> None:
        """Stop timing, cancel in-flight occurrences and release the lock so a follower takes over at once."""
        if self._started:
            self._started = False
            # Cancelled runs record themselves as interrupted; give them a moment to write that down.
            in_flight = self._occurrences.cancel_running()
            if in_flight:
                await asyncio.wait(in_flight, timeout=STOP_GRACE_SECONDS)
            self._scheduler.shutdown(wait=False)
        await self._leader.release()
        logger.info("scheduler %s stopped", self.instance_name)

    def add_system_job(
        self,
        name: str,
        kind: JobKind,
        arguments: OccurrenceArguments,
        *,
        interval_seconds: float | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
        lock: str | None = None,
    ) -> None:
        """Queue a job of ``kind`` periodically, each occurrence once across replicas (e.g. a re-sync).

        ``arguments(timestamp, trigger)`` builds the job. Give exactly one of ``interval_seconds`` (counted from a
        fixed origin, so replicas agree) or ``cron`` (5 fields or a phrase such as "every 15 minutes"). With
        ``lock``, occurrences never run at the same time, and a new one is not queued while the last still waits.
        Registering the same name again replaces the job.
        """
        if (interval_seconds is None) == (cron is None):
            raise SchedulerError(f"system job {name!r}: give exactly one of interval_seconds or cron")
        trigger: Any
        if interval_seconds is not None:
            if interval_seconds <= 0:
                raise SchedulerError(f"system job {name!r}: interval_seconds must be positive")
            trigger = IntervalTrigger(seconds=interval_seconds, start_date=INTERVAL_ORIGIN, timezone=UTC)
            fingerprint = f"every {interval_seconds}s"
        elif cron is not None:
            normalised = parse_when(cron)
            trigger = CronTrigger.from_crontab(normalised, timezone=timezone)
            fingerprint = f"{normalised} {timezone}"

        self._install(
            _Job(
                system_job_key(name),
                trigger,
                kind,
                arguments,
                since=None,
                fingerprint=f"{kind} {fingerprint}",
                lock=lock,
                queueing_lock=lock,
            )
        )

    async def check_leadership(self) -> bool:
        """Keep or take the lock; on taking it, first catch up on missed occurrences.

        Serialised, so a takeover's catch-up finishes before the next check (APScheduler's periodic one or a
        direct call) proceeds.
        """
        async with self._leadership_lock:
            was_leader = self._leader.is_leader
            is_leader = await self._leader.check()
            if is_leader and not was_leader:
                logger.info("scheduler %s is now the leader", self.instance_name)
                try:
                    await self.catch_up()
                except Exception:
                    logger.exception("scheduler %s: catching up on missed occurrences failed", self.instance_name)
            elif was_leader and not is_leader:
                logger.warning("scheduler %s is no longer the leader", self.instance_name)
            return is_leader

    async def refresh(self, *, force: bool = False) -> None:
        """Reload the schedules into the in-memory job store if the table changed since the last look."""
        if self._store is None or not self._run_schedules:
            return
        version = await self._store.version()
        if version == self._schedules_version and not force:
            return
        schedules = await self._store.enabled_schedules()
        wanted = {schedule_job_key(schedule.id): schedule for schedule in schedules}
        for key in [key for key in self._jobs if key.startswith(_SCHEDULE_PREFIX) and key not in wanted]:
            self._uninstall(key)
        for key, schedule in wanted.items():
            self._install(_schedule_job(key, schedule))
        self._schedules_version = version
        logger.debug("scheduler %s loaded %d schedules", self.instance_name, len(wanted))

    async def fire(self, job_key: str, fire_time: datetime, *, trigger: RunTrigger = "scheduled") -> FireOutcome:
        """Queue one occurrence if this replica leads and nobody queued it yet; what APScheduler calls at each fire
        time.

        Public so that tests and operators can drive occurrences at explicit fire times.
        """
        outcome, failed = await self._fire(job_key, fire_time, trigger)
        if self._on_fire is not None:
            self._on_fire(_job_kind(job_key), "failed" if failed else outcome)
        return outcome

    async def _fire(self, job_key: str, fire_time: datetime, trigger: RunTrigger) -> tuple[FireOutcome, bool]:
        """The outcome, and whether queueing failed (the database was unreachable: the next leader catches up)."""
        job = self._jobs.get(job_key)
        if job is None:
            return "unknown-job", False
        if not self._leader.is_leader:
            return "not-leader", False
        if self._clock() - fire_time > self._grace:
            logger.warning("%s: occurrence %s is past the misfire grace; skipped", job_key, fire_time.isoformat())
            return "missed", False
        try:
            job_id = await self._queue.defer_occurrence(
                job.kind,
                job.arguments(int(fire_time.timestamp()), trigger),
                key=job_key,
                lock=job.lock,
                queueing_lock=job.queueing_lock,
            )
        except Exception:
            # The scheduler's edge: log the traceback, keep timing; a later leader's catch-up queues it.
            logger.exception("%s: occurrence %s could not be queued", job_key, fire_time.isoformat())
            return "queued", True
        if job_id is None:
            logger.info("%s: occurrence %s was queued already (or its last one still waits)", job_key, fire_time)
            return "queued-elsewhere", False
        logger.info("%s: occurrence %s queued as job %d (%s)", job_key, fire_time.isoformat(), job_id, trigger)
        return "queued", False

    async def catch_up(self) -> dict[str, FireOutcome]:
        """Queue, once, each job's latest occurrence missed since its last queued one (within the grace window)."""
        now = self._clock()
        due: dict[str, datetime] = {}
        for job in list(self._jobs.values()):
            last = await self._queue.last_occurrence(job.key)
            start = last or job.since
            if start is None:
                continue
            start = max(start, now - self._grace)
            missed = latest_fire_time(job.trigger, after=start, until=now)
            if missed is not None:
                due[job.key] = missed
        outcomes = await asyncio.gather(*(self.fire(key, when, trigger="catch-up") for key, when in due.items()))
        if due:
            logger.info("scheduler %s caught up on %d missed occurrences", self.instance_name, len(due))
        return dict(zip(due, outcomes, strict=True))

    def _install(self, job: _Job) -> None:
        current = self._jobs.get(job.key)
        self._jobs[job.key] = job
        if current is not None and current.fingerprint == job.fingerprint:
            return  # unchanged: keep APScheduler's next run time as it is
        self._scheduler.add_job(
            self._fire_due,
            job.trigger,
            args=[job.key],
            kwargs={"fire_time": None},  # filled in by FireTimeExecutor
            id=job.key,
            name=job.key,
            executor="occurrences",
            replace_existing=True,
        )

    def _uninstall(self, key: str) -> None:
        self._jobs.pop(key, None)
        if self._scheduler.get_job(key) is not None:
            self._scheduler.remove_job(key)

    async def _fire_due(self, job_key: str, *, fire_time: datetime | None) -> FireOutcome:
        if fire_time is None:
            raise SchedulerError(f"{job_key} was submitted without its fire time; it must run on FireTimeExecutor")
        return await self.fire(job_key, fire_time)


def _schedule_job(key: str, schedule: Schedule) -> _Job:
    schedule_id = schedule.id

    def arguments(timestamp: int, trigger: RunTrigger) -> OccurrenceJob:
        return ScheduleRunJob(timestamp=timestamp, trigger=trigger, schedule_id=schedule_id)

    fingerprint = f"{schedule.cron} {schedule.timezone}"
    # One run of a schedule at a time: a slow run and the next occurrence never post side by side.
    return _Job(
        key,
        schedule.trigger(),
        JobKind.SCHEDULE_RUN,
        arguments,
        since=schedule.created_at,
        fingerprint=fingerprint,
        lock=key,
    )


def latest_fire_time(trigger: Any, *, after: datetime, until: datetime) -> datetime | None:
    """The last occurrence of ``trigger`` in (after, until], or None if there is none."""
    latest: datetime | None = None
    candidate: datetime | None = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    for _ in range(_MAX_CATCH_UP_STEPS):
        if candidate is None or candidate > until:
            break
        latest = candidate
        candidate = trigger.get_next_fire_time(candidate, candidate + timedelta(microseconds=1))
    return latest
