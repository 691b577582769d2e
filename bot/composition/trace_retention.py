"""Trace retention in ``serve``: a daily system job (once across replicas) deletes traces past the retention."""

from __future__ import annotations

import logging

from agents.schedules import RunTrigger
from agents.trace_privacy import delete_expired_traces
from bot.composition.service import Service
from bot.jobs import JobKind, OccurrenceJob, TraceRetentionJob
from bot.scheduling import Scheduling

logger = logging.getLogger(__name__)

RETENTION_JOB = "traces:retention"
RETENTION_CRON = "0 3 * * *"


async def prune_traces(service: Service) -> int:
    days = service.settings.agent.trace_privacy.retention_days
    deleted = await delete_expired_traces(service.sessions, days)
    if deleted:
        logger.info("deleted %d traces older than %s days", deleted, days)
    return deleted


def schedule_trace_retention(service: Service, scheduling: Scheduling) -> None:
    """Queue the daily deletion (nothing when ``retention_days`` is unset); a worker runs ``prune_traces``."""
    if service.settings.agent.trace_privacy.retention_days is None:
        return

    def prune_job(timestamp: int, trigger: RunTrigger) -> OccurrenceJob:
        return TraceRetentionJob(timestamp=timestamp, trigger=trigger)

    scheduling.scheduler.add_system_job(
        RETENTION_JOB, JobKind.TRACE_RETENTION, prune_job, cron=RETENTION_CRON, lock=RETENTION_JOB
    )
