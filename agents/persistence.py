"""The agent's PostgreSQL-backed memory: LangGraph's checkpointer (threads) and store (long-term memories).

Both share one psycopg pool in the mode LangGraph needs (autocommit, dict rows). ``setup()`` of each creates or
upgrades their own tables and is idempotent, so it runs at every service start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph.store.postgres.base import PostgresIndexConfig
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from knowledge import Embedder, EmbeddingError

logger = logging.getLogger(__name__)


@dataclass
class AgentPersistence:
    pool: AsyncConnectionPool
    checkpointer: AsyncPostgresSaver
    store: AsyncPostgresStore

    @classmethod
    async def open(cls, database_url: str, embedder: Embedder, *, max_connections: int = 5) -> AgentPersistence:
        """Open the pool and prepare the checkpoint and memory tables.

        ``database_url`` is a plain ``postgresql://`` URL (TCP or ``?host=/socket/dir``).
        """
        pool: AsyncConnectionPool = AsyncConnectionPool(
            conninfo=database_url,
            min_size=1,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
            open=False,
        )
        await pool.open(wait=True)
        try:
            dimensions = await _dimensions(embedder)
            checkpointer = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
            await checkpointer.setup()

            async def embed(texts: Sequence[str]) -> list[list[float]]:
                return await embedder.embed(list(texts))

            store = AsyncPostgresStore(
                pool,  # type: ignore[arg-type]
                index=PostgresIndexConfig(dims=dimensions, embed=embed, fields=["text"]),
            )
            await store.setup()
        except BaseException:
            await pool.close()
            raise
        logger.debug("agent checkpointer and memory store ready (%s, %d dims)", embedder.name, dimensions)
        return cls(pool=pool, checkpointer=checkpointer, store=store)

    async def aclose(self) -> None:
        await self.pool.close()


async def _dimensions(embedder: Embedder) -> int:
    """Some embedders learn their dimension from their first call; ask them once if so."""
    try:
        return embedder.dimensions
    except EmbeddingError:
        await embedder.embed(["dimension probe"])
        return embedder.dimensions
