"""The agent's PostgreSQL-backed memory: LangGraph's checkpointer (threads) and store (long-term memories).

Both share one psycopg pool in the mode LangGraph needs (autocommit, dict rows). ``setup()`` of each creates or
upgrades their own tables and is idempotent, so it runs at every service start: under the schema lock, with the
check for an embedding model change, so replicas starting together (after a model change, say) neither race on
LangGraph's tables nor resize and re-embed twice.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import psycopg
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.base import PutOp
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.postgres.base import PostgresIndexConfig
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from knowledge import (
    TRY_SCHEMA_LOCK_SQL,
    UNLOCK_SCHEMA_SQL,
    BackendPriority,
    Embedder,
    EmbeddingError,
    acquire_advisory_lock,
)

logger = logging.getLogger(__name__)

# Where the store records which embedding model made its vectors (a namespace no user's memories live in).
_MODEL_NAMESPACE = ("switchboard", "memory-index")
_MODEL_KEY = "embedding-model"
_PAGE = 500


@dataclass
class AgentPersistence:
    pool: AsyncConnectionPool
    checkpointer: AsyncPostgresSaver
    store: AsyncPostgresStore

    @classmethod
    async def open(
        cls,
        database_url: str,
        embedder: Embedder,
        *,
        max_connections: int = 5,
        backend_priority: BackendPriority | None = None,
    ) -> AgentPersistence:
        """Open the pool and prepare the checkpoint and memory tables.

        ``database_url`` is a plain ``postgresql://`` URL (TCP or ``?host=/socket/dir``); ``backend_priority``
        lowers each connection's backend (a job worker's).
        """
        pool: AsyncConnectionPool = AsyncConnectionPool(
            conninfo=database_url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
            configure=backend_priority.configure if backend_priority is not None else None,
            open=False,
        )
        await pool.open(wait=True)
        try:
            dimensions = await _dimensions(embedder)
            checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]

            async def embed(texts: Sequence[str]) -> list[list[float]]:
                return await embedder.embed(list(texts))

            store = AsyncPostgresStore(
                pool,  # type: ignore[arg-type]
                index=PostgresIndexConfig(dims=dimensions, embed=embed, fields=["text"]),
            )
            async with _schema_lock(database_url):
                await checkpointer.setup()
                await store.setup()
                reembedded = await _match_memory_vectors(store, pool, embedder.name, dimensions)
            if reembedded:
                logger.info("re-embedded %d long-term memories with %s", reembedded, embedder.name)
        except BaseException:
            await pool.close()
            raise
        logger.debug("agent checkpointer and memory store ready (%s, %d dims)", embedder.name, dimensions)
        return cls(pool=pool, checkpointer=checkpointer, store=store)

    async def aclose(self) -> None:
        await self.pool.close()


@asynccontextmanager
async def _schema_lock(database_url: str) -> AsyncIterator[None]:
    """Hold the schema lock on a connection of its own (the pool's are busy with the setup it guards)."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:

        async def try_lock() -> bool:
            row = await (await connection.execute(TRY_SCHEMA_LOCK_SQL)).fetchone()
            return bool(row and row[0])

        await acquire_advisory_lock(try_lock, purpose="preparing the agent's checkpoint and memory tables")
        try:
            yield
        finally:
            await connection.execute(UNLOCK_SCHEMA_SQL)


async def _dimensions(embedder: Embedder) -> int:
    """Some embedders learn their dimension from their first call; ask them once if so."""
    try:
        return embedder.dimensions
    except EmbeddingError:
        await embedder.embed(["dimension probe"])
        return embedder.dimensions


async def _match_memory_vectors(
    store: AsyncPostgresStore, pool: AsyncConnectionPool, model: str, dimensions: int
) -> int:
    """Re-embed every memory when the embedding model changed: vectors of two models must never be compared.

    Returns how many memories were re-embedded. An install from before this record existed is taken to match.
    """
    current = {"name": model, "dimensions": dimensions}
    recorded = await store.aget(_MODEL_NAMESPACE, _MODEL_KEY)
    if recorded is not None and recorded.value == current:
        return 0
    count = 0
    if recorded is not None:
        logger.warning("the embedding model changed (%s -> %s); re-embedding long-term memories", recorded.value, model)
        if recorded.value.get("dimensions") != dimensions:
            await _resize_vectors(pool, dimensions)
        count = await _reembed_memories(store)
    await store.aput(_MODEL_NAMESPACE, _MODEL_KEY, current, index=False)
    return count


async def _resize_vectors(pool: AsyncConnectionPool, dimensions: int) -> None:
    """Give LangGraph's vector table the new dimension; its old vectors go (every memory is re-embedded next).

    Runs under the schema lock. The vector index is rebuilt in the same transaction as the ``ALTER TABLE`` rather
    than concurrently: the table is empty at that point, so the build is instant, and the table is locked by the
    ``ALTER`` anyway; one transaction means no moment without the index and no half-built index left behind.
    """
    async with pool.connection() as connection, connection.transaction():
        # The pool hands out dict rows (LangGraph needs them).
        found: list[dict[str, str]] = await (  # type: ignore[assignment]
            await connection.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'store_vectors' AND indexdef ILIKE "
                "'%(embedding%'"
            )
        ).fetchall()
        for index in found:
            await connection.execute(f'DROP INDEX IF EXISTS "{index["indexname"]}"')
        await connection.execute("DELETE FROM store_vectors")
        await connection.execute(f"ALTER TABLE store_vectors ALTER COLUMN embedding TYPE vector({int(dimensions)})")
        for index in found:  # the same index LangGraph built, on the resized column
            await connection.execute(index["indexdef"])


async def _reembed_memories(store: AsyncPostgresStore) -> int:
    """Put every stored item back unchanged, so the store embeds it again with the current model."""
    count = 0
    for namespace in await store.alist_namespaces(limit=100_000):
        if namespace == _MODEL_NAMESPACE:
            continue
        offset = 0
        while items := await store.asearch(namespace, limit=_PAGE, offset=offset):
            await store.abatch([PutOp(item.namespace, item.key, item.value) for item in items])
            count += len(items)
            offset += len(items)
    return count
