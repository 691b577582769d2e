"""Syncing the config file's knowledge sources: one routine for `switchboard sync`, `/kb sync` and the scheduler."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from bot.composition.background_tasks import start_background
from bot.composition.service import Service
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


def schedule_resyncs(service: Service, scheduling: Scheduling) -> None:
    """Re-sync each source every ``sync_interval_minutes``, each occurrence once across replicas.

    Register before the scheduler starts, so a re-sync missed while the service was down runs once at start.
    """
    for config in service.settings.sources:

        async def resync(fire_time: datetime, config: SourceConfigBase = config) -> SyncSummary:
            return await sync_configured_source(service, config)

        scheduling.scheduler.add_system_job(
            f"sync:{config.name}", resync, interval_seconds=config.sync_interval_minutes * 60
        )
        if isinstance(config, SaaSSourceConfig):

            async def repermission(
                fire_time: datetime, config: SourceConfigBase = config
            ) -> PermissionSyncSummary | None:
                return await sync_configured_permissions(service, config)

            scheduling.scheduler.add_system_job(
                f"permissions:{config.name}", repermission, interval_seconds=config.permission_sync_minutes * 60
            )


async def sync_overdue_sources(service: Service) -> list[SyncSummary]:
    """Sync each source never synced, or not since its interval: the periodic jobs only fire on the next boundary,
    and a fresh deployment should not wait that long. Safe on every replica at once: the engine serialises syncs
    of one source, and a second sync of an unchanged source costs one hash comparison per document."""
    status = await knowledge_status(service.sessions)
    last_started = {s.source: s.last_run.started_at for s in status.sources if s.last_run is not None}
    now = datetime.now(UTC)
    summaries = []
    for config in service.settings.sources:
        started = last_started.get(config.name)
        if started is not None and now - started < timedelta(minutes=config.sync_interval_minutes):
            continue
        summaries.append(await sync_configured_source(service, config))
    return summaries


def start_catch_up_sync(service: Service) -> asyncio.Task[list[SyncSummary]]:
    """Run ``sync_overdue_sources`` in the background, so the service answers while it syncs; errors are logged."""
    return start_background(
        sync_overdue_sources(service),
        name="knowledge-catch-up-sync",
        failure="catching up on overdue knowledge syncs failed",
    )
