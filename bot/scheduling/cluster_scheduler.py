"""The scheduler inside ``switchboard serve``: APScheduler 3 for timing, PostgreSQL for exactly-once.

Each replica runs its own ``AsyncIOScheduler`` with an in-memory job store loaded from the ``schedules`` table
(never a shared APScheduler job store: APScheduler 3 does not support that, see its FAQ and issue #231) and
reloaded when the table changes. Every replica times every job, but an occurrence runs only if

1. this replica holds the advisory-lock leadership (``leader.py``), and
2. its claim row for (job, fire time) is the one that lands (``claims.py``), which covers a dying leader that has
   not yet noticed a follower took over.

On becoming leader (at start, or on taking over) each job's latest occurrence missed since its last claimed run,
within the misfire grace window, runs once: a service that was down catches up once, not once per missed firing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from apscheduler.executors.asyncio import AsyncIOExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agents.schedules import RunTrigger, Schedule, ScheduleStore, parse_when
from bot.errors import SchedulerError
from bot.scheduling.claims import FireClaims
from bot.scheduling.fire_time_executor import FireTimeExecutor
from bot.scheduling.leader import AdvisoryLockLeader

logger = logging.getLogger(__name__)

SchedulerState = Literal["stopped", "follower", "leader"]
FireOutcome = Literal["ran", "not-leader", "claimed-elsewhere", "missed", "unknown-job"]
# Runs one occurrence of a job: (fire time, why it runs).
OccurrenceRunner = Callable[[datetime, RunTrigger], Awaitable[object]]
# Runs one schedule's occurrence; built by ``schedule_runs.ScheduledRunExecutor.run``.
ScheduleOccurrenceRunner = Callable[[int, datetime, RunTrigger], Awaitable[object]]

# Interval jobs count from a fixed origin so every replica computes the same fire times (the claim key).
INTERVAL_ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
_MAX_CATCH_UP_STEPS = 100_000
_SCHEDULE_PREFIX = "schedule:"
_SYSTEM_PREFIX = "system:"


# How long ``stop`` waits for cancelled occurrences to record that they were interrupted.
STOP_GRACE_SECONDS = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


def schedule_job_key(schedule_id: int) -> str:
    """The job (and claim) key of a schedule: what ``fire`` takes."""
    return f"{_SCHEDULE_PREFIX}{schedule_id}"


def system_job_key(name: str) -> str:
    """The job (and claim) key of a system job registered with ``add_system_job``."""
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
    run: OccurrenceRunner
    # Occurrences before this never count as missed (a schedule's creation); None: only after a claimed run.
    since: datetime | None
    fingerprint: str


class ClusterScheduler:
    """Fires schedules and system jobs exactly once across every replica sharing the database."""

    def __init__(
        self,
        *,
        database_url: str,
        sessions: async_sessionmaker[AsyncSession],
        store: ScheduleStore | None = None,
        run_schedule: ScheduleOccurrenceRunner | None = None,
        instance_name: str | None = None,
        leader_poll_seconds: float = 1.0,
        refresh_seconds: float = 5.0,
        misfire_grace_seconds: float = 3600.0,
        clock: Callable[[], datetime] = _utcnow,
        on_fire: Callable[[str, str], None] | None = None,
    ) -> None:
        """Build the scheduler (not started: ``start`` it inside the running event loop).

        Args:
            store, run_schedule: where schedules come from and how one runs; without them only system jobs run.
            leader_poll_seconds: how often a follower tries to take the lock (and a leader checks it still holds it).
            refresh_seconds: how often the schedules table's fingerprint is polled for changes.
            misfire_grace_seconds: how late an occurrence may still run (after downtime or a busy loop).
            clock: the time ``fire`` and catch-up judge lateness by; tests pass a fixed one.
            on_fire: told of each occurrence's job kind (``schedule`` or ``system``) and outcome (``fire``'s, or
                ``failed`` when the job raised): the service's metrics.
        """
        self.instance_name = instance_name or default_instance_name()
        self._store = store
        self._run_schedule = run_schedule
        self._claims = FireClaims(sessions)
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
        run: Callable[[datetime], Awaitable[object]],
        *,
        interval_seconds: float | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
    ) -> None:
        """Run ``run(fire_time)`` periodically on the leader, each occurrence once across replicas (e.g. a re-sync).

        Give exactly one of ``interval_seconds`` (counted from a fixed origin, so replicas agree) or ``cron``
        (5 fields or a phrase such as "every 15 minutes"). Registering the same name again replaces the job.
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

        async def occurrence(fire_time: datetime, trigger_kind: RunTrigger) -> None:
            logger.info("system job %s: running occurrence %s (%s)", name, fire_time.isoformat(), trigger_kind)
            await run(fire_time)

        self._install(_Job(system_job_key(name), trigger, occurrence, since=None, fingerprint=fingerprint))

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
        run_schedule = self._run_schedule
        if self._store is None or run_schedule is None:
            return
        version = await self._store.version()
        if version == self._schedules_version and not force:
            return
        schedules = await self._store.enabled_schedules()
        wanted = {schedule_job_key(schedule.id): schedule for schedule in schedules}
        for key in [key for key in self._jobs if key.startswith(_SCHEDULE_PREFIX) and key not in wanted]:
            self._uninstall(key)
        for key, schedule in wanted.items():
            self._install(_schedule_job(key, schedule, run_schedule))
        self._schedules_version = version
        logger.debug("scheduler %s loaded %d schedules", self.instance_name, len(wanted))

    async def fire(self, job_key: str, fire_time: datetime, *, trigger: RunTrigger = "scheduled") -> FireOutcome:
        """Run one occurrence if this replica leads and wins the claim; what APScheduler calls at each fire time.

        Public so that tests and operators can drive occurrences at explicit fire times.
        """
        outcome, failed = await self._fire(job_key, fire_time, trigger)
        if self._on_fire is not None:
            self._on_fire(_job_kind(job_key), "failed" if failed else outcome)
        return outcome

    async def _fire(self, job_key: str, fire_time: datetime, trigger: RunTrigger) -> tuple[FireOutcome, bool]:
        """The outcome, and whether the job raised (it still counts as ``ran``: the claim is spent)."""
        job = self._jobs.get(job_key)
        if job is None:
            return "unknown-job", False
        if not self._leader.is_leader:
            return "not-leader", False
        if self._clock() - fire_time > self._grace:
            logger.warning("%s: occurrence %s is past the misfire grace; skipped", job_key, fire_time.isoformat())
            return "missed", False
        if not await self._claims.claim(job_key, fire_time, self.instance_name):
            logger.info("%s: occurrence %s already claimed by another run", job_key, fire_time.isoformat())
            return "claimed-elsewhere", False
        try:
            await job.run(fire_time, trigger)
        except Exception:
            # The job wrapper is an edge: log the traceback, keep the scheduler going.
            logger.exception("%s: occurrence %s failed", job_key, fire_time.isoformat())
            return "ran", True
        return "ran", False

    async def catch_up(self) -> dict[str, FireOutcome]:
        """Run, once, each job's latest occurrence missed since its last claimed run (within the grace window)."""
        now = self._clock()
        due: dict[str, datetime] = {}
        for job in list(self._jobs.values()):
            last = await self._claims.last_claimed(job.key)
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


def _schedule_job(key: str, schedule: Schedule, run_schedule: ScheduleOccurrenceRunner) -> _Job:
    schedule_id = schedule.id

    async def occurrence(fire_time: datetime, trigger_kind: RunTrigger) -> object:
        return await run_schedule(schedule_id, fire_time, trigger_kind)

    fingerprint = f"{schedule.cron} {schedule.timezone}"
    return _Job(key, schedule.trigger(), occurrence, since=schedule.created_at, fingerprint=fingerprint)


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
