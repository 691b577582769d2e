"""Trace retention in ``serve``: a daily system job (once across replicas) deletes traces past the retention."""

from __future__ import annotations

import logging
from datetime import datetime

from agents.trace_privacy import delete_expired_traces
from bot.composition.service import Service
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
    """Register the daily deletion (nothing when ``retention_days`` is unset)."""
    if service.settings.agent.trace_privacy.retention_days is None:
        return

    async def prune(fire_time: datetime) -> int:
        return await prune_traces(service)

    scheduling.scheduler.add_system_job(RETENTION_JOB, prune, cron=RETENTION_CRON)
