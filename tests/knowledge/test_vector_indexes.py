"""A new embedding model's vector index: built concurrently, once, under the schema lock, and rebuilt if INVALID."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import (
    SCHEMA_LOCK_KEY,
    Embedder,
    SourceDocument,
    SyncEngine,
    create_engine,
    session_factory,
)
from tests.conftest import wait_for_schema_lock_attempt
from tests.fakes.knowledge_sources import CountingEmbedder, ListSource


def handbook(source: str) -> ListSource:
    return ListSource(
        source,
        [
            SourceDocument(
                source=source, external_id=key, title=key, url=f"https://handbook.example/{key}", content=body
            )
            for key, body in (("vpn", "# VPN\n\nInstall WireGuard."), ("laptops", "# Laptops\n\nEvery three years."))
        ],
    )


async def model_indexes(database_url: str, model: str) -> list[tuple[str, bool, str]]:
    """(name, valid, definition) of every index on kb_chunks for the named model."""
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        rows = await connection.execute(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN kb_embedding_models m ON c.relname = "
            "'kb_chunks_embedding_model_' || m.id || '_idx' WHERE m.name = %s",
            (model,),
        )
        return [(str(name), bool(valid), str(definition)) for name, valid, definition in await rows.fetchall()]


@pytest.fixture
async def second_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of a second engine: another replica's connection pool."""
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


async def test_two_first_syncs_with_a_new_model_both_succeed_and_build_one_index(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    second_sessions: async_sessionmaker[AsyncSession],
    offline_embedder: Embedder,
) -> None:
    model = "test/concurrent-first-sync"

    results = await asyncio.gather(
        SyncEngine(sessions, CountingEmbedder(offline_embedder, name=model)).sync(handbook("replica-a")),
        SyncEngine(second_sessions, CountingEmbedder(offline_embedder, name=model)).sync(handbook("replica-b")),
    )

    assert [(result.status, result.added) for result in results] == [("succeeded", 2), ("succeeded", 2)]
    indexes = await model_indexes(database_url, model)
    assert len(indexes) == 1 and indexes[0][1] and "USING hnsw" in indexes[0][2]


async def test_a_new_models_index_waits_for_the_schema_lock(
    database_url: str, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    model = "test/waits-for-migrations"
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as migrating:
        await migrating.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        sync = asyncio.create_task(
            SyncEngine(sessions, CountingEmbedder(offline_embedder, name=model)).sync(handbook("waiting"))
        )
        try:
            await wait_for_schema_lock_attempt(migrating)
            assert not sync.done()
            assert await model_indexes(database_url, model) == []
        finally:
            await migrating.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))
        summary = await sync

    assert summary.status == "succeeded"
    indexes = await model_indexes(database_url, model)
    assert len(indexes) == 1 and indexes[0][1]


async def test_an_invalid_index_left_by_a_crashed_build_is_dropped_and_rebuilt(
    database_url: str, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    model = "test/interrupted-build"
    embedder = CountingEmbedder(offline_embedder, name=model)
    await SyncEngine(sessions, embedder).sync(handbook("invalid"))
    [(name, _, _)] = await model_indexes(database_url, model)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as connection:
        await connection.execute(f"DROP INDEX {name}")
        # A concurrent build that fails (here: duplicates under a unique index) leaves its INVALID index behind.
        with pytest.raises(psycopg.errors.UniqueViolation):
            await connection.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON kb_chunks (source_id)")
    assert [valid for _, valid, _ in await model_indexes(database_url, model)] == [False]

    summary = await SyncEngine(sessions, embedder).sync(handbook("invalid"))

    assert summary.status == "succeeded"
    [(_, valid, definition)] = await model_indexes(database_url, model)
    assert valid and "USING hnsw" in definition
