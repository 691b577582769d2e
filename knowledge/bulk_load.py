"""Bulk-load mode for a large first sync: stop maintaining the search indexes row by row, build them once at the end.

A first sync of a big source into a (nearly) empty index spent most of its time in PostgreSQL keeping the model's
HNSW graph, the postings' B-trees and the per-lexeme document frequencies up to date for every batch. Building
them once after the load is several times cheaper (bench/RESULTS.md, "First sync at scale"). So once a run has
written ``SyncConfig.bulk_load_after_chunks`` chunks *and* at least as many as the index held when it began (so the
rebuild costs no more than maintaining them would have), the sync engine enters bulk mode:

* the model's HNSW index and the postings' two B-trees are dropped (searches meanwhile still answer correctly,
  through exact scans, just slower: only while the first big load runs);
* batches write postings without touching ``kb_lexeme_stats``;
* at the end of the run, whatever its outcome, the source's document frequencies are recounted from its postings
  and the indexes are built again (with a generous ``maintenance_work_mem``, the HNSW graph in memory).

A process killed in bulk mode leaves indexes missing; ``restore_after_interrupted_bulk_load`` runs at the start of
every sync, finds that and repairs it (recounting every source's frequencies, since it cannot tell whose load died).
The DDL runs under the schema lock, so two syncs never drop or build the same index at once.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from knowledge.advisory_locks import holding_schema_lock
from knowledge.vector_indexes import build_model_index, drop_model_index

logger = logging.getLogger(__name__)

# Memory for one index build: the HNSW graph of a million 256-dimension passages fits; only used while building.
BUILD_MEMORY = "4GB"

_POSTINGS_PKEY = "kb_postings_pkey"
_POSTINGS_LEXEME_INDEX = "kb_postings_lexeme_impact_idx"
_CREATE_POSTINGS_LEXEME_INDEX = (
    f"CREATE INDEX IF NOT EXISTS {_POSTINGS_LEXEME_INDEX} ON kb_postings "
    "(lexeme, impact DESC) INCLUDE (chunk_id, tf, chunk_length, is_public, source_id)"
)
_HAS_POSTINGS_PKEY = text(f"SELECT to_regclass('{_POSTINGS_PKEY}') IS NOT NULL")
_HAS_POSTINGS_LEXEME_INDEX = text(f"SELECT to_regclass('{_POSTINGS_LEXEME_INDEX}') IS NOT NULL")

_DELETE_LEXEME_STATS = text("DELETE FROM kb_lexeme_stats WHERE source_id = :source_id")
_COUNT_LEXEME_STATS = text(
    """
    INSERT INTO kb_lexeme_stats (lexeme, source_id, df)
    SELECT lexeme, :source_id, count(*) FROM kb_postings WHERE source_id = :source_id GROUP BY lexeme
    """
)


def should_enter(written_chunks: int, chunks_at_start: int, threshold: int) -> bool:
    """Whether a run that has written ``written_chunks`` so far is a large load relative to the index it found."""
    return written_chunks >= threshold and written_chunks >= chunks_at_start


async def estimated_chunks(connection: AsyncConnection) -> int:
    """The planner's estimate of ``kb_chunks``' size: free (no scan), and close enough to compare with a load."""
    estimate = await connection.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'kb_chunks'::regclass"))
    return max(int(estimate or 0), 0)


async def enter_bulk_load(connection: AsyncConnection, model_id: int) -> None:
    """Drop the indexes a bulk load would otherwise maintain row by row. ``connection`` must be AUTOCOMMIT."""
    async with holding_schema_lock(connection, purpose="entering bulk load"):
        await drop_model_index(connection, model_id)
        await connection.execute(text(f"DROP INDEX IF EXISTS {_POSTINGS_LEXEME_INDEX}"))
        await connection.execute(text(f"ALTER TABLE kb_postings DROP CONSTRAINT IF EXISTS {_POSTINGS_PKEY}"))
    logger.info("bulk load: search indexes dropped; they are built again when this sync ends")


async def recount_lexeme_stats(session: AsyncSession, source_id: int) -> None:
    """Recount a source's per-lexeme document frequencies from its postings, in the caller's transaction."""
    await session.execute(_DELETE_LEXEME_STATS, {"source_id": source_id})
    await session.execute(_COUNT_LEXEME_STATS, {"source_id": source_id})


async def finish_bulk_load(connection: AsyncConnection, model_id: int, dimensions: int) -> None:
    """Build the indexes ``enter_bulk_load`` dropped (after ``recount_lexeme_stats``). AUTOCOMMIT connection."""
    began = time.perf_counter()
    await _build_postings_indexes(connection)
    await build_model_index(connection, model_id, dimensions, concurrently=False, memory=BUILD_MEMORY)
    await connection.execute(text("ANALYZE kb_chunks, kb_postings, kb_lexeme_stats"))
    logger.info("bulk load: indexes built in %.1f s", time.perf_counter() - began)


async def restore_after_interrupted_bulk_load(connection: AsyncConnection, session: AsyncSession) -> bool:
    """Repair what a bulk load killed before its end left behind; returns whether anything was missing.

    ``connection`` is AUTOCOMMIT (for the index builds); ``session`` another one, for the recount's transaction.
    """
    if await connection.scalar(_HAS_POSTINGS_PKEY) and await connection.scalar(_HAS_POSTINGS_LEXEME_INDEX):
        return False
    logger.warning("an interrupted bulk load left the postings unindexed; recounting and rebuilding")
    async with session.begin():
        for source_id in (await session.execute(text("SELECT id FROM kb_sources ORDER BY id"))).scalars():
            await recount_lexeme_stats(session, source_id)
    await _build_postings_indexes(connection)
    return True


async def _build_postings_indexes(connection: AsyncConnection) -> None:
    async with holding_schema_lock(connection, purpose="building the postings indexes"):
        await connection.execute(
            text("SELECT set_config('maintenance_work_mem', :memory, false)"), {"memory": BUILD_MEMORY}
        )
        try:
            if not await connection.scalar(_HAS_POSTINGS_PKEY):
                await connection.execute(
                    text(f"ALTER TABLE kb_postings ADD CONSTRAINT {_POSTINGS_PKEY} PRIMARY KEY (chunk_id, lexeme)")
                )
            await connection.execute(text(_CREATE_POSTINGS_LEXEME_INDEX))
        finally:
            await connection.execute(text("RESET maintenance_work_mem"))
