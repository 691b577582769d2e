"""Builds the scheduler and the ``/schedule`` API from a started ``Service``; ``switchboard serve`` runs it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from slack_sdk.web.async_client import AsyncWebClient

from agents import AgentRunner
from agents.schedules import ScheduleStore
from bot.scheduling.cluster_scheduler import ClusterScheduler
from bot.scheduling.schedule_runs import ScheduledRunExecutor
from bot.scheduling.schedule_service import ScheduleService
from bot.slack.schedule_destinations import SlackScheduleDestinations

if TYPE_CHECKING:
    from bot.composition.service import Service

logger = logging.getLogger(__name__)

# A run takes at most the agent's time budget plus posting: one still "running" after an hour (or twice the budget,
# if that is longer) belongs to a replica that died, and is marked interrupted at start-up.
STALE_RUN_AFTER = timedelta(hours=1)


@dataclass
class Scheduling:
    """The running scheduler, the ``/schedule`` API and what runs a schedule's occurrence (both None until an
    agent runtime is there to run schedules)."""

    scheduler: ClusterScheduler
    schedules: ScheduleService | None
    executor: ScheduledRunExecutor | None = None

    async def start(self) -> None:
        """Start timing; register system jobs (``scheduler.add_system_job``) before this so missed ones catch up."""
        await self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()


def schedule_store(service: Service) -> ScheduleStore:
    settings = service.settings
    return ScheduleStore(
        service.sessions, SlackScheduleDestinations(), default_timezone=settings.schedule_default_timezone
    )


def schedule_executor(
    service: Service, agent_runner: AgentRunner, slack: AsyncWebClient | None
) -> ScheduledRunExecutor:
    """What runs one occurrence of a schedule: a worker's ``schedule.run`` jobs and ``/schedule run``."""
    return ScheduledRunExecutor(schedule_store(service), agent_runner, slack, service.settings.reader)


async def build_scheduling(
    service: Service, *, agent_runner: AgentRunner | None, slack: AsyncWebClient | None
) -> Scheduling:
    """Upsert the config file's schedules and build the scheduler (not yet started) and the schedule API."""
    settings = service.settings
    store = schedule_store(service)
    declared = await store.sync_declarations(settings.schedules)
    if declared:
        logger.info("config file declares %d schedules", len(declared))
    stale = await store.interrupt_stale_runs(max(STALE_RUN_AFTER, 2 * timedelta(seconds=settings.agent.max_seconds)))
    if stale:
        logger.warning("marked %d schedule runs interrupted: they were still running when a replica stopped", stale)
    executor = None if agent_runner is None else schedule_executor(service, agent_runner, slack)
    if executor is None:
        logger.warning("no agent runtime is configured: schedules are kept but not run; system jobs still run")
    scheduler = ClusterScheduler(
        database_url=service.database_url,
        queue=service.queue,
        store=store,
        run_schedules=executor is not None,
        leader_poll_seconds=settings.scheduler_leader_poll_seconds,
        refresh_seconds=settings.scheduler_refresh_seconds,
        misfire_grace_seconds=settings.scheduler_misfire_grace_seconds,
        on_fire=service.metrics.count_fire,
    )
    service.scheduler = scheduler
    schedules = None if executor is None else ScheduleService(store, executor, scheduler)
    return Scheduling(scheduler=scheduler, schedules=schedules, executor=executor)
