"""Housekeeping for the index tables after bulk loads.

Autovacuum gets to the index tables eventually; calling this right after a large first sync makes queries fast at
once: fresh planner statistics, and a visibility map so postings are read by index-only scans.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

INDEX_TABLES = ("kb_chunks", "kb_postings", "kb_lexeme_stats", "kb_documents")


async def analyze_index(session: AsyncSession) -> None:
    """Refresh planner statistics of the index tables (fine inside a transaction)."""
    await session.execute(text("ANALYZE " + ", ".join(INDEX_TABLES)))


async def vacuum_index(engine: AsyncEngine) -> None:
    """VACUUM ANALYZE the index tables; needs its own connection because VACUUM cannot run in a transaction."""
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("VACUUM (ANALYZE) " + ", ".join(INDEX_TABLES)))
