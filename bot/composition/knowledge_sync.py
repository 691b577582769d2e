"""Syncing the config file's knowledge sources: one routine for `switchboard sync`, `/kb sync` and the scheduler."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from agents.schedules import RunTrigger
from bot.composition.background_tasks import start_background
from bot.composition.service import Service
from bot.jobs import JobKind, OccurrenceJob, PermissionSyncJob, SourceSyncJob
from bot.scheduling import Scheduling
from knowledge import (
    PermissionedSource,
    PermissionSyncSummary,
    ProgressCallback,
    SourceConfigBase,
    SyncSummary,
    create_source,
    knowledge_status,
    sync_permissions,
)
from knowledge.sources import SaaSSourceConfig

logger = logging.getLogger(__name__)


async def sync_configured_source(
    service: Service, config: SourceConfigBase, *, full: bool = False, progress: ProgressCallback | None = None
) -> SyncSummary:
    """Build the source from its config, sync it into the index, and close it; concurrent syncs of one source
    are serialised by the engine's advisory lock."""
    source = create_source(config, service.settings.source_secrets())
    try:
        summary = await service.sync_engine.sync(source, full=full, progress=progress)
    except BaseException:
        service.metrics.count_sync_error(config.name)
        raise
    finally:
        await source.aclose()
    service.metrics.observe_sync(summary)
    logger.info(
        "sync of %s %s: %d added, %d updated, %d unchanged, %d deleted, %d failed",
        summary.source,
        summary.status,
        summary.added,
        summary.updated,
        summary.unchanged,
        summary.deleted,
        summary.failed,
    )
    return summary


async def sync_configured_permissions(service: Service, config: SourceConfigBase) -> PermissionSyncSummary | None:
    """Re-read a SaaS source's groups and access lists (no content); None for sources without permissions."""
    source = create_source(config, service.settings.source_secrets())
    if not isinstance(source, PermissionedSource):
        await source.aclose()
        return None
    return await sync_permissions(service.sessions, source)


def source_config(service: Service, name: str) -> SourceConfigBase | None:
    """The configured source named ``name``; None when the config file no longer has it."""
    return next((config for config in service.settings.sources if config.name == name), None)


def schedule_resyncs(service: Service, scheduling: Scheduling) -> None:
    """Queue a re-sync of each source every ``sync_interval_minutes``, each occurrence once across replicas; one
    sync of a source at a time, and none queued while the last still waits.

    Register before the scheduler starts, so a re-sync missed while the service was down is queued once at start.
    """
    for config in service.settings.sources:
        name = config.name

        def sync_job(timestamp: int, trigger: RunTrigger, name: str = name) -> OccurrenceJob:
            return SourceSyncJob(timestamp=timestamp, trigger=trigger, source=name)

        scheduling.scheduler.add_system_job(
            f"sync:{name}",
            JobKind.SOURCE_SYNC,
            sync_job,
            interval_seconds=config.sync_interval_minutes * 60,
            lock=f"sync:{name}",
        )
        if isinstance(config, SaaSSourceConfig):

            def permissions_job(timestamp: int, trigger: RunTrigger, name: str = name) -> OccurrenceJob:
                return PermissionSyncJob(timestamp=timestamp, trigger=trigger, source=name)

            scheduling.scheduler.add_system_job(
                f"permissions:{name}",
                JobKind.PERMISSION_SYNC,
                permissions_job,
                interval_seconds=config.permission_sync_minutes * 60,
                lock=f"permissions:{name}",
            )


async def queue_source_sync(service: Service, name: str, trigger: RunTrigger) -> bool:
    """Queue a sync of the source ``name`` for a worker; False when one is already waiting (its queueing lock), so
    repeated requests (a button clicked twice, every replica at start) queue it once."""
    lock = f"sync:{name}"
    job = SourceSyncJob(timestamp=int(datetime.now(UTC).timestamp()), trigger=trigger, source=name)
    return await service.queue.defer_if_absent(JobKind.SOURCE_SYNC, job, queueing_lock=lock, lock=lock) is not None


async def queue_overdue_syncs(service: Service) -> list[str]:
    """Queue a sync of each source never synced, or not since its interval: the periodic jobs only fire on the next
    boundary, and a fresh deployment should not wait that long. Safe on every replica at once: a sync already
    waiting in the queue (its queueing lock) is not queued again. Returns the names of the sources queued."""
    status = await knowledge_status(service.sessions)
    last_started = {s.source: s.last_run.started_at for s in status.sources if s.last_run is not None}
    now = datetime.now(UTC)
    queued = []
    for config in service.settings.sources:
        started = last_started.get(config.name)
        if started is not None and now - started < timedelta(minutes=config.sync_interval_minutes):
            continue
        if await queue_source_sync(service, config.name, "catch-up"):
            queued.append(config.name)
    if queued:
        logger.info("queued syncs of %d overdue source(s): %s", len(queued), ", ".join(queued))
    return queued


def start_catch_up_sync(service: Service) -> asyncio.Task[list[str]]:
    """Run ``queue_overdue_syncs`` in the background, so the service answers at once; errors are logged."""
    return start_background(
        queue_overdue_syncs(service),
        name="knowledge-catch-up-sync",
        failure="queueing overdue knowledge syncs failed",
    )
