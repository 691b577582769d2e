"""Syncing the config file's knowledge sources: one routine for `switchboard sync`, `/kb sync` and the scheduler."""

from __future__ import annotations

import logging
from datetime import datetime

from bot.scheduling import Scheduling
from bot.service import Service
from knowledge import ProgressCallback, SourceConfigBase, SyncSummary, create_source

logger = logging.getLogger(__name__)


async def sync_configured_source(
    service: Service, config: SourceConfigBase, *, full: bool = False, progress: ProgressCallback | None = None
) -> SyncSummary:
    """Build the source from its config, sync it into the index, and close it; concurrent syncs of one source
    are serialised by the engine's advisory lock."""
    source = create_source(config)
    try:
        summary = await service.sync_engine.sync(source, full=full, progress=progress)
    finally:
        await source.aclose()
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
