"""A large first sync in bulk-load mode ends with the same index a row-by-row sync builds, even after a crash."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from knowledge import Embedder, HybridRetriever, ReaderScope, SourceDocument, SyncConfig, SyncEngine
from knowledge.bulk_load import enter_bulk_load
from knowledge.vector_indexes import model_index_name
from tests.fakes.knowledge_sources import ListSource

TOPICS = ("vpn access", "payroll dates", "laptop refresh", "incident paging", "travel expenses")
QUERY = "how do I get vpn access"


def documents(source: str) -> list[SourceDocument]:
    return [
        SourceDocument(
            source=source,
            external_id=f"page-{index}",
            title=f"Guide {index}: {TOPICS[index % len(TOPICS)]}",
            url=f"https://wiki.example/{source}/page-{index}",
            content=f"## Overview\n\nAll about {TOPICS[index % len(TOPICS)]} for team {index}.\n\n"
            f"## Steps\n\nAsk the {TOPICS[(index + 1) % len(TOPICS)]} desk, then file ticket {index}.",
        )
        for index in range(40)
    ]


async def lexeme_stats(sessions: async_sessionmaker[AsyncSession], source: str) -> dict[str, int]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT lexeme, df FROM kb_lexeme_stats JOIN kb_sources s ON s.id = source_id "
                "WHERE s.name = :name AND df > 0"
            ),
            {"name": source},
        )
        return {row[0]: row[1] for row in rows}


async def indexes_present(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    names = ["kb_postings_pkey", "kb_postings_lexeme_impact_idx", model_index_name(1)]
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT relname FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid WHERE relname = ANY(:n)"),
            {"n": names},
        )
        return {row[0] for row in rows}


async def titles(retriever: HybridRetriever, source: str) -> list[str]:
    passages = await retriever.rank(QUERY, ReaderScope.single("U1"), limit=10, sources=(source,))
    return [passage.title for passage in passages]


@pytest.fixture(scope="module")
async def loaded(sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder) -> HybridRetriever:
    """The same pages synced twice: once in bulk mode (a low threshold), once row by row (an index already there)."""
    bulk = SyncEngine(sessions, offline_embedder, SyncConfig(batch_documents=4, bulk_load_after_chunks=10))
    messages: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("knowledge.bulk_load")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        summary = await bulk.sync(ListSource("bulk", documents("bulk")))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert summary.status == "succeeded"
    assert any("dropped" in message for message in messages), "the load never entered bulk mode"
    row_by_row = await SyncEngine(sessions, offline_embedder).sync(ListSource("plain", documents("plain")))
    assert row_by_row.status == "succeeded"
    return HybridRetriever(sessions, offline_embedder)


async def test_a_bulk_load_rebuilds_the_indexes_and_counts_the_same_frequencies(
    loaded: HybridRetriever, sessions: async_sessionmaker[AsyncSession]
) -> None:
    assert await indexes_present(sessions) == {"kb_postings_pkey", "kb_postings_lexeme_impact_idx", model_index_name(1)}
    bulk_stats = await lexeme_stats(sessions, "bulk")
    assert bulk_stats and bulk_stats == await lexeme_stats(sessions, "plain")
    bulk_titles = await titles(loaded, "bulk")
    assert bulk_titles and bulk_titles == await titles(loaded, "plain")
    assert "vpn access" in bulk_titles[0]


async def test_vectors_copied_in_binary_read_back_as_embedded(
    loaded: HybridRetriever, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT c.search_text, c.embedding::text, c.anchor IS NULL, c.minhash IS NOT NULL FROM kb_chunks c "
                    "JOIN kb_sources s ON s.id = c.source_id WHERE s.name = 'bulk' ORDER BY c.id LIMIT 8"
                )
            )
        ).all()
    assert len(rows) == 8
    expected = await offline_embedder.embed([row[0] for row in rows])
    for row, vector in zip(rows, expected, strict=True):
        stored = np.array(json.loads(row[1]), dtype=np.float32)
        assert stored.shape == (len(vector),)
        assert np.allclose(stored, np.asarray(vector, dtype=np.float32), atol=1e-6)
        assert row[3], "the MinHash signature went through the copy"


async def test_bulk_mode_is_entered_only_by_a_load_as_large_as_the_index(
    loaded: HybridRetriever,
    sessions: async_sessionmaker[AsyncSession],
    offline_embedder: Embedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = SyncConfig(batch_documents=4, bulk_load_after_chunks=10)
    with caplog.at_level(logging.INFO, logger="knowledge.bulk_load"):
        await SyncEngine(sessions, offline_embedder, config).sync(ListSource("small", documents("small")[:10]))

    assert not [record for record in caplog.records if "dropped" in record.getMessage()]
    assert await indexes_present(sessions) == {"kb_postings_pkey", "kb_postings_lexeme_impact_idx", model_index_name(1)}


async def test_the_next_sync_repairs_a_bulk_load_killed_before_its_end(
    loaded: HybridRetriever, sessions: async_sessionmaker[AsyncSession], offline_embedder: Embedder
) -> None:
    expected = await lexeme_stats(sessions, "bulk")
    async with sessions() as session:
        connection = await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        await enter_bulk_load(connection, 1)
        # What a load killed mid-way leaves: no indexes, and frequencies missing the batches written in bulk mode.
        await connection.execute(text("DELETE FROM kb_lexeme_stats WHERE lexeme IN ('vpn', 'payrol', 'laptop')"))

    summary = await SyncEngine(sessions, offline_embedder).sync(ListSource("bulk", documents("bulk")))

    assert summary.status == "succeeded" and summary.unchanged == 40
    assert await indexes_present(sessions) == {"kb_postings_pkey", "kb_postings_lexeme_impact_idx", model_index_name(1)}
    assert await lexeme_stats(sessions, "bulk") == expected
    assert await titles(loaded, "bulk") == await titles(loaded, "plain")
