"""Each embedding model's HNSW index on ``kb_chunks``, built without stopping writes.

A model gets its index the first time it is used, which can be long after the migrations ran, on a table that
other syncs are writing to. So the index is built with ``CREATE INDEX CONCURRENTLY`` (writes go on while it
builds; it cannot run inside a transaction, hence the autocommit connection) under the schema lock (two replicas
that see a new model at once build it once, and never while migrations run). A concurrent build that crashed or
was cancelled leaves an INVALID index behind, which PostgreSQL never uses but keeps updating; it is dropped and
built again.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from knowledge.advisory_locks import holding_schema_lock
from knowledge.index_tables import indexed_embedding

logger = logging.getLogger(__name__)

# pgvector's defaults. A denser graph (32, 128) reached better vector-only recall before hybrid search gave every
# keyword candidate its exact similarity, but took about four times as long to build: at 100,000 passages the
# build was most of a first sync (bench/RESULTS.md, issue #20). Hybrid recall rests on the keyword candidates.
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

_INDEX_VALIDITY = text("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(:name)")


def model_index_name(model_id: int) -> str:
    return f"kb_chunks_embedding_model_{int(model_id)}_idx"


async def ensure_model_index(connection: AsyncConnection, model_id: int, dimensions: int) -> bool:
    """Make sure model ``model_id``'s index exists and is valid; returns whether it had to be built.

    ``connection`` must be in AUTOCOMMIT mode. Cheap when the index is there: one catalog lookup, no lock.
    """
    name = model_index_name(model_id)
    if await connection.scalar(_INDEX_VALIDITY, {"name": name}):
        return False
    async with holding_schema_lock(connection, purpose=f"building {name}"):
        valid = await connection.scalar(_INDEX_VALIDITY, {"name": name})
        if valid:  # another process built it while this one waited
            return False
        if valid is not None:
            logger.warning("index %s is INVALID (an interrupted concurrent build); dropping and rebuilding it", name)
            await connection.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        await _create(connection, name, model_id, dimensions, concurrently=True)
    return True


async def drop_model_index(connection: AsyncConnection, model_id: int) -> None:
    """Drop model ``model_id``'s index (a bulk load builds it again at its end). AUTOCOMMIT connection."""
    await connection.execute(text(f"DROP INDEX IF EXISTS {model_index_name(model_id)}"))


async def build_model_index(
    connection: AsyncConnection, model_id: int, dimensions: int, *, concurrently: bool, memory: str
) -> None:
    """Build model ``model_id``'s index if it is missing, with ``memory`` as ``maintenance_work_mem``.

    Without ``concurrently`` the build blocks other writers of ``kb_chunks`` (never readers) and is faster; the end of
    a bulk load uses it. The graph is built in memory when it fits (``memory``), far faster than on disk.
    """
    name = model_index_name(model_id)
    async with holding_schema_lock(connection, purpose=f"building {name}"):
        if await connection.scalar(_INDEX_VALIDITY, {"name": name}):
            return
        await connection.execute(text(f"DROP INDEX IF EXISTS {name}"))
        await connection.execute(text("SELECT set_config('maintenance_work_mem', :memory, false)"), {"memory": memory})
        try:
            await _create(connection, name, model_id, dimensions, concurrently=concurrently)
        finally:
            await connection.execute(text("RESET maintenance_work_mem"))


async def _create(
    connection: AsyncConnection, name: str, model_id: int, dimensions: int, *, concurrently: bool
) -> None:
    began = time.perf_counter()
    # Model id and dimension are integers from the database, safe to place in DDL (which takes no parameters).
    await connection.execute(
        text(
            f"CREATE INDEX {'CONCURRENTLY ' if concurrently else ''}{name} ON kb_chunks "
            f"USING hnsw (({indexed_embedding(dimensions)}) halfvec_cosine_ops) "
            f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE model_id = {int(model_id)}"
        )
    )
    logger.info("built %s in %.1f s", name, time.perf_counter() - began)
